using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// What happened to each task: its record (state, history, progress), lists of records, counts by
/// state, and the workers' heartbeats. Resolve it from DI in a host with a record store, or create a
/// store (<see cref="InMemoryTaskRecordStore"/>, <c>AzureTableTaskRecordStore</c>) without one.
/// The queue decides what runs; the record says what happened (see docs/records.md).
/// </summary>
public interface ITaskRecords
{
    /// <summary>The record of task <paramref name="id"/>, or null if there is none (never enqueued with a store, or expired).</summary>
    ValueTask<TaskRecord?> GetAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Records newest first (by the time they are due), a page at a time: pass <see cref="TaskRecordPage.ContinuationToken"/> back for the next.</summary>
    ValueTask<TaskRecordPage> ListAsync(TaskRecordQuery query, CancellationToken cancellationToken = default);

    /// <summary>
    /// How many tasks were enqueued, started, retried, succeeded, dead-lettered and cancelled in
    /// [<paramref name="from"/>, <paramref name="to"/>), to the minute. Read from counters each process
    /// keeps, so its cost depends on the window and the number of processes, never on the number of tasks.
    /// </summary>
    ValueTask<TaskStateCounts> CountAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default);

    /// <summary>Counts per minute over [<paramref name="from"/>, <paramref name="to"/>) (at most a day), oldest first: for a chart.</summary>
    ValueTask<IReadOnlyList<TaskStateCounts>> CountPerMinuteAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default);

    /// <summary>A tracked batch's counts (<see cref="TaskBatch.OnCompleted"/> or <see cref="TaskBatch.Tracked"/>), or null if there is none.</summary>
    ValueTask<TaskBatchRecord?> GetBatchAsync(string batchId, CancellationToken cancellationToken = default);

    /// <summary>The workers that sent a heartbeat lately, alive or gone (those gone for a day are forgotten).</summary>
    ValueTask<IReadOnlyList<TaskWorkerInfo>> ListWorkersAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Cancels task <paramref name="id"/>: a task not yet running never runs (a worker settles it as
    /// cancelled when it receives it); a running task's token fires on its worker within
    /// <see cref="TaskRecordOptions.CancelPollInterval"/> and a little more. A finished or unknown task is not changed.
    /// </summary>
    ValueTask<TaskCancelResult> CancelAsync(string id, CancellationToken cancellationToken = default);
}

/// <summary>A batch's tasks by how they ended, counted per pack as they end.</summary>
/// <param name="Id">The batch's id (<see cref="TaskBatch.Id"/>).</param>
/// <param name="Total">Its tasks.</param>
/// <param name="Succeeded">Those that succeeded.</param>
/// <param name="Failed">Those dead-lettered.</param>
/// <param name="Cancelled">Those cancelled.</param>
/// <param name="Pending">Those not ended yet.</param>
/// <param name="CreatedAt">When it was enqueued.</param>
/// <param name="CallbackId">The id of its callback task (<see cref="TaskBatch.OnCompleted"/>), or null.</param>
/// <param name="CallbackSentAt">When the callback was enqueued, or null if not yet.</param>
public sealed record TaskBatchRecord(string Id, int Total, int Succeeded, int Failed, int Cancelled, int Pending, DateTimeOffset? CreatedAt, string? CallbackId, DateTimeOffset? CallbackSentAt)
{
    /// <summary>The fraction of its tasks that have ended.</summary>
    public double Progress => Total == 0 ? 1 : (double)(Total - Pending) / Total;
}

/// <summary>What <see cref="ITaskRecords.CancelAsync"/> did.</summary>
/// <param name="Outcome">Cancelled, cancel requested, already finished, or not found.</param>
/// <param name="State">The task's state after the call (null if not found).</param>
public sealed record TaskCancelResult(TaskCancelOutcome Outcome, TaskState? State)
{
    /// <summary>A sentence for a person.</summary>
    public string Describe(string id) => Outcome switch
    {
        TaskCancelOutcome.Cancelled => $"Task {id} is cancelled: it will not run.",
        TaskCancelOutcome.Requested => $"Task {id} is running: its cancellation token fires on its worker within seconds.",
        TaskCancelOutcome.AlreadyFinished => $"Task {id} has already finished ({State}); nothing was changed.",
        _ => $"There is no task {id} (never recorded, or its record has expired).",
    };
}

/// <summary>What a cancel did.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<TaskCancelOutcome>))] // by name in JSON: an API that returns a record reads "Succeeded", not 4
public enum TaskCancelOutcome
{
    /// <summary>The task had not started: it is cancelled and will not run.</summary>
    Cancelled,

    /// <summary>The task is running: its worker fires its token at its next poll.</summary>
    Requested,

    /// <summary>The task had finished; nothing changed.</summary>
    AlreadyFinished,

    /// <summary>No record has this id.</summary>
    NotFound,
}

/// <summary>Which records <see cref="ITaskRecords.ListAsync"/> returns: every condition set must hold.</summary>
public sealed class TaskRecordQuery
{
    /// <summary>Only records in this state.</summary>
    public TaskState? State { get; init; }

    /// <summary>Only records of this task (its wire name).</summary>
    public string? TaskName { get; init; }

    /// <summary>Only records of this queue.</summary>
    public string? Queue { get; init; }

    /// <summary>Only tasks due at or after this time. Default: the failed-record retention ago.</summary>
    public DateTimeOffset? From { get; init; }

    /// <summary>Only tasks due before this time. Default: a week from now (the longest delay a queue takes).</summary>
    public DateTimeOffset? To { get; init; }

    /// <summary>At most this many records per page, 1 to 1,000. Default: 50.</summary>
    public int PageSize { get; init; } = 50;

    /// <summary>The <see cref="TaskRecordPage.ContinuationToken"/> of the previous page, or null for the first.</summary>
    public string? ContinuationToken { get; init; }
}

/// <summary>A page of records, newest first.</summary>
/// <param name="Records">The records.</param>
/// <param name="ContinuationToken">Pass it back in <see cref="TaskRecordQuery.ContinuationToken"/> for the next page; null on the last.</param>
public sealed record TaskRecordPage(IReadOnlyList<TaskRecord> Records, string? ContinuationToken);

/// <summary>How many tasks entered each state in a window.</summary>
/// <param name="From">The window's start (whole minutes).</param>
/// <param name="To">Its end.</param>
/// <param name="Enqueued">Tasks enqueued (each task of a pack counts).</param>
/// <param name="Started">Attempts started.</param>
/// <param name="Retried">Attempts that failed and will run again.</param>
/// <param name="Succeeded">Tasks that succeeded.</param>
/// <param name="DeadLettered">Tasks dead-lettered.</param>
/// <param name="Cancelled">Tasks cancelled.</param>
public sealed record TaskStateCounts(DateTimeOffset From, DateTimeOffset To, long Enqueued, long Started, long Retried, long Succeeded, long DeadLettered, long Cancelled)
{
    /// <summary>Tasks that failed for good: dead-lettered.</summary>
    public long Failed => DeadLettered;
}
