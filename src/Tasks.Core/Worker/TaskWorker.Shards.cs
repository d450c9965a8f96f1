using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Sharded queues: a receive loop per shard, so a slow or silent shard holds up no other, each backing
/// off on its own when empty. The shards are asked for again now and then, so loops start for shards
/// that appear (an earlier count's, still holding messages) and stop for shards that went.
/// </summary>
public sealed partial class TaskWorker
{
    private async Task ReceiveQueueAsync(string queue, SemaphoreSlim? queueSlot)
    {
        var stopping = stopReceiving.Token;
        if (transport is not IShardedTaskTransport sharded)
        {
            await ReceiveLoopAsync(queue, null, queueSlot, options.BatchSize, stopping).ConfigureAwait(false);
            return;
        }

        var loops = new Dictionary<string, (Task Loop, CancellationTokenSource Stop)>(StringComparer.Ordinal);
        var retired = new List<(Task Loop, CancellationTokenSource Stop)>(); // loops of shards that went, stopping: awaited at the end too
        var failures = 0;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                var wait = sharded.ShardCheckInterval;
                try
                {
                    var shards = await sharded.GetReceiveShardsAsync(queue, stopping).ConfigureAwait(false);
                    if (shards.Count == 0 && loops.Count == 0)
                    {
                        // Not sharded: one loop on the queue, as on any transport.
                        await ReceiveLoopAsync(queue, null, queueSlot, options.BatchSize, stopping).ConfigureAwait(false);
                        return;
                    }

                    var changed = false;
                    foreach (var gone in loops.Keys.Except(shards).ToArray())
                    {
                        loops[gone].Stop.Cancel();
                        retired.Add(loops[gone]);
                        loops.Remove(gone);
                        changed = true;
                    }

                    foreach (var ended in retired.Where(l => l.Loop.IsCompleted).ToArray())
                    {
                        ended.Stop.Dispose();
                        retired.Remove(ended);
                    }

                    // Each shard's loop takes its share of the slots at most, so a shard that stops answering holds no more.
                    var share = Math.Clamp((options.MaxConcurrencyPerQueue ?? options.MaxConcurrency) / shards.Count, 1, options.BatchSize);
                    foreach (var shard in shards.Where(s => !loops.ContainsKey(s)))
                    {
                        var stop = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                        loops[shard] = (Task.Run(() => ReceiveLoopAsync(queue, shard, queueSlot, share, stop.Token), CancellationToken.None), stop);
                        changed = true;
                    }

                    if (changed) Log.ReceivingShards(logger, queue, loops.Count, share, string.Join(", ", loops.Keys));
                    failures = 0;
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    break;
                }
                catch (TaskTransportException ex) when (!ex.IsTransient)
                {
                    Fault(ex, queue);
                    break;
                }
                catch (Exception ex)
                {
                    // The loops already running go on; the shards are asked for again sooner.
                    wait = PollingDelay(failures++);
                    Log.ReceiveFailed(logger, ex, queue, wait);
                }

                try
                {
                    await Task.Delay(wait, time, stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        finally
        {
            var all = loops.Values.Concat(retired).ToArray();
            await Task.WhenAll(all.Select(l => l.Loop)).ConfigureAwait(false);
            foreach (var (_, stop) in all) stop.Dispose();
        }
    }
}
