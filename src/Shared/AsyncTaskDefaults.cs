namespace Tasks;

/// <summary>
/// The defaults of <c>[AsyncTask]</c>, compiled into both the runtime (the attribute) and the
/// generator (which reads attribute values from source and must apply the same defaults).
/// </summary>
internal static class AsyncTaskDefaults
{
    public const string Queue = "tasks";

    public const int MaxAttempts = 5;

    /// <summary>The longest timeout or delay: timers take at most ~49.7 days, and past that they throw mid-run.</summary>
    public static readonly System.TimeSpan MaxDuration = System.TimeSpan.FromDays(49);
}
