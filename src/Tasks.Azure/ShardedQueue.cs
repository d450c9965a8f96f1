using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Azure.Storage.Queues;

namespace Tasks.Azure;

/// <summary>One storage account that holds shards; 0 is the main one.</summary>
internal sealed record ShardAccount(int Index, QueueAccount Queues)
{
    public QueueServiceClient Service => Queues.Service;

    public string Endpoint => Queues.Endpoint;

    public StorageServiceGuard Guard => Queues.Guard;
}

/// <summary>One Azure queue of a sharded queue.</summary>
internal sealed class QueueShard(ShardAccount account, string name, bool written)
{
    private long restsUntilTicks;

    public ShardAccount Account => account;

    public string Name => name;

    /// <summary>What a worker's logs name it by: the queue and its account.</summary>
    public string Id { get; } = $"{name} at {account.Endpoint}";

    /// <summary>Sent to (in the configured count); otherwise found by listing, only drained.</summary>
    public bool Written => written;

    public QueueClient Client { get; } = account.Service.GetQueueClient(name);

    public bool Created { get; set; }

    /// <summary>What the queue is created with: shard 0's says the count.</summary>
    public IDictionary<string, string>? Metadata { get; set; }

    public bool IsResting(TimeProvider time) => time.GetUtcNow().UtcTicks < Volatile.Read(ref restsUntilTicks);

    public void Rest(TimeProvider time, TimeSpan period) => Volatile.Write(ref restsUntilTicks, (time.GetUtcNow() + period).UtcTicks);
}

/// <summary>A task queue's shards: those written now, and every one received (those plus any found).</summary>
internal sealed class ShardedQueue(string name, QueueShard[] writers)
{
    private int nextWriter = -1;
    private int nextReader = -1;
    private long typicalSendTicks;

    /// <summary>Shard 0's Azure name, the others' stem.</summary>
    public string Name => name;

    public QueueShard[] Writers => writers;

    public ConcurrentDictionary<string, QueueShard> Readers { get; } = new(writers.Select(s => KeyValuePair.Create(s.Id, s)), StringComparer.Ordinal);

    public DateTimeOffset DiscoverAfter { get; set; }

    /// <summary>
    /// How long a send may take before it goes to another shard: <paramref name="floor"/>, or 4 × the typical
    /// answered send if that is longer. When every shard is slow (a loaded account), sending again elsewhere
    /// only adds load and a duplicate; a shard that stopped answering while the others are quick is left at the floor.
    /// </summary>
    public TimeSpan SendBound(TimeSpan floor) => TimeSpan.FromTicks(Math.Max(floor.Ticks, 4 * Volatile.Read(ref typicalSendTicks)));

    /// <summary>Moves the typical send 1/8 of the way to <paramref name="took"/> (a race loses an update, no more).</summary>
    public void Answered(TimeSpan took)
    {
        var typical = Volatile.Read(ref typicalSendTicks);
        Volatile.Write(ref typicalSendTicks, typical + (took.Ticks - typical) / 8);
    }

    public int NextWriter() => (int)((uint)Interlocked.Increment(ref nextWriter) % (uint)writers.Length);

    public int NextReader() => (int)((uint)Interlocked.Increment(ref nextReader) % (uint)Math.Max(1, Readers.Count));

    /// <summary>Whether <paramref name="name"/> is shard k of <paramref name="baseName"/>: <c>baseName-k</c>.</summary>
    public static bool IsShardName(string baseName, string name)
        => name.Length > baseName.Length + 1 && name.StartsWith(baseName, StringComparison.Ordinal) && name[baseName.Length] == '-'
           && name.AsSpan(baseName.Length + 1).IndexOfAnyExceptInRange('0', '9') < 0;
}
