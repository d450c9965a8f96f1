using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;

namespace Tasks;

/// <summary>
/// A counting semaphore for the worker's slots: taking a free slot allocates nothing, and a wait takes a waiter that
/// goes back for the next wait once granted (SemaphoreSlim's async wait allocates a state machine box, a task node and
/// a cancellation promise: about 270 B a message in the in-memory benchmark, where nearly every receive waits; a new
/// waiter each wait, 89 B). Waiters are served in order; with <see cref="SlotShares"/>, each waits in a lane (a queue's)
/// and the lanes share the slots released by weight or in strict order.
/// </summary>
internal sealed class AsyncSlots(int count, SlotShares? shares = null)
{
    private readonly object gate = new();
    private readonly Queue<Waiter>[] lanes = Enumerable.Range(0, shares?.Lanes ?? 1).Select(_ => new Queue<Waiter>()).ToArray();
    private Waiter? spare; // a granted waiter, used again (a cancelled one may still sit in the queue, so it is not); one receive loop waits at a time, mostly
    private int free = count;

    /// <summary>The slots free now, those kept for a lane included (for tests and diagnostics).</summary>
    public int Free
    {
        get { lock (gate) return free + (shares?.Reserved ?? 0); }
    }

    /// <summary>Takes a slot if one is free now (and <paramref name="lane"/> may have it).</summary>
    public bool TryTake(int lane = 0)
    {
        lock (gate) return TakeNow(lane);
    }

    /// <summary>
    /// Says whether <paramref name="lane"/>'s queue has work (its last receive found some). A lane with work is owed its
    /// share even in the moment its loop is between a receive and its next wait: a slot released then is kept for it. A
    /// lane that runs out of work gives back what was kept for it.
    /// </summary>
    public void MarkBusy(int lane, bool busy)
    {
        if (shares is null) return;
        bool changed;
        lock (gate)
        {
            changed = shares.MarkBusy(lane, busy);
            if (changed && !busy) free += shares.TakeBackKept(lane);
        }

        if (changed && !busy) Release(0);
    }

    /// <summary>Takes a slot, waiting for one in order in <paramref name="lane"/>; throws <see cref="OperationCanceledException"/> if <paramref name="cancellationToken"/> fires first.</summary>
    public ValueTask WaitAsync(CancellationToken cancellationToken, int lane = 0)
    {
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled(cancellationToken);
        Waiter waiter;
        lock (gate)
        {
            if (TakeNow(lane)) return default;
            waiter = Interlocked.Exchange(ref spare, null) ?? new Waiter(this);
            lanes[lane].Enqueue(waiter);
        }

        // A cancel that wins the waiter's claim ends the wait; a release that wins it hands it the slot. Whichever comes
        // second finds it claimed, so a slot is never both handed over and lost.
        waiter.Watch(cancellationToken);
        return new ValueTask(waiter, waiter.Version);
    }

    /// <summary>Gives <paramref name="count"/> slots back: to the oldest waiters first (of the lanes that may have them), then to the free count.</summary>
    public void Release(int count = 1)
    {
        if (count < 0 || (count == 0 && shares is null)) return; // 0: free slots a lane held back go to the lanes that may have them now
        Waiter? first = null; // one slot given back, the usual case, wakes one waiter without a list
        List<Waiter>? more = null;
        lock (gate)
        {
            free += count;
            while (free > 0)
            {
                // The lane the shares pick: its oldest waiter gets the slot, or, with none waiting, it is kept for the lane.
                var lane = shares?.Pick(lanes) ?? (lanes[0].Count > 0 ? 0 : -1);
                if (lane < 0) break;
                free--;
                if (!lanes[lane].TryDequeue(out var waiter))
                {
                    shares!.Keep(lane);
                    continue;
                }

                if (!waiter.TryClaim())
                {
                    free++; // cancelled meanwhile
                    continue;
                }

                if (first is null) first = waiter;
                else (more ??= new List<Waiter>()).Add(waiter);
            }
        }

        first?.Grant();
        if (more is null) return;
        foreach (var waiter in more) waiter.Grant();
    }

    /// <summary>A slot for <paramref name="lane"/> now, if there is one: kept for it, or free and its to take; under the lock.</summary>
    private bool TakeNow(int lane)
    {
        if (shares?.TakeKept(lane) == true) return true;
        if (free == 0 || shares?.MayTake(lane) == false) return false;
        free--;
        return true;
    }

    private void Reuse(Waiter waiter) => Interlocked.CompareExchange(ref spare, waiter, null);

    internal sealed class Waiter(AsyncSlots owner) : IValueTaskSource
    {
        private ManualResetValueTaskSourceCore<bool> core = new() { RunContinuationsAsynchronously = true };
        private int claimed;
        private CancellationTokenRegistration registration;

        public short Version => core.Version;

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
            core.GetResult(token); // throws for a cancelled wait, whose waiter is not used again

            // Granted: out of the queue, its registration gone (a cancel callback running meanwhile finished first,
            // and found it claimed), its one awaiter done with it.
            core.Reset();
            registration = default;
            claimed = 0;
            owner.Reuse(this);
        }

        public ValueTaskSourceStatus GetStatus(short token) => core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
            => core.OnCompleted(continuation, state, token, flags);
    }
}
