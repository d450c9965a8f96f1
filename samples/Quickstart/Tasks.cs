using Tasks;

namespace Quickstart;

/// <summary>A plain record: it travels with no attribute (the generator writes its formatter).</summary>
public sealed record Report(string Title, int[] Figures);

public static partial class DemoTasks
{
    /// <summary>Greets someone: succeeds on the first attempt.</summary>
    [AsyncTask]
    public static async Task Greet(CancellationToken cancellationToken, string name, int times)
    {
        await Task.Delay(10, cancellationToken);
        Console.WriteLine($"  Greet: hello, {name} (x{times})");
    }

    /// <summary>Builds a report: its first attempt fails (a flaky dependency), the retry succeeds.</summary>
    [AsyncTask(Queue = "reports")]
    public static Task BuildReport(CancellationToken cancellationToken, Report report)
    {
        var context = TaskContext.Current!;
        if (context.Attempt == 1)
            throw new TimeoutException("the figures service timed out");
        Console.WriteLine($"  BuildReport: '{report.Title}' totals {report.Figures.Sum()} on attempt {context.Attempt}");
        return Task.CompletedTask;
    }

    /// <summary>Charges a card: the card is declined, and retrying cannot help.</summary>
    [AsyncTask(Name = "billing.charge", MaxAttempts = 3)]
    public static Task Charge(CancellationToken cancellationToken, Guid customerId, decimal amount)
        => throw new PermanentTaskException($"card of customer {customerId} declined for {amount:0.00}");
}
