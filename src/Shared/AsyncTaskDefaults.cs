namespace Tasks;

/// <summary>
/// The defaults of <c>[AsyncTask]</c>, compiled into both the runtime (the attribute) and the
/// generator (which reads attribute values from source and must apply the same defaults).
/// </summary>
internal static class AsyncTaskDefaults
{
    public const string Queue = "tasks";

    public const int MaxAttempts = 5;
}
