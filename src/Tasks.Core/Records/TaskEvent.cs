using System;

namespace Tasks;

/// <summary>What happened to a task (<see cref="TaskEvent.Kind"/>).</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<TaskEventKind>))] // by name in JSON: a browser reads "Progress", not 2
public enum TaskEventKind
{
    /// <summary>It was enqueued (or released by the task it waited for), due now or later.</summary>
    Enqueued,

    /// <summary>An attempt started (<see cref="TaskEvent.Attempt"/>).</summary>
    Started,

    /// <summary>The running attempt reported its progress (<see cref="TaskEvent.Progress"/>).</summary>
    Progress,

    /// <summary>An attempt failed; the task runs again later.</summary>
    Retrying,

    /// <summary>It succeeded: its last event.</summary>
    Succeeded,

    /// <summary>It was dead-lettered (<see cref="TaskEvent.Reason"/>): its last event.</summary>
    DeadLettered,

    /// <summary>It was cancelled: its last event.</summary>
    Cancelled,
}

/// <summary>One thing that happened to a task, as a watch (<see cref="TaskWatcher"/>) reports it.</summary>
/// <param name="TaskId">The task's id.</param>
/// <param name="Kind">What happened.</param>
/// <param name="At">When it happened (for a progress event, when the progress was reported).</param>
/// <param name="Attempt">The attempt it belongs to (0 for <see cref="TaskEventKind.Enqueued"/>).</param>
public sealed record TaskEvent(string TaskId, TaskEventKind Kind, DateTimeOffset At, int Attempt)
{
    /// <summary>The task's wire name, when known.</summary>
    public string? TaskName { get; init; }

    /// <summary>Its queue, when known.</summary>
    public string? Queue { get; init; }

    /// <summary>The progress reported (<see cref="TaskEventKind.Progress"/>).</summary>
    public TaskProgress? Progress { get; init; }

    /// <summary>Why it was dead-lettered or cancelled, when known.</summary>
    public string? Reason { get; init; }

    /// <summary>The state the task is in after this event.</summary>
    public TaskState State => Kind switch
    {
        TaskEventKind.Enqueued => TaskState.Enqueued,
        TaskEventKind.Started or TaskEventKind.Progress => TaskState.Running,
        TaskEventKind.Retrying => TaskState.Retrying,
        TaskEventKind.Succeeded => TaskState.Succeeded,
        TaskEventKind.DeadLettered => TaskState.DeadLettered,
        _ => TaskState.Cancelled,
    };

    /// <summary>True for the last event of a task: it succeeded, was dead-lettered or cancelled.</summary>
    public bool IsFinal => Kind is TaskEventKind.Succeeded or TaskEventKind.DeadLettered or TaskEventKind.Cancelled;
}

/// <summary>
/// Which tasks a watch follows: one by id, or those of a queue, a task, a state (set any; none for every task). A watch of
/// a query follows the tasks due from an hour before it started; one task's watch follows it whenever it is due.
/// </summary>
public sealed class TaskWatchFilter
{
    /// <summary>Only this task: its events from its first (replayed from its record), to its last.</summary>
    public string? TaskId { get; init; }

    /// <summary>Only tasks of this queue.</summary>
    public string? Queue { get; init; }

    /// <summary>Only this task (its wire name).</summary>
    public string? TaskName { get; init; }

    /// <summary>Only events that leave a task in this state (e.g. <see cref="TaskState.DeadLettered"/>: its failures).</summary>
    public TaskState? State { get; init; }

    /// <summary>Whether the watch follows this task (its state aside: events of other states are noted, not reported).</summary>
    internal bool Follows(string taskId, string? taskName, string? queue)
        => (TaskId is null || TaskId == taskId) && (Queue is null || Queue == queue) && (TaskName is null || TaskName == taskName);

    /// <summary>The watches one poll serves: those of one task, or of one query.</summary>
    internal (string? TaskId, string? Queue, string? TaskName, TaskState? State) Key => (TaskId, TaskId is null ? Queue : null, TaskId is null ? TaskName : null, TaskId is null ? State : null);
}
