using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// What a running task can know about its message: tasks run at least once, so use
/// <see cref="MessageId"/> to make them idempotent and <see cref="Attempt"/> to see retries.
/// </summary>
public sealed class TaskContext
{
    private static readonly AsyncLocal<TaskContext?> current = new();
    private readonly DecodedEnvelope decoded;
    private readonly TaskRecordWriter? records;
    private readonly TimeProvider time;
    private IReadOnlyDictionary<string, string>? headers;

    internal TaskContext(ReceivedTaskMessage message, DecodedEnvelope decoded, TaskRecordWriter? records = null, TimeProvider? time = null)
    {
        Message = message;
        this.decoded = decoded;
        this.records = records;
        this.time = time ?? TimeProvider.System;
    }

    /// <summary>The context of the task running on this async flow; null outside a task.</summary>
    public static TaskContext? Current
    {
        get => current.Value;
        internal set => current.Value = value;
    }

    internal ReceivedTaskMessage Message { get; }

    /// <summary>Why a run filter skipped this run (<see cref="TaskRunContext.Skip"/>), or null.</summary>
    internal string? SkippedBecause { get; set; }

    /// <summary>The task's wire name.</summary>
    public string TaskName => decoded.Definition.Name;

    /// <summary>The queue the message came from.</summary>
    public string Queue => Message.Queue;

    /// <summary>The message id; the same on every attempt.</summary>
    public string MessageId => Message.MessageId;

    /// <summary>1 on the first run, 2 on the first retry, and so on.</summary>
    public int Attempt => Message.Attempt;

    /// <summary>How many attempts the task has before it is dead-lettered.</summary>
    public int MaxAttempts => decoded.Definition.MaxAttempts;

    /// <summary>The envelope's headers (message id, enqueued-at, traceparent).</summary>
    public IReadOnlyDictionary<string, string> Headers => headers ??= decoded.ReadHeaders();

    /// <summary>
    /// What this task ran after: a continuation's parent (<see cref="TaskEnqueueOptions.After"/>), or, for a
    /// batch's <see cref="TaskBatch.OnCompleted"/> callback, the batch's id (for <see cref="ITaskRecords.GetBatchAsync"/>).
    /// Null for other tasks.
    /// </summary>
    public string? ParentId => Headers.TryGetValue(TaskHeaders.Parent, out var parent) ? parent : null;

    /// <summary>The tracked batch this task is one of (<see cref="TaskBatch.Id"/>), or null. (A batch's callback is not one of its tasks: its <see cref="ParentId"/> is the batch.)</summary>
    public string? BatchId => Headers.TryGetValue(TaskHeaders.Batch, out var batch) ? batch : null;

    /// <summary>
    /// Tells the task's record how far it is. Costs no storage call here: the worker writes the last
    /// value with its next flush (at most about one write a second, however often this is called),
    /// and always before the task settles. Does nothing without a record store.
    /// </summary>
    /// <param name="fraction">From 0 (started) to 1 (done).</param>
    /// <param name="note">What it is doing now, e.g. "row 1,200 of 20,000"; at most 200 characters are kept.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fraction"/> is not from 0 to 1.</exception>
    public ValueTask ReportProgressAsync(double fraction, string? note = null)
    {
        if (double.IsNaN(fraction) || fraction < 0 || fraction > 1) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "Progress is a fraction from 0 to 1.");
        records?.Write(new RecordWrite(MessageId) { Progress = new TaskProgress(fraction, RecordFormat.Trimmed(note, 200), time.GetUtcNow()) });
        return default;
    }
}
