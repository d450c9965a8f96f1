using System;
using System.Threading;

namespace Tasks;

/// <summary>The token of one run: fires when the run times out or the worker stops waiting for it.</summary>
internal sealed class RunCancellation : IDisposable
{
    private readonly CancellationTokenSource source = new();
    private ITimer? timer;
    private CancellationTokenRegistration abort;
    private volatile bool timedOut;

    public CancellationToken Token => source.Token;

    public bool TimedOut => timedOut;

    public void Arm(TimeProvider time, long started, TimeSpan? timeout, CancellationToken stopping)
    {
        if (timeout is { } limit)
        {
            var remaining = limit - time.GetElapsedTime(started);
            timer = time.CreateTimer(static state => ((RunCancellation)state!).TimeOut(), this, remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }

        abort = stopping.UnsafeRegister(static state => ((RunCancellation)state!).source.Cancel(), this);
    }

    public void Dispose()
    {
        timer?.Dispose();
        abort.Dispose();
        source.Dispose();
    }

    private void TimeOut()
    {
        timedOut = true;
        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // A disposed timer may still deliver one last tick after the run has ended.
        }
    }
}

internal sealed class EmptyServiceProvider : IServiceProvider
{
    public static readonly EmptyServiceProvider Instance = new();

    public object? GetService(Type serviceType) => null;
}
