using System;
using System.Threading;

namespace Tasks;

/// <summary>When the worker last received from its queues, and the last receive that failed: what a health check reports.</summary>
internal sealed class ReceiveHealth
{
    private long lastSuccess; // a TimeProvider timestamp; 0: never
    private Failure? lastFailure;

    public void Succeeded(TimeProvider time) => Volatile.Write(ref lastSuccess, time.GetTimestamp());

    public void Failed(TimeProvider time, string queue, Exception error) => Volatile.Write(ref lastFailure, new Failure(time.GetTimestamp(), queue, error));

    /// <summary>How long ago a receive last succeeded (null: never), and the last failure if none succeeded since.</summary>
    public (TimeSpan? SinceSuccess, Failure? Failing) Read(TimeProvider time)
    {
        var success = Volatile.Read(ref lastSuccess);
        var failure = Volatile.Read(ref lastFailure);
        return (success == 0 ? null : time.GetElapsedTime(success), failure is not null && failure.At > success ? failure : null);
    }

    public sealed record Failure(long At, string Queue, Exception Error);
}
