using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks.Transports;

/// <summary>
/// A transport that may spread one task queue over several physical queues (shards), past what one
/// of them can take. A worker receives from each shard in a loop of its own, so no shard waits on
/// another and one that stops answering holds up no other; a sender spreads messages over them.
/// </summary>
public interface IShardedTaskTransport : ITaskTransport
{
    /// <summary>
    /// How often a worker asks <see cref="GetReceiveShardsAsync"/> again, to find shards that appeared or went.
    /// Asking is meant to be cheap: the transport decides when to look again.
    /// </summary>
    TimeSpan ShardCheckInterval { get; }

    /// <summary>
    /// The shards to receive <paramref name="queue"/> from now: those written and any left by an earlier
    /// layout that may still hold messages. Empty if the queue is not sharded: receive it with
    /// <see cref="ITaskTransport.ReceiveAsync"/> then.
    /// </summary>
    ValueTask<IReadOnlyList<string>> GetReceiveShardsAsync(string queue, CancellationToken cancellationToken);

    /// <summary>Receives from one shard of <paramref name="queue"/>, as <see cref="ITaskTransport.ReceiveAsync"/> does from a queue. A shard that went returns nothing.</summary>
    ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, string shard, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken);
}
