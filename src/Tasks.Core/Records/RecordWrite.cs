using System;
using System.Collections.Generic;

namespace Tasks;

/// <summary>
/// What one process has to say about one task's record since its last flush: the fields it knows,
/// null where it knows nothing. Writes of the same task merge (the later field wins, history entries
/// add up), so a short task's start and end become one write.
/// </summary>
internal sealed class RecordWrite
{
    public RecordWrite(string id) => Id = id;

    public string Id { get; }

    // What the enqueuer knows (and a worker, from the envelope).
    public string? TaskName { get; set; }
    public string? Queue { get; set; }
    public int? MaxAttempts { get; set; }
    public DateTimeOffset? EnqueuedAt { get; set; }
    public DateTimeOffset? ScheduledFor { get; set; }
    public string? ArgumentsJson { get; set; }
    public string? ArgumentsNote { get; set; }
    public int? ArgumentsBytes { get; set; }
    public string? UniqueKey { get; set; }
    public string? ParentId { get; set; }
    public bool? Continuable { get; set; }
    public bool? Purged { get; set; }
    public string? BatchId { get; set; }

    /// <summary>Continuations registered under this task: one property each, so two registrations never overwrite each other.</summary>
    public List<string>? ChildIds { get; set; }

    // What a worker (or a cancel) knows.
    public TaskState? State { get; set; }
    public DateTimeOffset? StateAt { get; set; }
    public int? Attempt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    public DateTimeOffset? NextAttemptAt { get; set; }
    public TaskWorkerIdentity? Worker { get; set; }
    public TaskProgress? Progress { get; set; }
    public DateTimeOffset? CancelRequestedAt { get; set; }
    public string? Reason { get; set; }

    /// <summary>The limit a task over it waits for ("" once it runs: the wait is over).</summary>
    public string? WaitingFor { get; set; }

    /// <summary>History entries by their property name (one per attempt, named by its start).</summary>
    public Dictionary<string, TaskAttempt>? History { get; set; }

    /// <summary>Dead-lettered or cancelled: the record moves to the table kept for the failed-record retention.</summary>
    public bool MovesToFailed => State is TaskState.DeadLettered or TaskState.Cancelled;

    /// <summary>Only what an enqueuer's first write may set without overwriting a worker's (no state).</summary>
    public bool HasState => State is not null;

    public void AddAttempt(TaskAttempt attempt)
        => (History ??= new Dictionary<string, TaskAttempt>(StringComparer.Ordinal))[RecordFormat.HistoryProperty(attempt)] = attempt;

    /// <summary>Folds <paramref name="later"/> into this write: its fields win where it has them.</summary>
    public void Merge(RecordWrite later)
    {
        TaskName = later.TaskName ?? TaskName;
        Queue = later.Queue ?? Queue;
        MaxAttempts = later.MaxAttempts ?? MaxAttempts;
        EnqueuedAt = later.EnqueuedAt ?? EnqueuedAt;
        ScheduledFor = later.ScheduledFor ?? ScheduledFor;
        ArgumentsJson = later.ArgumentsJson ?? ArgumentsJson;
        ArgumentsNote = later.ArgumentsNote ?? ArgumentsNote;
        ArgumentsBytes = later.ArgumentsBytes ?? ArgumentsBytes;
        UniqueKey = later.UniqueKey ?? UniqueKey;
        ParentId = later.ParentId ?? ParentId;
        Continuable = later.Continuable ?? Continuable;
        Purged = later.Purged ?? Purged;
        BatchId = later.BatchId ?? BatchId;
        if (later.ChildIds is not null) (ChildIds ??= new List<string>()).AddRange(later.ChildIds);
        if (later.State is not null)
        {
            State = later.State;
            StateAt = later.StateAt;
        }

        Attempt = later.Attempt ?? Attempt;
        StartedAt = StartedAt ?? later.StartedAt; // the first start is the task's
        FinishedAt = later.FinishedAt ?? FinishedAt;
        NextAttemptAt = later.NextAttemptAt ?? NextAttemptAt;
        Worker = later.Worker ?? Worker;
        Progress = later.Progress ?? Progress;
        CancelRequestedAt = later.CancelRequestedAt ?? CancelRequestedAt;
        Reason = later.Reason ?? Reason;
        WaitingFor = later.WaitingFor ?? WaitingFor;
        if (later.History is not null)
        {
            foreach (var (name, attempt) in later.History) (History ??= new Dictionary<string, TaskAttempt>(StringComparer.Ordinal))[name] = attempt;
        }
    }

    /// <summary>A copy without the state, for an enqueue write that finds a worker's write there first.</summary>
    public RecordWrite WithoutState()
    {
        var copy = new RecordWrite(Id);
        copy.Merge(this);
        copy.State = null;
        copy.StateAt = null;
        return copy;
    }
}
