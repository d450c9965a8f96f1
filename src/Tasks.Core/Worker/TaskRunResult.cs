using System;

namespace Tasks;

/// <summary>What became of one delivery of a message.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<TaskOutcome>))] // by name in JSON: an API that returns a record reads "Succeeded", not 4
public enum TaskOutcome
{
    /// <summary>The method returned; the message was deleted.</summary>
    Completed,

    /// <summary>The method threw; the message will be delivered again after <see cref="TaskRunResult.RetryDelay"/>.</summary>
    Retried,

    /// <summary>The message was moved to dead-letter (poison) with a reason.</summary>
    DeadLettered,

    /// <summary>The worker stopped while the task ran; the message was made visible again.</summary>
    Released,

    /// <summary>The task was cancelled by id (<c>CancelAsync</c>), before it ran or while it ran, or a run filter skipped it (<see cref="TaskRunResult.Reason"/> says why); the message was deleted.</summary>
    Cancelled,

    /// <summary>A second copy of a released continuation or batch callback (a release sent twice across a crash): deleted without running.</summary>
    Skipped,

    /// <summary>Over one of its limits (<see cref="ConcurrencyLimitAttribute"/>, <see cref="RateLimitAttribute"/>): not run, back in its queue until <see cref="TaskRunResult.RetryDelay"/> has passed, no attempt used; <see cref="TaskRunResult.Reason"/> names the limit.</summary>
    Deferred,
}

/// <summary>One delivery of a message and its outcome, raised by <see cref="TaskWorker.TaskRan"/>. A value: a run allocates none.</summary>
/// <param name="TaskName">The wire name, or null if the envelope could not be decoded.</param>
/// <param name="Queue">The queue.</param>
/// <param name="MessageId">The message id: the one `Enqueue` returned (the transport's own id only for a message whose envelope could not be read).</param>
/// <param name="Attempt">The attempt (1-based).</param>
/// <param name="Outcome">What happened.</param>
/// <param name="Exception">The failure, if the method threw or the envelope was bad.</param>
/// <param name="RetryDelay">For <see cref="TaskOutcome.Retried"/>, the wait before the next attempt; for <see cref="TaskOutcome.Deferred"/>, before it looks for a place again.</param>
/// <param name="Reason">For <see cref="TaskOutcome.DeadLettered"/>, the dead-letter reason; for a run a filter skipped (<see cref="TaskOutcome.Cancelled"/>), why; for <see cref="TaskOutcome.Deferred"/>, the limit it waits for.</param>
public readonly record struct TaskRunResult(
    string? TaskName,
    string Queue,
    string MessageId,
    int Attempt,
    TaskOutcome Outcome,
    Exception? Exception = null,
    TimeSpan? RetryDelay = null,
    string? Reason = null)
{
    /// <summary>The result of one delivery of <paramref name="message"/>.</summary>
    internal static TaskRunResult Of(ReceivedTaskMessage message, string? taskName, TaskOutcome outcome, Exception? exception = null, TimeSpan? retryDelay = null, string? reason = null)
        => new(taskName, message.Queue, message.MessageId, message.Attempt, outcome, exception, retryDelay, reason);

    /// <summary>The task may have continuations, released when it settles.</summary>
    internal bool Continuable { get; init; }

    /// <summary>The tracked batch the task belongs to, counted when it settles.</summary>
    internal string? BatchId { get; init; }

    /// <summary>The outcome as a final record state, or null if the task goes on (retried, released, skipped).</summary>
    internal TaskState? FinalState => Outcome switch
    {
        TaskOutcome.Completed => TaskState.Succeeded,
        TaskOutcome.DeadLettered => TaskState.DeadLettered,
        TaskOutcome.Cancelled => TaskState.Cancelled,
        _ => null,
    };
}
