using Microsoft.Extensions.Logging;
using Tasks;

namespace Shop.Tasks;

/// <summary>Mail sent in the background, so a sign-up request does not wait for the mail server.</summary>
public static partial class EmailTasks
{
    /// <summary>Sends the welcome mail to a new customer.</summary>
    /// <param name="cancellationToken">Fires when the worker stops or the task times out.</param>
    /// <param name="email">Where to send it.</param>
    [AsyncTask(Queue = "emails")]
    public static async Task SendWelcome(CancellationToken cancellationToken, string email)
    {
        await Task.Delay(20, cancellationToken); // the mail server
        var context = TaskContext.Current!;
        Console.WriteLine($"Welcome mail sent to {email} (task {context.TaskName}, message {context.MessageId}, attempt {context.Attempt})");
    }
}

/// <summary>An order to ship. New members go at the end, with a default value, so queued messages still read.</summary>
/// <param name="OrderId">The order.</param>
/// <param name="Items">How many items it has.</param>
/// <param name="Carrier">Who carries it.</param>
public sealed record Shipment(Guid OrderId, int Items, string Carrier = "post");

/// <summary>Order work: an instance-method task, so the worker creates the class from DI, one scope per run.</summary>
/// <param name="logger">Injected by the worker's container.</param>
public sealed partial class OrderTasks(ILogger<OrderTasks> logger)
{
    /// <summary>Books the shipment of an order.</summary>
    /// <param name="cancellationToken">Fires when the worker stops or the task times out.</param>
    /// <param name="shipment">What to ship: a plain record, which travels with no attribute.</param>
    [AsyncTask(Queue = "orders")]
    public Task Ship(CancellationToken cancellationToken, Shipment shipment)
    {
        // Tasks run at least once: key side effects on the message id to make them idempotent.
        var context = TaskContext.Current!;
        logger.LogInformation("Order {OrderId} shipped with {Items} item(s) by {Carrier} (task {TaskName}, message {MessageId}, attempt {Attempt})",
            shipment.OrderId, shipment.Items, shipment.Carrier, context.TaskName, context.MessageId, context.Attempt);
        return Task.CompletedTask;
    }
}

/// <summary>Work on a schedule: every worker that serves the "orders" queue keeps it, and each occurrence runs once.</summary>
/// <param name="logger">Injected by the worker's container.</param>
public sealed partial class StockTasks(ILogger<StockTasks> logger)
{
    /// <summary>Reports the stock. Every 10 seconds so you see it run; a nightly report would be "0 2 * * *".</summary>
    /// <param name="cancellationToken">Fires when the worker stops or the task times out.</param>
    [AsyncTask(Queue = "orders"), Recurring("*/10 * * * * *", TimeZone = "Europe/Paris")]
    public Task ReportStock(CancellationToken cancellationToken)
    {
        logger.LogInformation("Stock report written (message {MessageId})", TaskContext.Current!.MessageId);
        return Task.CompletedTask;
    }
}
