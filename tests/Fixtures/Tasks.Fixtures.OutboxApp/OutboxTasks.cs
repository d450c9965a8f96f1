using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Tasks.Fixtures;

/// <summary>The tasks the outbox tests enqueue; their runs are counted by task id in the process that runs them.</summary>
public static partial class OutboxTasks
{
    public const string Queue = "outbox";

    public static readonly ConcurrentDictionary<string, int> Runs = new();

    public static readonly ConcurrentDictionary<string, string> Digests = new();

    [AsyncTask(Name = "outbox.ship", Queue = Queue)]
    public static Task Ship(CancellationToken cancellationToken, int orderId)
    {
        Runs.AddOrUpdate(TaskContext.Current!.MessageId, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }

    [AsyncTask(Name = "outbox.once", Queue = Queue, UniqueFor = "00:10:00")]
    public static Task Once(CancellationToken cancellationToken, string key)
    {
        Runs.AddOrUpdate(TaskContext.Current!.MessageId, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }

    [AsyncTask(Name = "outbox.digest", Queue = Queue)]
    public static Task Digest(CancellationToken cancellationToken, byte[] data)
    {
        Digests[TaskContext.Current!.MessageId] = Convert.ToHexString(SHA256.HashData(data));
        Runs.AddOrUpdate(TaskContext.Current!.MessageId, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}
