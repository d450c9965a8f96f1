using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Tasks;

/// <summary>The receive loop: one per queue, holding a concurrency slot for every message before it is leased, backing off when idle or failing.</summary>
public sealed partial class TaskWorker
{
    /// <param name="queue">The task queue.</param>
    /// <param name="shard">One of its shards, on a sharded queue; null to receive the queue.</param>
    /// <param name="queueSlot">The queue's concurrency limit, shared by its shards.</param>
    /// <param name="batch">The most messages one receive takes (a shard's share of the slots).</param>
    /// <param name="stopping">Stops the loop: the worker's stop, or the shard's going.</param>
    private async Task ReceiveLoopAsync(string queue, string? shard, SemaphoreSlim? queueSlot, int batch, CancellationToken stopping)
    {
        var source = shard is null ? queue : $"{queue} ({shard})";
        var idlePolls = 0;
        var failed = false;
        while (!stopping.IsCancellationRequested)
        {
            var slots = 0;
            try
            {
                // Hold a slot for every message before receiving it, so no leased message waits for a
                // free slot while its lease runs out, and the limits are never exceeded. After a failed
                // receive, one slot: a shard that does not answer must not hold the slots the others could use.
                slots = await AcquireSlotsAsync(queueSlot, failed ? 1 : batch, stopping).ConfigureAwait(false);
                var received = shard is null
                    ? await transport.ReceiveAsync(queue, slots, options.LeaseDuration, stopping).ConfigureAwait(false)
                    : await ((IShardedTaskTransport)transport).ReceiveAsync(queue, shard, slots, options.LeaseDuration, stopping).ConfigureAwait(false);
                failed = false;
                receiveHealth.Succeeded(time);
                ReleaseSlots(queueSlot, slots - received.Count);
                slots = 0;
                if (received.Count == 0)
                {
                    await WaitForWorkAsync(queue, PollingDelay(idlePolls++), stopping).ConfigureAwait(false);
                    continue;
                }

                idlePolls = 0;
                foreach (var message in received)
                {
                    Interlocked.Increment(ref running);
                    ThreadPool.UnsafeQueueUserWorkItem(static state => _ = state.Worker.RunInSlotAsync(state.Message, state.QueueSlot), (Worker: this, Message: message, QueueSlot: queueSlot), preferLocal: false);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                ReleaseSlots(queueSlot, slots);
                break;
            }
            catch (TaskTransportException ex) when (!ex.IsTransient)
            {
                ReleaseSlots(queueSlot, slots);
                Fault(ex, source);
                break;
            }
            catch (Exception ex)
            {
                // A failed receive (or a notifier that threw): back off and try again; the loop never ends in silence.
                ReleaseSlots(queueSlot, slots);
                failed = true;
                var wait = PollingDelay(idlePolls++);
                Log.ReceiveFailed(logger, ex, source, wait);
                receiveHealth.Failed(time, source, ex);
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

    private void Fault(TaskTransportException ex, string queue)
    {
        if (Interlocked.Exchange(ref faulted, 1) != 0) return;
        Volatile.Write(ref fault, ex);
        Log.TransportFaulted(logger, ex, queue);
        stopReceiving.Cancel();
        try
        {
            Faulted?.Invoke(ex);
        }
        catch (Exception handlerFailure)
        {
            Log.HandlingFailed(logger, handlerFailure, "(Faulted handler)", queue);
        }
    }

    private async Task<int> AcquireSlotsAsync(SemaphoreSlim? queueSlot, int most, CancellationToken cancellationToken)
    {
        await AcquireSlotAsync(queueSlot, cancellationToken).ConfigureAwait(false);
        var slots = 1;
        while (slots < most && TryAcquireSlot(queueSlot)) slots++;
        return slots;
    }

    private async Task AcquireSlotAsync(SemaphoreSlim? queueSlot, CancellationToken cancellationToken)
    {
        if (queueSlot is not null) await queueSlot.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await workerSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            queueSlot?.Release();
            throw;
        }
    }

    private bool TryAcquireSlot(SemaphoreSlim? queueSlot)
    {
        if (queueSlot is not null && !queueSlot.Wait(0)) return false;
        if (workerSlots.Wait(0)) return true;
        queueSlot?.Release();
        return false;
    }

    private void ReleaseSlots(SemaphoreSlim? queueSlot, int count)
    {
        if (count <= 0) return;
        queueSlot?.Release(count);
        workerSlots.Release(count);
    }

    private async Task WaitForWorkAsync(string queue, TimeSpan pollingDelay, CancellationToken stopping)
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

    /// <summary>Whether the worker is receiving, for a health check: a status and a sentence that says why.</summary>
    internal (HealthStatus Status, string Description) CheckHealth()
    {
        if (Volatile.Read(ref fault) is { } stoppedBy) return (HealthStatus.Unhealthy, $"The worker stopped receiving: {stoppedBy.Message}");
        if (!loopsStarted) return (HealthStatus.Unhealthy, "The worker has not started.");
        if (Volatile.Read(ref stopped) != 0) return (HealthStatus.Unhealthy, "The worker has stopped.");
        var (sinceSuccess, failing) = receiveHealth.Read(time);
        if (failing is not null) return (HealthStatus.Degraded, $"Receiving from '{failing.Queue}' fails, and the worker keeps trying: {failing.Error.Message}");
        return (HealthStatus.Healthy, sinceSuccess is { } ago ? $"Receiving from {queueSlots.Count} queue(s); the last receive was {ago.TotalSeconds:0.#} s ago." : "Started; no receive has finished yet.");
    }
}
