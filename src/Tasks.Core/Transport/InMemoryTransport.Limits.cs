using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Limits across the workers of this process (<see cref="ConcurrencyLimitAttribute"/>, <see cref="RateLimitAttribute"/>),
/// kept as the Azure transport keeps them for a fleet; a message's body rewritten as its lease ends, as a task over
/// a limit waits in its own message; and paused queues.
/// </summary>
public sealed partial class InMemoryTransport : ITaskLimitStore, ITaskMessageReplacer, ITaskQueuePauses
{
    private readonly InMemoryLimitStore limits = new();
    private readonly Dictionary<string, DateTimeOffset> paused = new(StringComparer.Ordinal);

    ValueTask ITaskQueuePauses.PauseAsync(string queue, CancellationToken cancellationToken)
    {
        lock (gate) paused.TryAdd(queue, time.GetUtcNow());
        return default;
    }

    ValueTask ITaskQueuePauses.ResumeAsync(string queue, CancellationToken cancellationToken)
    {
        lock (gate) paused.Remove(queue);
        return default;
    }

    ValueTask<IReadOnlyList<TaskQueuePause>> ITaskQueuePauses.ListPausedAsync(CancellationToken cancellationToken)
    {
        lock (gate) return new(paused.Select(p => new TaskQueuePause(p.Key, p.Value)).OrderBy(p => p.Queue, StringComparer.Ordinal).ToArray());
    }

    ValueTask<LimitAcquisition> ITaskLimitStore.TryAcquireAsync(LimitScope scope, LimitHolder holder, DateTimeOffset now, DateTimeOffset until, CancellationToken cancellationToken)
        => limits.TryAcquireAsync(scope, holder, now, until, cancellationToken);

    ValueTask<LimitPlace?> ITaskLimitStore.RenewAsync(LimitPlace place, DateTimeOffset until, CancellationToken cancellationToken) => limits.RenewAsync(place, until, cancellationToken);

    ValueTask ITaskLimitStore.ReleaseAsync(LimitPlace place, CancellationToken cancellationToken) => limits.ReleaseAsync(place, cancellationToken);

    ValueTask<IReadOnlyList<LimitState>> ITaskLimitStore.ListAsync(DateTimeOffset now, CancellationToken cancellationToken) => limits.ListAsync(now, cancellationToken);

    ValueTask ITaskLimitStore.NoteWaiterAsync(LimitScope scope, LimitWaiter waiter, CancellationToken cancellationToken) => limits.NoteWaiterAsync(scope, waiter, cancellationToken);

    ValueTask ITaskLimitStore.ForgetWaiterAsync(LimitScope scope, string taskId, CancellationToken cancellationToken) => limits.ForgetWaiterAsync(scope, taskId, cancellationToken);

    ValueTask ITaskMessageReplacer.ReplaceAsync(ReceivedTaskMessage message, ReadOnlyMemory<byte> body, TimeSpan delay, CancellationToken cancellationToken)
    {
        var copy = body.ToArray(); // the body is the caller's only until this returns
        lock (gate)
        {
            var (state, entry) = Owned(message, "replace");
            entry.Body = copy;
            ((InMemoryReceived)message).Lease = state.Reschedule(entry, time.GetUtcNow() + delay, held: true); // its holder may still end it early
            if (delay <= TimeSpan.Zero) state.Notify();
        }

        return default;
    }
}
