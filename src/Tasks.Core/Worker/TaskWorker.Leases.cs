using System;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>A run under its message's lease (kept by the <see cref="LeaseKeeper"/>), as a run a stop may abandon.</summary>
public sealed partial class TaskWorker
{
    /// <summary>
    /// Runs <paramref name="work"/> while the message's lease is renewed, as a run a stop may abandon
    /// (see <see cref="AbandonAsync"/>); returns what the work threw. <c>Settles</c> is false if the
    /// stop abandoned it: it released the message, which is no longer this worker's to settle.
    /// (Work and state apart, so a caller needs no closure: this sits on every run that does not
    /// finish at once.)
    /// </summary>
    private async Task<(bool Settles, Exception? Failure)> UnderLeaseAsync<TState>(ReceivedTaskMessage message, string name, long started, Func<TState, Task> work, TState state)
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
        Interlocked.Decrement(ref abandonedRuns);
        return (false, failure);
    }
}
