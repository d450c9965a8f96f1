using System;
using System.Threading;

namespace Tasks;

/// <summary>
/// The token of one run: fires when the run times out or the worker stops waiting for it. It is its own token's
/// source: one object a run, not two.
/// </summary>
internal sealed class RunCancellation : CancellationTokenSource
{
    private ITimer? timer;
    private CancellationTokenRegistration abort;
    private volatile bool timedOut;
    private volatile bool cancelledById;

    public bool TimedOut => timedOut;

    /// <summary>True once a cancel by id fired the token.</summary>
    public bool CancelledById => cancelledById;

    /// <summary>A cancel by id: fires the token at once.</summary>
    public void CancelByRequest()
    {
        cancelledById = true;
        CancelSafely();
    }

    public void Arm(TimeProvider time, long started, TimeSpan? timeout, CancellationToken stopping)
    {
        if (timeout is { } limit)
        {
            var remaining = limit - time.GetElapsedTime(started);
            timer = time.CreateTimer(static state => ((RunCancellation)state!).TimeOut(), this, remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }

        abort = stopping.UnsafeRegister(static state => ((RunCancellation)state!).CancelSafely(), this);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            timer?.Dispose();
            abort.Dispose();
        }

        base.Dispose(disposing);
    }

    private void TimeOut()
    {
        timedOut = true;
        CancelSafely();
    }

    private void CancelSafely()
    {
        try
        {
            Cancel();
        }
        catch (ObjectDisposedException)
        {
            // A disposed timer may still deliver one last tick after the run has ended.
        }
        catch (Exception)
        {
            // A callback the task registered on its token threw: that is the task's failure, which its
            // run reports; on a timer thread it must not take the process down.
        }
    }
}

/// <summary>
/// A run that did not finish at once, as a stop sees it. Finishing and abandoning race (the task may
/// end just as the stop gives up on it); exactly one of them wins, so a message is either settled
/// by its run or released by the stop, never both.
/// </summary>
internal sealed class LongRun(string taskName, LeaseHold lease)
{
    private const int Running = 0;
    private const int Finished = 1;
    private const int Abandoned = 2;
    private int state;

    public string TaskName { get; } = taskName;

    /// <summary>True if the stop may release the message: the run had not finished.</summary>
    public bool TryAbandon()
    {
        if (Interlocked.CompareExchange(ref state, Abandoned, Running) != Running) return false;
        lease.Stop(); // a renewal after the release would hide the message again
        return true;
    }

    /// <summary>True if the run may settle its message; false if a stop abandoned it first.</summary>
    public bool TryFinish() => Interlocked.CompareExchange(ref state, Finished, Running) == Running;
}
