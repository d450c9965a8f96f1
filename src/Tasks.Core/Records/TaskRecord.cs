using System;
using System.Collections.Generic;
using System.Linq;

namespace Tasks;

/// <summary>Where a task is in its life, as its record tells it (see docs/records.md for the transitions).</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<TaskState>))] // by name in JSON: an API that returns a record reads "Succeeded", not 4
public enum TaskState
{
    /// <summary>Enqueued with a delay that has not passed yet.</summary>
    Scheduled,

    /// <summary>A continuation (or a batch's callback) waiting for the task (or batch) in <see cref="TaskRecord.ParentId"/>.</summary>
    AwaitingParent,

    /// <summary>Waiting in its queue for a worker (also after its worker stopped heartbeating while it ran: its message comes back when the lease ends).</summary>
    Enqueued,

    /// <summary>A worker runs it now.</summary>
    Running,

    /// <summary>An attempt failed; it runs again at <see cref="TaskRecord.NextAttemptAt"/>.</summary>
    Retrying,

    /// <summary>The method returned.</summary>
    Succeeded,

    /// <summary>Every attempt failed, or it failed permanently, or its message could not be read: it is in the dead letters.</summary>
    DeadLettered,

    /// <summary>Cancelled by id before or while it ran.</summary>
    Cancelled,
}

/// <summary>What is known of one task: its state, arguments, times, worker, progress and one history entry per attempt.</summary>
public sealed class TaskRecord
{
    /// <summary>The task's id: the one <c>Enqueue</c> returned.</summary>
    public required string Id { get; init; }

    /// <summary>The task's wire name, or null if the record holds only what a worker wrote and the worker could not read it.</summary>
    public string? TaskName { get; init; }

    /// <summary>The queue.</summary>
    public string? Queue { get; init; }

    /// <summary>The state.</summary>
    public TaskState State { get; init; }

    /// <summary>When the record reached <see cref="State"/>.</summary>
    public DateTimeOffset? StateChangedAt { get; init; }

    /// <summary>The attempts made so far (the attempt running now included).</summary>
    public int Attempts { get; init; }

    /// <summary>The attempts the task has before it is dead-lettered.</summary>
    public int MaxAttempts { get; init; }

    /// <summary>
    /// The arguments as a JSON array in parameter order, or null if they are not recorded: the task
    /// carries personal data (<c>[AsyncTask(PersonalData = true)]</c>), recording is off
    /// (<see cref="TaskRecordOptions.RecordArguments"/>), or they are larger than <see cref="TaskRecordOptions.MaxArgumentsJsonChars"/>.
    /// </summary>
    public string? ArgumentsJson { get; init; }

    /// <summary>Why <see cref="ArgumentsJson"/> is null, if it is: a sentence for a person.</summary>
    public string? ArgumentsNote { get; init; }

    /// <summary>The size of the encoded arguments, in bytes.</summary>
    public int? ArgumentsBytes { get; init; }

    /// <summary>When <c>Enqueue</c> sent it.</summary>
    public DateTimeOffset? EnqueuedAt { get; init; }

    /// <summary>When it may run first: the enqueue time plus its delay.</summary>
    public DateTimeOffset? ScheduledFor { get; init; }

    /// <summary>When its first attempt started.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When it reached a final state (succeeded, dead-lettered, cancelled).</summary>
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>For <see cref="TaskState.Retrying"/>: when the next attempt may start.</summary>
    public DateTimeOffset? NextAttemptAt { get; init; }

    /// <summary>The worker that runs it now, or ran it last.</summary>
    public TaskWorkerIdentity? Worker { get; init; }

    /// <summary>The last progress the task reported, if it did.</summary>
    public TaskProgress? Progress { get; init; }

    /// <summary>When a cancel was asked for, if one was.</summary>
    public DateTimeOffset? CancelRequestedAt { get; init; }

    /// <summary>Why it was dead-lettered or cancelled, for a final state other than success.</summary>
    public string? Reason { get; init; }

    /// <summary>
    /// For a task over one of its limits (<see cref="ConcurrencyLimitAttribute"/>, <see cref="RateLimitAttribute"/>), while
    /// it waits in its queue: which limit, and when it looks again (<see cref="ScheduledFor"/>). Null otherwise.
    /// </summary>
    public string? WaitingFor { get; init; }

    /// <summary>What a person should know about the record that its state does not say (a gone worker, say), or null.</summary>
    public string? Note { get; init; }

    /// <summary>The task (or batch) this continuation (or callback) waits or waited for.</summary>
    public string? ParentId { get; init; }

