using System;

namespace Tasks;

/// <summary>
/// What the task records keep and for how long. Every part is on where a record store is
/// configured, and each can be turned off. Bind it from configuration (<c>"Tasks:Records"</c>) or set it in code.
/// </summary>
public sealed class TaskRecordOptions
{
    /// <summary>Write records at all. Default: true (where a store is configured).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Keep the arguments as JSON in each record (never for a task marked <c>PersonalData</c>). Default: true.</summary>
    public bool RecordArguments { get; set; } = true;

    /// <summary>Larger argument JSON is not kept (the record says its size). Default: 16,000 characters.</summary>
    public int MaxArgumentsJsonChars { get; set; } = 16_000;

    /// <summary>
    /// How long the record of a succeeded (or still unfinished) task is kept past the end of the UTC
    /// day it was due: records live in one table per day, dropped whole. Default: 1 day.
    /// </summary>
    public TimeSpan SucceededRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long the record of a dead-lettered or cancelled task is kept past the end of the UTC day it was due. Default: 14 days.</summary>
    public TimeSpan FailedRetention { get; set; } = TimeSpan.FromDays(14);

    /// <summary>
    /// How often a process writes what its tasks did, coalesced (the start and end of a task shorter
    /// than this are one write) and batched (up to 100 rows per Table transaction). Also the most a
    /// task's progress is written. Default: 1 second.
    /// </summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>At most this many records wait in memory for a store that is down; past it the oldest are dropped and counted. Default: 200,000.</summary>
    public int MaxPendingWrites { get; set; } = 200_000;

    /// <summary>
    /// How long <c>Enqueue</c> waits for the record write that runs beside the send. A store slower than
    /// this does not hold the enqueue: the write goes on in the background. Default: 2 seconds.
    /// </summary>
    public TimeSpan EnqueueWriteTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Write worker heartbeats. Default: true.</summary>
    public bool Heartbeats { get; set; } = true;

    /// <summary>How often a worker writes its heartbeat. Default: 10 seconds.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How often a watch (<see cref="TaskWatcher"/>) reads the store for what other processes did, while anything is
    /// watched: one read per task watched and one list per query, shared by every watch of the process. Default: 1 second.
    /// </summary>
    public TimeSpan WatchInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A worker silent this long counts as gone, and a task it left Running reads as Enqueued again. Default: 45 seconds.</summary>
    public TimeSpan WorkerGoneAfter { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>Let tasks be cancelled by id: each worker polls for cancel requests. Default: true.</summary>
    public bool Cancellation { get; set; } = true;

    /// <summary>How often a worker asks the store for new cancel requests (one query per worker, whatever it runs). Default: 1 second.</summary>
    public TimeSpan CancelPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Keep counts per minute, for <see cref="ITaskRecords.CountAsync"/>. Default: true.</summary>
    public bool Counters { get; set; } = true;

    /// <summary>An exception's message is trimmed to this many characters in a record. Default: 1,000.</summary>
    public int MaxExceptionMessageChars { get; set; } = 1_000;

    /// <summary>An exception's stack (its <c>ToString()</c>) is trimmed to this many characters in a record. Default: 2,000.</summary>
    public int MaxStackTraceChars { get; set; } = 2_000;

    internal void Validate()
    {
        if (SucceededRetention <= TimeSpan.Zero || FailedRetention < SucceededRetention)
            throw new ArgumentOutOfRangeException(nameof(FailedRetention), $"Retention must be positive, and FailedRetention ({FailedRetention}) at least SucceededRetention ({SucceededRetention}).");
        foreach (var (name, value) in new[] { (nameof(FlushInterval), FlushInterval), (nameof(HeartbeatInterval), HeartbeatInterval), (nameof(CancelPollInterval), CancelPollInterval), (nameof(EnqueueWriteTimeout), EnqueueWriteTimeout), (nameof(WatchInterval), WatchInterval) })
        {
            if (value <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(name, value, $"TaskRecordOptions.{name} must be positive.");
        }

        if (WorkerGoneAfter <= HeartbeatInterval)
            throw new ArgumentOutOfRangeException(nameof(WorkerGoneAfter), WorkerGoneAfter, $"TaskRecordOptions.WorkerGoneAfter must be longer than HeartbeatInterval ({HeartbeatInterval}), or every worker would look gone between heartbeats.");
        if (MaxPendingWrites < 1) throw new ArgumentOutOfRangeException(nameof(MaxPendingWrites), MaxPendingWrites, "At least one write must be able to wait.");
    }
}
