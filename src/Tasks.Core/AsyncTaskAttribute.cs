using System;

namespace Tasks;

/// <summary>
/// Marks a method as a durable background task. The Tasks source generator writes a nested
/// <c>{Method}Async</c> class with a typed <c>Enqueue</c> method, the argument envelope and its
/// MessagePack formatter, and registers the task in the assembly's dispatch table.
/// </summary>
/// <remarks>
/// The method must take a <see cref="System.Threading.CancellationToken"/> first, return
/// <see cref="System.Threading.Tasks.Task"/>, and live in a non-generic <c>partial</c> type;
/// the analyzer reports every rule it breaks (TASK001 to TASK010).
/// </remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class AsyncTaskAttribute : Attribute
{
    /// <summary>The default queue a task is sent to.</summary>
    public const string DefaultQueue = AsyncTaskDefaults.Queue;

    /// <summary>The default number of attempts before a failing task is dead-lettered.</summary>
    public const int DefaultMaxAttempts = AsyncTaskDefaults.MaxAttempts;

    /// <summary>
    /// The stable wire name of the task. Defaults to <c>Namespace.Type.Method</c>. Set it to keep
    /// queued messages working when the method or its type is renamed or moved.
    /// </summary>
    public string? Name { get; set; }

    /// <summary>The queue the task is sent to. Defaults to <c>tasks</c>.</summary>
    public string Queue { get; set; } = DefaultQueue;

    /// <summary>How many times the task runs before it is dead-lettered. Defaults to 5.</summary>
    public int MaxAttempts { get; set; } = DefaultMaxAttempts;

    /// <summary>
    /// How long one run may take before its token fires, as a <see cref="TimeSpan"/> string
    /// (<c>"00:05:00"</c>, as Azure Functions' <c>[FunctionTimeout]</c>); checked at compile time.
    /// Defaults to the worker's <c>TaskWorkerOptions.TaskTimeout</c>.
    /// </summary>
    public string? Timeout { get; set; }

    /// <summary>
    /// The wait after the first failure, doubled on each retry up to the worker's
    /// <c>Retry.MaxDelay</c>, as a <see cref="TimeSpan"/> string (<c>"00:00:30"</c>); checked at compile
    /// time. Defaults to the worker's <c>Retry.BaseDelay</c>.
    /// </summary>
    public string? RetryDelay { get; set; }

    /// <summary>At most this many runs of this task at once in one worker; 0 (the default) for no limit of its own.</summary>
    public int MaxConcurrency { get; set; }

    /// <summary>
    /// Makes the task unique: while a task of the same name and key (by default its arguments) is
    /// enqueued or running and younger than this <see cref="TimeSpan"/> string (<c>"00:10:00"</c>),
    /// <c>Enqueue</c> returns that task's id instead of sending another, atomically across processes.
    /// Checked at compile time; needs a record store (the host fails at start without one). The key can
    /// be set per enqueue with <c>TaskEnqueueOptions.UniqueKey</c>.
    /// </summary>
    public string? UniqueFor { get; set; }

    /// <summary>The task's arguments carry personal data: records and the dashboard never show them. Default: false.</summary>
    public bool PersonalData { get; set; }
}
