using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;

namespace Tasks;

/// <summary>
/// A counting semaphore for the worker's slots: taking a free slot allocates nothing, and a wait allocates one small
/// waiter (SemaphoreSlim's async wait allocates a state machine box, a task node and a cancellation promise: about
/// 270 B a message in the in-memory benchmark, where nearly every receive waits). Waiters are served in order.
/// </summary>
internal sealed class AsyncSlots(int count)
{
    private readonly object gate = new();
    private readonly Queue<Waiter> waiters = new();
    private int free = count;

    /// <summary>The slots free now (for tests and diagnostics).</summary>
    public int Free
    {
        get { lock (gate) return free; }
    }

    /// <summary>Takes a slot if one is free now.</summary>
    public bool TryTake()
    {
        lock (gate)
        {
            if (free == 0) return false;
            free--;
            return true;
        }
    }

    /// <summary>Takes a slot, waiting for one in order; throws <see cref="OperationCanceledException"/> if <paramref name="cancellationToken"/> fires first.</summary>
    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);
        Waiter waiter;
        lock (gate)
        {
            if (free > 0)
            {
                free--;
                return default;
            }

            waiters.Enqueue(waiter = new Waiter());
        }

        // A cancel that wins the waiter's claim ends the wait; a release that wins it hands it the slot. Whichever comes
        // second finds it claimed, so a slot is never both handed over and lost.
        waiter.Watch(cancellationToken);
        return new ValueTask(waiter, 0);
    }

    /// <summary>Gives <paramref name="count"/> slots back: to the oldest waiters first, then to the free count.</summary>
    public void Release(int count = 1)
    {
        if (count <= 0) return;
        Waiter? first = null; // one slot given back, the usual case, wakes one waiter without a list
        List<Waiter>? more = null;
        lock (gate)
        {
            while (count > 0 && waiters.TryDequeue(out var waiter))
            {
                if (!waiter.TryClaim()) continue; // cancelled meanwhile
                if (first is null) first = waiter;
                else (more ??= new List<Waiter>()).Add(waiter);
                count--;
            }

            free += count;
        }

        first?.Grant();
        if (more is null) return;
        foreach (var waiter in more) waiter.Grant();
    }

    private sealed class Waiter : IValueTaskSource
    {
        private ManualResetValueTaskSourceCore<bool> core = new() { RunContinuationsAsynchronously = true };
        private int claimed;
        private CancellationTokenRegistration registration;

        public bool TryClaim() => Interlocked.Exchange(ref claimed, 1) == 0;

        public void Watch(CancellationToken cancellationToken)
        {
            if (!cancellationToken.CanBeCanceled) return;
            registration = cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var waiter = (Waiter)state!;
                if (waiter.TryClaim()) waiter.core.SetException(new OperationCanceledException(token));
            }, this);
        }

        public void Grant()
        {
            registration.Dispose();
            core.SetResult(true);
        }

        public void GetResult(short token)
        {
            registration.Dispose();
            core.GetResult(token);
        }

        public ValueTaskSourceStatus GetStatus(short token) => core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
            => core.OnCompleted(continuation, state, token, flags);
    }
}
