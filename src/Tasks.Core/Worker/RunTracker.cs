using System;
using System.Collections.Concurrent;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>
/// The runs a worker has in hand, as its stop sees them: how many messages are being handled (the stop drains them),
/// the runs that did not finish at once (held under their lease; the only ones a stop can give up on), and how
/// many were released to run again.
/// </summary>
internal sealed class RunTracker(LeaseKeeper leases, ITaskTransport transport, ILogger logger)
{
    private readonly TaskCompletionSource drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<ReceivedTaskMessage, LongRun> longRuns = new();
    private int handling = 1; // plus one held by the worker until it stops, so Drained completes only after a stop
    private int stopped;
    private int released;
    private int abandoned;

    /// <summary>Completes once the worker stopped and every message in hand was handled.</summary>
    public Task Drained => drained.Task;

    /// <summary>Messages being handled now.</summary>
    public int Handling => Math.Max(0, Volatile.Read(ref handling) - (Volatile.Read(ref stopped) == 0 ? 1 : 0));

    /// <summary>Runs released to run again (a stop, a task's gate during a stop).</summary>
    public int Released => Volatile.Read(ref released);

    /// <summary>Runs a stop gave up on that have not ended: they still hold their token and slots.</summary>
    public bool HasAbandoned => Volatile.Read(ref abandoned) > 0;

    public void Received() => Interlocked.Increment(ref handling);

    public void Handled()
    {
        if (Interlocked.Decrement(ref handling) == 0) drained.TrySetResult();
    }

    /// <summary>The worker stops: its own count goes.</summary>
    public void Stop()
    {
        if (Interlocked.Exchange(ref stopped, 1) == 0) Handled();
    }

    public void CountReleased() => Interlocked.Increment(ref released);

    /// <summary>
    /// Runs <paramref name="work"/> while the message's lease is kept, as a run a stop may abandon (see
    /// <see cref="AbandonAsync"/>); returns what the work threw. <c>Settles</c> is false if the stop abandoned it: it
    /// released the message, which is no longer this worker's to settle. (Work and state apart, so a caller needs
    /// no closure: this sits on every run that does not finish at once.)
    /// </summary>
    public async Task<(bool Settles, Exception? Failure)> UnderLeaseAsync<TState>(ReceivedTaskMessage message, string name, long started, Func<TState, Task> work, TState state)
    {
        var hold = leases.Hold(message, started);
        var run = new LongRun(name, hold);
        longRuns[message] = run;
        Exception? failure = null;
        try
        {
            await work(state).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        finally
        {
            longRuns.TryRemove(message, out _);
            await hold.DisposeAsync().ConfigureAwait(false);
        }

        if (run.TryFinish()) return (true, failure);
        Interlocked.Decrement(ref abandoned);
        return (false, failure);
    }

    /// <summary>
    /// The runs still going after their token fired and the stop's grace passed: their messages become visible
    /// again for another worker, and the stop returns. If such a run finishes later, its result is dropped: the
    /// message is no longer this worker's.
    /// </summary>
    public async Task AbandonAsync(TimeSpan grace)
    {
        foreach (var (message, run) in longRuns)
        {
            if (!run.TryAbandon()) continue;
            Interlocked.Increment(ref abandoned);
            WorkerLog.Abandoned(logger, run.TaskName, message.MessageId, message.Queue, grace);
            try
            {
                await transport.ReleaseAsync(message, TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);
                CountReleased();
            }
            catch (Exception ex)
            {
                // Its lease ends on its own: the message comes back then.
                WorkerLog.SettleFailed(logger, ex, message.MessageId, message.Queue);
            }
        }
    }
}
