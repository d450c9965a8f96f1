using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// The worker's concurrency limits: <see cref="TaskWorkerOptions.MaxConcurrency"/> for the whole worker, and
/// <see cref="TaskWorkerOptions.MaxConcurrencyPerQueue"/> for each queue. A message holds a slot of both from
/// before it is received until its task's work is done.
/// </summary>
internal sealed class ConcurrencySlots
{
    private readonly AsyncSlots worker;
    private readonly Dictionary<string, QueueSlots> queues = new(StringComparer.Ordinal);

    public ConcurrencySlots(int maxConcurrency, int? maxPerQueue, IReadOnlyList<string> queueNames, QueuePriority priority = QueuePriority.None, IDictionary<string, int>? weights = null)
    {
        // Each queue waits for the worker's slots in a lane of its own when they are shared by priority.
        var shares = priority == QueuePriority.None || queueNames.Count < 2
            ? null
            : new SlotShares(queueNames.Select(q => weights is not null && weights.TryGetValue(q, out var weight) ? weight : 1).ToArray(), strict: priority == QueuePriority.Strict);
        worker = new AsyncSlots(maxConcurrency, shares);
        // No semaphore of its own for a queue whose limit is the worker's: one semaphore is cheaper than two.
        var perQueue = maxPerQueue is { } limit && limit < maxConcurrency ? limit : (int?)null;
        for (var i = 0; i < queueNames.Count; i++) queues[queueNames[i]] = new QueueSlots(worker, perQueue is { } n ? new AsyncSlots(n) : null, shares is null ? 0 : i);
    }

    /// <summary>The queues, in the order given.</summary>
    public IReadOnlyCollection<string> Queues => queues.Keys;

    /// <summary>The slots of one queue.</summary>
    public QueueSlots For(string queue) => queues[queue];
}

/// <summary>The slots one queue's messages take: one of the queue's (if it has a limit of its own) and one of the worker's.</summary>
internal sealed class QueueSlots(AsyncSlots worker, AsyncSlots? queue, int lane = 0)
{
    /// <summary>Waits for one slot, then takes as many more as are free, up to <paramref name="most"/>; returns how many it holds.</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))] // once per receive: no box each time
    public async ValueTask<int> AcquireAsync(int most, CancellationToken cancellationToken)
    {
        if (queue is not null) await queue.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await worker.WaitAsync(cancellationToken, lane).ConfigureAwait(false);
        }
        catch
        {
            queue?.Release();
            throw;
        }

        var held = 1;
        while (held < most && TryAcquire()) held++;
        return held;
    }

    /// <summary>Says whether this queue has work, for the worker's strict order of queues.</summary>
    public void MarkBusy(bool busy) => worker.MarkBusy(lane, busy);

    /// <summary>Takes a slot if one is free now.</summary>
    public bool TryAcquire()
    {
        if (queue is not null && !queue.TryTake()) return false;
        if (worker.TryTake(lane)) return true;
        queue?.Release();
        return false;
    }

    public void Release(int count = 1)
    {
        if (count <= 0) return;
        queue?.Release(count);
        worker.Release(count);
    }
}

/// <summary>
/// How a worker's slots go to its queues when more than one has work (<see cref="TaskWorkerOptions.QueuePriority"/>): in
/// strict order (a queue gets a slot only while no queue before it has work), or by weight (smooth weighted round robin:
/// with every queue busy, queue i gets weight i of every sum-of-weights slots). A queue with work whose loop is receiving
/// when a slot is released is owed it: the slot is kept for it (up to its weight's worth, in weighted order). A queue
/// without work waits for no slot, takes none, and costs nothing. Used under the slots' lock.
/// </summary>
internal sealed class SlotShares(int[] weights, bool strict)
{
    private readonly long[] credit = new long[weights.Length];
    private readonly bool[] busy = new bool[weights.Length];
    private readonly int[] kept = new int[weights.Length];

    public int Lanes => weights.Length;

    /// <summary>The slots kept for lanes now.</summary>
    public int Reserved => kept.Sum();

    /// <summary>Whether a lane's queue has work; true if that changed.</summary>
    public bool MarkBusy(int lane, bool isBusy)
    {
        if (busy[lane] == isBusy) return false;
        busy[lane] = isBusy;
        return true;
    }

    /// <summary>Whether <paramref name="lane"/> may take a free slot now: in strict order, not while a lane before it has work.</summary>
    public bool MayTake(int lane)
    {
        if (!strict) return true;
        for (var i = 0; i < lane; i++)
        {
            if (busy[i]) return false;
        }

        return true;
    }

    public void Keep(int lane) => kept[lane]++;

    /// <summary>Takes a slot kept for <paramref name="lane"/>, if there is one.</summary>
    public bool TakeKept(int lane)
    {
        if (kept[lane] == 0) return false;
        kept[lane]--;
        return true;
    }

    /// <summary>The slots kept for a lane that ran out of work, given back.</summary>
    public int TakeBackKept(int lane)
    {
        var back = kept[lane];
        kept[lane] = 0;
        return back;
    }

    /// <summary>The lane a released slot goes to (to its oldest waiter, or kept for it), or -1 if no lane may have it.</summary>
    public int Pick(Queue<AsyncSlots.Waiter>[] lanes)
    {
        if (strict)
        {
            for (var i = 0; i < lanes.Length; i++)
            {
                if (lanes[i].Count > 0 || busy[i]) return i;
            }

            return -1;
        }

        var best = -1;
        long total = 0;
        for (var i = 0; i < lanes.Length; i++)
        {
            if (lanes[i].Count == 0 && !(busy[i] && kept[i] < weights[i])) continue;
            credit[i] += weights[i];
            total += weights[i];
            if (best < 0 || credit[i] > credit[best]) best = i;
        }

        if (best >= 0) credit[best] -= total;
        return best;
    }
}
