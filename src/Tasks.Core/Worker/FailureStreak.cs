using System;

namespace Tasks;

/// <summary>
/// How a loop tells a call that fails again and again (a silent service fails every try): the first failure with its
/// exception, then a line without it at most every 30 s while they go on, and one when the call works again.
/// </summary>
internal sealed class FailureStreak(TimeProvider time, Action<Exception, TimeSpan> first, Action<int, TimeSpan, string> still, Action<int, TimeSpan> again)
{
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(30);
    private int count;
    private DateTimeOffset since;
    private DateTimeOffset told;

    /// <param name="exception">What the call threw.</param>
    /// <param name="wait">How long until the next try.</param>
    public void Failed(Exception exception, TimeSpan wait)
    {
        var now = time.GetUtcNow();
        if (count++ == 0)
        {
            (since, told) = (now, now);
            first(exception, wait);
        }
        else if (now - told >= Quiet)
        {
            told = now;
            still(count, now - since, exception.Message);
        }
    }

    public void Ended()
    {
        if (count == 0) return;
        again(count, time.GetUtcNow() - since);
        count = 0;
    }
}
