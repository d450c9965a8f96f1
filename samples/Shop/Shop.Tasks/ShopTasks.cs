using Microsoft.Extensions.Logging;
using Tasks;

namespace Shop.Tasks;

/// <summary>
/// Mail sent in the background, so a sign-up request does not wait for the mail server. The mail provider takes at most
/// 10 mails a second from this account: every mail task names its rate limit, which holds across every worker.
/// </summary>
public static partial class EmailTasks
{
    /// <summary>The mail provider's limit, shared by every task that sends mail.</summary>
    public const string MailProvider = "mail-provider";

    /// <summary>Sends the welcome mail to a new customer.</summary>
    /// <param name="cancellationToken">Fires when the worker stops or the task times out.</param>
    /// <param name="email">Where to send it.</param>
    [AsyncTask(Queue = "emails"), RateLimit(10, "00:00:01", Name = MailProvider)]
    public static async Task SendWelcome(CancellationToken cancellationToken, string email)
    {
        await Task.Delay(20, cancellationToken); // the mail server
        var context = TaskContext.Current!;
        Console.WriteLine($"Welcome mail sent to {email} (task {context.TaskName}, message {context.MessageId}, attempt {context.Attempt}) for tenant {Tenant.Current ?? "none"}");
    }

    /// <summary>Tells the customer the order has shipped: the last step of a checkout (charge, then ship, then this).</summary>
    /// <param name="cancellationToken">Fires when the worker stops or the task times out.</param>
    /// <param name="email">Where to send it.</param>
    /// <param name="orderId">The order.</param>
    [AsyncTask(Queue = "emails"), RateLimit(10, "00:00:01", Name = MailProvider)]
    public static async Task SendShipped(CancellationToken cancellationToken, string email, Guid orderId)
    {
        await Task.Delay(20, cancellationToken); // the mail server
        Console.WriteLine($"Shipping mail for order {orderId} sent to {email} (message {TaskContext.Current!.MessageId})");
    }
}

/// <summary>Payments: the first step of a checkout.</summary>
public static partial class PaymentTasks
{
    /// <summary>Charges the customer's card for an order.</summary>
    /// <param name="cancellationToken">Fires when the worker stops or the task times out.</param>
    /// <param name="orderId">The order.</param>
    /// <param name="amount">What to charge.</param>
    [AsyncTask(Queue = "orders")]
    public static async Task Charge(CancellationToken cancellationToken, Guid orderId, decimal amount)
    {
        await Task.Delay(20, cancellationToken); // the payment provider
        Console.WriteLine($"Order {orderId} charged {amount:0.00} (message {TaskContext.Current!.MessageId})");
    }
}

/// <summary>Invoices: unique per order, so a double-clicked button sends one.</summary>
public static partial class InvoiceTasks
{
    /// <summary>Mails the invoice of an order. While one is enqueued or running (for up to ten minutes), enqueueing it again returns its id and sends nothing.</summary>
    /// <param name="cancellationToken">Fires when the worker stops, the task times out, or it is cancelled by id.</param>
    /// <param name="orderId">The order.</param>
    [AsyncTask(Queue = "emails", UniqueFor = "00:10:00"), RateLimit(10, "00:00:01", Name = EmailTasks.MailProvider)]
    public static async Task SendInvoice(CancellationToken cancellationToken, Guid orderId)
    {
        await Task.Delay(20, cancellationToken); // the mail server
        Console.WriteLine($"Invoice for order {orderId} sent (message {TaskContext.Current!.MessageId})");
    }
}

/// <summary>Month-end billing: one run per customer at a time, whichever worker takes it.</summary>
public static partial class BillingTasks
{
    /// <summary>
    /// Bills a customer's month. Two runs for one customer at once would bill twice: the limit keyed by the customer
    /// lets one run at a time across every worker, and the others wait in the queue without using an attempt.
    /// Renaming <paramref name="customerId"/> renames the key (nameof); a key naming no parameter does not compile.
    /// </summary>
    /// <param name="cancellationToken">Fires when the worker stops or the task times out.</param>
    /// <param name="customerId">The customer: the key of the limit.</param>
    /// <param name="month">The month, as 2026-11.</param>
    [AsyncTask(Queue = "orders"), ConcurrencyLimit(1, Key = nameof(customerId))]
    public static async Task BillMonth(CancellationToken cancellationToken, string customerId, string month)
    {
        await Task.Delay(500, cancellationToken); // the ledger
        Console.WriteLine($"Customer {customerId} billed for {month} (message {TaskContext.Current!.MessageId})");
    }
}

/// <summary>The carrier's booking desk: a task that fails until something outside it changes, as real ones do.</summary>
public static partial class CarrierTasks
{
    /// <summary>
    /// Books the carrier's pickup of an order. The carrier refuses bookings before its desk opens:
    /// that is no fault a retry fixes, so the task is dead-lettered at once; once the desk is open, an
    /// operator requeues it (from the dashboard, the CLI, or ITaskDeadLetters) and it succeeds.
    /// </summary>
    /// <param name="cancellationToken">Fires when the worker stops or the task times out.</param>
    /// <param name="orderId">The order.</param>
    /// <param name="deskOpensAt">When the carrier starts taking bookings.</param>
    [AsyncTask(Queue = "orders")]
    public static Task BookPickup(CancellationToken cancellationToken, Guid orderId, DateTimeOffset deskOpensAt)
    {
        if (DateTimeOffset.UtcNow < deskOpensAt)
            throw new PermanentTaskException($"The carrier's desk is closed until {deskOpensAt:HH:mm:ss} UTC: requeue the booking of order {orderId} then.");
        Console.WriteLine($"Pickup of order {orderId} booked (message {TaskContext.Current!.MessageId})");
        return Task.CompletedTask;
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

    /// <summary>
    /// Imports a catalog file sent whole as the argument. A file larger than a queue message (48 KiB) travels in a
    /// blob: the message carries a reference, the worker fetches and checks it, and deletes it once this succeeded.
    /// </summary>
    /// <param name="cancellationToken">Fires when the worker stops or the task times out.</param>
    /// <param name="fileName">The file's name, for the log.</param>
    /// <param name="contents">The file's bytes: up to 64 MiB (AzureQueueOptions.MaxEnvelopeBytes).</param>
    [AsyncTask(Queue = "orders")]
    public Task ImportCatalog(CancellationToken cancellationToken, string fileName, byte[] contents)
    {
        var lines = contents.AsSpan().Count((byte)'\n');
        logger.LogInformation("Catalog {FileName} imported: {Bytes} bytes, {Lines} lines (message {MessageId})", fileName, contents.Length, lines, TaskContext.Current!.MessageId);
        return Task.CompletedTask;
    }

    /// <summary>Imports a stock file, row by row: a long task that reports its progress (GET /tasks/{id} shows it) and stops when cancelled.</summary>
    /// <param name="cancellationToken">Fires when the worker stops, the task times out, or it is cancelled by id (POST /tasks/{id}/cancel).</param>
    /// <param name="rows">How many rows the file has.</param>
    [AsyncTask(Queue = "orders", Timeout = "01:00:00")]
    public async Task ImportStock(CancellationToken cancellationToken, int rows)
    {
        var context = TaskContext.Current!;
        for (var row = 1; row <= rows; row++)
        {
            await Task.Delay(100, cancellationToken); // one row
            // Costs nothing here: the worker writes the latest value about once a second.
            await context.ReportProgressAsync((double)row / rows, $"row {row} of {rows}");
        }

        logger.LogInformation("Stock import of {Rows} rows done (message {MessageId})", rows, context.MessageId);
    }
}
