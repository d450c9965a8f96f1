using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Tasks.Transports;

namespace Tasks;

/// <summary>
/// Which queues are paused, as this worker last read them (one call every <see cref="TaskWorkerOptions.PauseCheckInterval"/>,
/// whatever the number of queues): a receive loop of a paused queue waits here instead of receiving, and goes on
/// when the queue is resumed. A read that fails keeps what was last read.
/// </summary>
internal sealed class QueuePauses(ITaskQueuePauses? store, TimeSpan interval, ILogger logger, TimeProvider time)
{
    private volatile HashSet<string> paused = new(StringComparer.Ordinal);
    private TaskCompletionSource changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsPaused(string queue) => paused.Count > 0 && paused.Contains(queue);

    /// <summary>Reads the paused queues once (before the receive loops start, so a worker started while a queue is paused never receives from it).</summary>
    public async Task ReadAsync(IReadOnlyCollection<string> queues, CancellationToken cancellationToken)
    {
        if (store is null) return;
        IReadOnlyList<TaskQueuePause> now;
        try
        {
            now = await store.ListPausedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            WorkerLog.PausesUnread(logger, ex);
            return;
        }

        var next = now.Select(p => p.Queue).Where(queues.Contains).ToHashSet(StringComparer.Ordinal);
        var before = paused;
        if (next.SetEquals(before)) return;
        foreach (var queue in next.Except(before)) WorkerLog.QueuePaused(logger, queue);
        foreach (var queue in before.Except(next)) WorkerLog.QueueResumed(logger, queue);
        paused = next;
        Interlocked.Exchange(ref changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>Reads the paused queues every interval until <paramref name="stopping"/> fires.</summary>
    public async Task WatchAsync(IReadOnlyCollection<string> queues, CancellationToken stopping)
    {
        if (store is null) return;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, time, stopping).ConfigureAwait(false);
                await ReadAsync(queues, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>Waits while <paramref name="queue"/> is paused.</summary>
    public async Task WaitWhilePausedAsync(string queue, CancellationToken stopping)
    {
        while (IsPaused(queue)) await changed.Task.WaitAsync(stopping).ConfigureAwait(false);
    }
}
