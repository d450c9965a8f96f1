using System;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>Leases while a task runs: renewed on a fixed schedule, and a run a stop may abandon.</summary>
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
        using var renewing = new CancellationTokenSource();
        var renewal = RenewLeaseLoopAsync(message, started, renewing.Token);
        var run = new LongRun(name, renewing);
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
            renewing.Cancel();
            await renewal.ConfigureAwait(false);
        }

        if (run.TryFinish()) return (true, failure);
        Interlocked.Decrement(ref abandonedRuns);
        return (false, failure);
    }

    private async Task RenewLeaseLoopAsync(ReceivedTaskMessage message, long started, CancellationToken cancellationToken)
    {
        // One periodic timer from the start of the run: renewals keep to their schedule however late
        // this loop wakes, where re-arming a delay after each renewal would drift with every wake-up.
        // (The semaphore is never disposed: a last tick may still arrive while the timer is disposed.)
        var interval = options.LeaseDuration / 2;
        var first = interval - time.GetElapsedTime(started);
        var ticks = new SemaphoreSlim(0);
        using var timer = time.CreateTimer(static state => ((SemaphoreSlim)state!).Release(), ticks, first > TimeSpan.Zero ? first : TimeSpan.Zero, interval);
        while (true)
        {
            try
            {
                await ticks.WaitAsync(cancellationToken).ConfigureAwait(false);
                while (ticks.Wait(0))
                {
                    // Ticks missed while the last renewal ran are one renewal, not several.
                }

                // Never cancelled once sent: a renewal the service applied but whose answer we dropped
                // would leave us holding a dead receipt, and the final delete would fail.
                await transport.RenewLeaseAsync(message, options.LeaseDuration, CancellationToken.None).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (TaskLeaseLostException ex)
            {
                Log.LeaseLost(logger, ex, message.MessageId, message.Queue);
                return;
            }
            catch (Exception ex)
            {
                Log.RenewFailed(logger, ex, message.MessageId, message.Queue);
            }
        }
    }
}
