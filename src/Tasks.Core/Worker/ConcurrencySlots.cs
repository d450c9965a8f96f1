using System;
using System.Collections.Generic;
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

    public ConcurrencySlots(int maxConcurrency, int? maxPerQueue, IEnumerable<string> queueNames)
    {
        worker = new AsyncSlots(maxConcurrency);
        // No semaphore of its own for a queue whose limit is the worker's: one semaphore is cheaper than two.
        var perQueue = maxPerQueue is { } limit && limit < maxConcurrency ? limit : (int?)null;
        foreach (var queue in queueNames) queues[queue] = new QueueSlots(worker, perQueue is { } n ? new AsyncSlots(n) : null);
    }

    /// <summary>The queues, in the order given.</summary>
    public IReadOnlyCollection<string> Queues => queues.Keys;

    /// <summary>The slots of one queue.</summary>
    public QueueSlots For(string queue) => queues[queue];
}

/// <summary>The slots one queue's messages take: one of the queue's (if it has a limit of its own) and one of the worker's.</summary>
internal sealed class QueueSlots(AsyncSlots worker, AsyncSlots? queue)
{
    /// <summary>Waits for one slot, then takes as many more as are free, up to <paramref name="most"/>; returns how many it holds.</summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))] // once per receive: no box each time
    public async ValueTask<int> AcquireAsync(int most, CancellationToken cancellationToken)
    {
        if (queue is not null) await queue.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await worker.WaitAsync(cancellationToken).ConfigureAwait(false);
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

    /// <summary>Takes a slot if one is free now.</summary>
    public bool TryAcquire()
    {
        if (queue is not null && !queue.TryTake()) return false;
        if (worker.TryTake()) return true;
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
