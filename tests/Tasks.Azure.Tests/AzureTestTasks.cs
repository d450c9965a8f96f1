using System.Collections.Concurrent;
namespace Tasks.Azure.Tests;

/// <summary>A plain record, with no attribute: it travels by the formatter the generator writes.</summary>
public sealed record Payload(string Name, List<int> Values, Guid? Owner);

public static partial class AzureTasks
{
    public const string Queue = "work";

    public static readonly ConcurrentDictionary<Guid, object?[]> Captured = new();
    public static readonly ConcurrentDictionary<string, ConcurrentDictionary<int, int>> Counts = new();

    [AsyncTask(Queue = Queue, MaxAttempts = 3)]
    public static Task Run(CancellationToken cancellationToken, string scriptId) => Scripts.Run(scriptId, cancellationToken);

    [AsyncTask(Queue = Queue)]
    public static Task Capture(CancellationToken cancellationToken, Guid key, string text, int[] numbers, Dictionary<string, DateTimeOffset> stamps, Payload payload, byte[] blob)
    {
        Captured[key] = [text, numbers, stamps, payload, blob];
        return Task.CompletedTask;
    }

    [AsyncTask(Queue = Queue)]
    public static Task Count(CancellationToken cancellationToken, string run, int number)
    {
        Counts.GetOrAdd(run, _ => new()).AddOrUpdate(number, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }

    [AsyncTask(Queue = Queue)]
    public static Task Store(CancellationToken cancellationToken, byte[] data) => Task.CompletedTask;

    [AsyncTask(Queue = Queue, MaxAttempts = 3)]
    public static Task Take(CancellationToken cancellationToken, string scriptId, byte[] data, string text) => Scripts.Run(scriptId, cancellationToken, data, text);
}

/// <summary>A recurring task on a queue of its own, so only the tests that serve it keep its schedule.</summary>
public static partial class AzureRecurringTasks
{
    public const string Queue = "recurring";

    public static readonly ConcurrentQueue<string> Runs = new();

    [AsyncTask(Queue = Queue), Recurring("* * * * * *")]
    public static Task EverySecond(CancellationToken cancellationToken)
    {
        Runs.Enqueue(TaskContext.Current!.MessageId);
        return Task.CompletedTask;
    }
}

/// <summary>Tasks whose records the Azure record tests read, on a queue of their own.</summary>
public static partial class AzureRecordedTasks
{
    public const string Queue = "recorded";

    [AsyncTask(Queue = Queue, MaxAttempts = 2, RetryDelay = "00:00:01")]
    public static Task Run(CancellationToken cancellationToken, string scriptId, Payload payload) => Scripts.Run(scriptId, cancellationToken, payload);
}