    /// <summary>For a dead-lettered task: its dead letter was purged, so it cannot be requeued.</summary>
    public bool DeadLetterPurged { get; init; }

    /// <summary>True if the task was enqueued to take continuations (<see cref="TaskEnqueueOptions.AllowContinuations"/>).</summary>
    public bool Continuable { get; init; }

    /// <summary>The continuations registered under this task.</summary>
    public IReadOnlyList<string> Children { get; init; } = Array.Empty<string>();

    /// <summary>The tracked batch this task belongs to (or whose callback it is).</summary>
    public string? BatchId { get; init; }

    /// <summary>The unique key the task holds (<c>[AsyncTask(UniqueFor = ...)]</c>), if it has one.</summary>
    public string? UniqueKey { get; init; }

    /// <summary>One entry per attempt, oldest first.</summary>
    public IReadOnlyList<TaskAttempt> History { get; init; } = Array.Empty<TaskAttempt>();

    /// <summary>True for a final state: succeeded, dead-lettered or cancelled.</summary>
    public bool IsFinished => State is TaskState.Succeeded or TaskState.DeadLettered or TaskState.Cancelled;
}

/// <summary>One attempt of a task.</summary>
/// <param name="Attempt">1 for the first run, 2 for the first retry, and so on (a requeued dead letter counts afresh).</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="FinishedAt">When it ended, or null while it runs (or if its worker was lost).</param>
/// <param name="Outcome">How it ended, or null while it runs.</param>
/// <param name="Worker">Where it ran.</param>
/// <param name="Exception">What it threw, trimmed (see <see cref="TaskRecordOptions"/>), or null.</param>
public sealed record TaskAttempt(int Attempt, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, TaskOutcome? Outcome, TaskWorkerIdentity? Worker, TaskExceptionInfo? Exception)
{
    /// <summary>How long it ran, once it ended.</summary>
    public TimeSpan? Duration => FinishedAt - StartedAt;
}

/// <summary>An exception as a record keeps it: type, message and stack, each trimmed to a stated size.</summary>
/// <param name="Type">The exception's full type name.</param>
/// <param name="Message">Its message (at most <see cref="TaskRecordOptions.MaxExceptionMessageChars"/> characters).</param>
/// <param name="StackTrace">Its <c>ToString()</c>, inner exceptions included (at most <see cref="TaskRecordOptions.MaxStackTraceChars"/> characters).</param>
public sealed record TaskExceptionInfo(string Type, string Message, string? StackTrace);

/// <summary>How far a running task says it is.</summary>
/// <param name="Fraction">From 0 to 1.</param>
/// <param name="Note">What it is doing, if it said.</param>
/// <param name="ReportedAt">When it said so.</param>
public sealed record TaskProgress(double Fraction, string? Note, DateTimeOffset ReportedAt);

/// <summary>Which worker process: its id, machine and process id.</summary>
/// <param name="Id">Unique per worker instance (machine, process id and a random part).</param>
/// <param name="Machine">The machine name.</param>
/// <param name="ProcessId">The process id.</param>
public sealed record TaskWorkerIdentity(string Id, string Machine, int ProcessId)
{
    /// <summary>This process, with an id of its own: machine, process id and 8 random hex digits.</summary>
    internal static TaskWorkerIdentity ForThisProcess() => new(NewId(), Environment.MachineName, Environment.ProcessId);

    /// <summary>An id unique per process instance, usable as a table row key.</summary>
    internal static string NewId()
    {
        var machine = new string(Environment.MachineName.Where(char.IsLetterOrDigit).Take(40).ToArray());
        return $"{machine}-{Environment.ProcessId}-{Guid.NewGuid():N}"[..(machine.Length + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture).Length + 10)];
    }
}

/// <summary>A worker as its last heartbeat describes it.</summary>
/// <param name="Worker">Which worker.</param>
/// <param name="Queues">The queues it listens on.</param>
/// <param name="Running">The ids of the tasks it was running (at most 100).</param>
/// <param name="InFlight">How many tasks it was running, by queue.</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="LastSeen">Its last heartbeat.</param>
/// <param name="IsAlive">False once it has been silent longer than <see cref="TaskRecordOptions.WorkerGoneAfter"/>, or it stopped.</param>
public sealed record TaskWorkerInfo(TaskWorkerIdentity Worker, IReadOnlyList<string> Queues, IReadOnlyList<string> Running, IReadOnlyDictionary<string, int> InFlight, DateTimeOffset StartedAt, DateTimeOffset LastSeen, bool IsAlive);
