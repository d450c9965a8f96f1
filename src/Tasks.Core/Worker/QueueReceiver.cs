using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>
/// Receives one queue: one loop on the queue, or one per shard on a sharded queue (so a slow or silent shard holds up
/// no other; the shards are asked for again now and then, and loops start and stop as shards appear and go). Each
/// loop holds a concurrency slot for every message before it is leased, hands each message on, backs off when the
/// queue is empty or a receive fails, and waits while the queue is paused.
/// </summary>
internal sealed class QueueReceiver(
    string queue,
    QueueSlots slots,
    ITaskTransport transport,
    TaskWorkerOptions options,
    ReceiveHealth health,
    QueuePauses pauses,
    Action<ReceivedTaskMessage, QueueSlots> handOn,
    Action<TaskTransportException, string> fault,
    ILogger logger,
    TimeProvider time)
{
    private readonly IShardedTaskTransport? sharded = transport as IShardedTaskTransport;

    /// <summary>Receives until <paramref name="stopping"/> fires or a fault no retry can fix; returns once every loop has ended.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        if (sharded is null)
        {
            await ReceiveLoopAsync(null, options.BatchSize, stopping).ConfigureAwait(false);
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
                        await ReceiveLoopAsync(null, options.BatchSize, stopping).ConfigureAwait(false);
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
                        loops[shard] = (Task.Run(() => ReceiveLoopAsync(shard, share, stop.Token), CancellationToken.None), stop);
                        changed = true;
                    }

                    if (changed) WorkerLog.ReceivingShards(logger, queue, loops.Count, share, string.Join(", ", loops.Keys));
                    failures = 0;
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    break;
                }
                catch (TaskTransportException ex) when (!ex.IsTransient)
                {
                    fault(ex, queue);
                    break;
                }
                catch (Exception ex)
                {
                    // The loops already running go on; the shards are asked for again sooner.
                    wait = PollingDelay(failures++);
                    WorkerLog.ReceiveFailed(logger, ex, queue, wait);
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

    /// <param name="shard">One of the queue's shards; null to receive the queue.</param>
    /// <param name="batch">The most messages one receive takes (a shard's share of the slots).</param>
    /// <param name="stopping">Stops the loop: the worker's stop, or the shard's going.</param>
    private async Task ReceiveLoopAsync(string? shard, int batch, CancellationToken stopping)
    {
        var source = shard is null ? queue : $"{queue} ({shard})";
        var idlePolls = 0;
        var failed = false;
        var failures = new FailureStreak(
            time,
            (ex, wait) => WorkerLog.ReceiveFailed(logger, ex, source, wait),
            (count, duration, problem) => WorkerLog.ReceiveStillFailing(logger, source, count, duration, problem),
            (count, duration) => WorkerLog.ReceivingAgain(logger, source, count, duration));
        while (!stopping.IsCancellationRequested)
        {
            var held = 0;
            try
            {
                // A paused queue is not received from, and holds no slot, until it is resumed.
                if (pauses.IsPaused(queue))
                {
                    slots.MarkBusy(false);
                    await pauses.WaitWhilePausedAsync(queue, stopping).ConfigureAwait(false);
                    idlePolls = 0;
                    continue;
                }

                // Hold a slot for every message before receiving it, so no leased message waits for a
                // free slot while its lease runs out, and the limits are never exceeded. After a failed
                // receive, one slot: a shard that does not answer must not hold the slots the others could use.
                held = await slots.AcquireAsync(failed ? 1 : batch, stopping).ConfigureAwait(false);
                var received = shard is null
                    ? await transport.ReceiveAsync(queue, held, options.LeaseDuration, stopping).ConfigureAwait(false)
                    : await sharded!.ReceiveAsync(queue, shard, held, options.LeaseDuration, stopping).ConfigureAwait(false);
                failed = false;
                failures.Ended();
                health.Succeeded(time);
                slots.Release(held - received.Count);
                held = 0;
                slots.MarkBusy(received.Count > 0);
                if (received.Count == 0)
                {
                    await WaitForWorkAsync(PollingDelay(idlePolls++), stopping).ConfigureAwait(false);
                    continue;
                }

                idlePolls = 0;
                for (var i = 0; i < received.Count; i++) handOn(received[i], slots); // by index: no boxed enumerator per receive
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                slots.Release(held);
                break;
            }
            catch (TaskTransportException ex) when (!ex.IsTransient)
            {
                slots.Release(held);
                fault(ex, source);
                break;
            }
            catch (Exception ex)
            {
                // A failed receive (or a notifier that threw): back off and try again; the loop never ends in silence.
                slots.Release(held);
                slots.MarkBusy(false); // a queue that cannot be received from holds back no other
                failed = true;
                var wait = PollingDelay(idlePolls++);
                failures.Failed(ex, wait);
                health.Failed(time, source, ex);
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
    }

    private async Task WaitForWorkAsync(TimeSpan pollingDelay, CancellationToken stopping)
    {
        if (transport is not IMessageArrivalNotifier notifications)
        {
            await Task.Delay(pollingDelay, time, stopping).ConfigureAwait(false);
            return;
        }

        // Still poll: a delayed or released message becomes visible without a send to announce it.
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        await Task.WhenAny(Task.Delay(pollingDelay, time, waiting.Token), notifications.WaitForMessageAsync(queue, waiting.Token)).ConfigureAwait(false);
        waiting.Cancel();
        stopping.ThrowIfCancellationRequested();
    }

    private TimeSpan PollingDelay(int idlePolls)
    {
        var ticks = options.MinPollingInterval.Ticks * Math.Pow(2, Math.Min(idlePolls, 20));
        return TimeSpan.FromTicks((long)Math.Min(ticks, options.MaxPollingInterval.Ticks));
    }

}
