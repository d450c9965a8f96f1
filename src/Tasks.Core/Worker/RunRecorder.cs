using System;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>
/// What the worker tells the task records of each run: its start and end, a cancel before it ran, a dead letter
/// (into the writer, which coalesces and batches them: no storage call on the run path), and the unique lock a task
/// that ended frees. Nothing is written of a task an operator deleted. Without records, it only logs.
/// </summary>
internal sealed class RunRecorder(TaskRecordWriter? records, CancelRequests cancels, TaskWorkerIdentity identity, ILogger logger, TimeProvider time)
{
    /// <summary>The writer, for a task whose record may be written; null without records or for one an operator deleted.</summary>
    public TaskRecordWriter? For(string id) => records is not null && !cancels.IsDeleted(id) ? records : null;

    public void Started(ReceivedTaskMessage message, TaskDefinition task, DateTimeOffset started)
    {
        if (For(message.MessageId) is not { } writer) return;
        var write = new RecordWrite(message.MessageId)
        {
            TaskName = task.Name,
            Queue = message.Queue,
            MaxAttempts = task.MaxAttempts,
            State = TaskState.Running,
            StateAt = started,
            Attempt = message.Attempt,
            StartedAt = message.Attempt == 1 ? started : null,
            Worker = identity,
            WaitingFor = message.WaitingSince is null ? null : "", // it waited for a limit: no more
        };
        write.AddAttempt(new TaskAttempt(message.Attempt, started, null, null, identity, null));
        writer.Write(write);
        writer.Count(ProcessCounters.StartedField, started);
    }

    /// <summary>The end of a run: its history entry, and the state it leaves the task in (a dead letter's is written by <see cref="DeadLettered"/>).</summary>
    public void Ended(ReceivedTaskMessage message, DecodedEnvelope decoded, DateTimeOffset started, RunDecision decision)
    {
        if (For(message.MessageId) is not { } writer) return;
        var now = time.GetUtcNow();
        var write = new RecordWrite(message.MessageId) { Attempt = message.Attempt, Worker = identity };
        write.AddAttempt(new TaskAttempt(message.Attempt, started, now, decision.Outcome, identity, RecordFormat.Trim(decision.Failure, writer.Options)));
        switch (decision.Outcome)
        {
            case TaskOutcome.Completed:
                (write.State, write.FinishedAt) = (TaskState.Succeeded, now);
                writer.Count(ProcessCounters.SucceededField, now);
                break;
            case TaskOutcome.Retried:
                (write.State, write.NextAttemptAt) = (TaskState.Retrying, now + decision.RetryDelay.GetValueOrDefault());
                writer.Count(ProcessCounters.RetriedField, now);
                break;
            case TaskOutcome.Released:
                write.State = TaskState.Enqueued; // back in its queue for another worker
                break;
            case TaskOutcome.Cancelled:
                (write.State, write.FinishedAt, write.Reason) = (TaskState.Cancelled, now, decision.Reason ?? "Cancelled by id while it ran: its token fired.");
                writer.Count(ProcessCounters.CancelledField, now);
                break;
        }

        if (write.State is not null) write.StateAt = now;
        writer.Write(write);
        if (decision.Outcome is TaskOutcome.Completed or TaskOutcome.Cancelled) ReleaseUnique(writer, message, decoded);
    }

    /// <summary>A task over a limit: back in its queue until <paramref name="delay"/> has passed; its record says what it waits for.</summary>
    public TaskRunResult Deferred(ReceivedTaskMessage message, TaskDefinition task, TimeSpan delay, string reason)
    {
        WorkerLog.Deferred(logger, task.Name, message.MessageId, reason);
        if (For(message.MessageId) is { } writer)
        {
            var now = time.GetUtcNow();
            writer.Write(new RecordWrite(message.MessageId) { TaskName = task.Name, Queue = message.Queue, State = TaskState.Scheduled, StateAt = now, ScheduledFor = now + delay, WaitingFor = reason });
        }

        return TaskRunResult.Of(message, task.Name, TaskOutcome.Deferred, retryDelay: delay, reason: reason);
    }

    /// <summary>A task cancelled before it ran: settled as cancelled, never run.</summary>
    public TaskRunResult CancelledBeforeRun(ReceivedTaskMessage message, DecodedEnvelope decoded)
    {
        WorkerLog.CancelledBeforeRun(logger, decoded.Definition.Name, message.MessageId);
        if (For(message.MessageId) is { } writer)
        {
            var now = time.GetUtcNow();
            writer.Write(new RecordWrite(message.MessageId) { TaskName = decoded.Definition.Name, Queue = message.Queue, State = TaskState.Cancelled, StateAt = now, FinishedAt = now, Reason = "Cancelled by id before it ran." });
            writer.Count(ProcessCounters.CancelledField, now);
            ReleaseUnique(writer, message, decoded);
        }

        return TaskRunResult.Of(message, decoded.Definition.Name, TaskOutcome.Cancelled);
    }

    /// <summary>A message that goes to the dead letters, with the reason: logged, recorded, and its result.</summary>
    public TaskRunResult DeadLettered(ReceivedTaskMessage message, string? taskName, string reason, Exception? exception, DecodedEnvelope? decoded)
    {
        WorkerLog.DeadLettered(logger, exception, message.MessageId, message.Queue, reason);
        if (For(message.MessageId) is { } writer)
        {
            var now = time.GetUtcNow();
            writer.Write(new RecordWrite(message.MessageId) { TaskName = taskName, Queue = message.Queue, State = TaskState.DeadLettered, StateAt = now, FinishedAt = now, Reason = reason });
            writer.Count(ProcessCounters.DeadLetteredField, now);
            if (decoded is { } envelope) ReleaseUnique(writer, message, envelope);
        }

        return TaskRunResult.Of(message, taskName, TaskOutcome.DeadLettered, exception, reason: reason);
    }

    /// <summary>
    /// A second message of a task whose run another claimed, dropped. A unique task sent twice from an outbox took its
    /// lock again with its second send (the first run had freed it): freed now, or it would turn away the next task of
    /// its key until it lapsed.
    /// </summary>
    public void DuplicateSkipped(ReceivedTaskMessage message, DecodedEnvelope decoded)
    {
        if (For(message.MessageId) is { } writer) ReleaseUnique(writer, message, decoded);
    }

    /// <summary>A unique task that ended frees its lock (its headers are read only for a unique task).</summary>
    private static void ReleaseUnique(TaskRecordWriter writer, ReceivedTaskMessage message, DecodedEnvelope decoded)
    {
        if (decoded.Definition.UniqueFor is null && !decoded.HasUniqueHeader) return;
        if (decoded.ReadHeaders().TryGetValue(TaskHeaders.Unique, out var uniqueLock)) writer.ReleaseUnique(uniqueLock, message.MessageId);
    }
}
