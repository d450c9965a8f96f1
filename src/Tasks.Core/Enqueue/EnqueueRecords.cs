using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// What an enqueue writes in the record store: each task's record as it is sent (side by side with the send, never
/// holding it up for long), what was not sent, and the locks of unique tasks (claimed before the send, then marked
/// sent or not at once, so callers waiting on a lock learn it now).
/// </summary>
internal sealed class EnqueueRecords(TaskRecordWriter records, TimeProvider time)
{
    public TaskRecordWriter Writer => records;

    public TaskRecordStore Store => records.Store;

    public TaskRecordOptions Options => records.Options;

    /// <summary>Counts tasks enqueued, with the writer's next flush.</summary>
    public void CountEnqueued(DateTimeOffset at, int count = 1) => records.Count(ProcessCounters.EnqueuedField, at, count);

    /// <summary>Takes a unique task's lock; returns the id of the task that holds it, or null if this one does now.</summary>
    public async ValueTask<string?> ClaimUniqueAsync(string taskName, string queue, string uniqueLock, string messageId, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        try
        {
            return await records.Store.UniqueLocks.ClaimAsync(uniqueLock, messageId, taskName, expiresAt, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A claim given up may still be applied by a store that wakes: released once it answers, it holds no task that does not exist.
            records.ReleaseUnique(uniqueLock, messageId);
            throw new TaskEnqueueException(taskName, queue, $"Task '{taskName}' was not enqueued: its unique lock could not be taken in the record store ({records.Store.Describe()}): {ex.Message}", ex);
        }
    }

    public RecordWrite EnqueuedRecord(TaskDefinition task, string messageId, DateTimeOffset now, TaskEnqueueOptions? options, ReadOnlyMemory<byte> argumentBytes, string? uniqueLock, bool offloaded)
    {
        // Arguments that travel in the payload store are not copied into the record: shown, they would be fetched unasked.
        var (json, note) = offloaded
            ? (null, $"Not recorded: the arguments ({argumentBytes.Length:N0} bytes) travel in the payload store (a blob on Azure), too large for a message.")
            : ArgumentsJson.Of(task, argumentBytes, records.Options);
        var delayed = options?.Delay > TimeSpan.Zero;
        return new RecordWrite(messageId)
        {
            TaskName = task.Name,
            Queue = task.Queue,
            MaxAttempts = task.MaxAttempts,
            EnqueuedAt = now,
            ScheduledFor = delayed ? now + options!.Delay : null,
            ArgumentsJson = json,
            ArgumentsNote = note,
            ArgumentsBytes = argumentBytes.Length,
            UniqueKey = uniqueLock,
            Continuable = options?.AllowContinuations == true ? true : null,
            State = delayed ? TaskState.Scheduled : TaskState.Enqueued,
            StateAt = now,
        };
    }

    /// <summary>
    /// Writes the records of tasks being sent. A store slower than <see cref="TaskRecordOptions.EnqueueWriteTimeout"/>
    /// or failing does not fail the enqueue: the write goes on in the background, without a state,
    /// so it cannot undo what a worker writes meanwhile.
    /// </summary>
    public async Task CreateAsync(IReadOnlyList<RecordWrite> writes)
    {
        records.Store.Watcher.Observe(writes);
        var creating = records.Store.Writes.CreateAsync(writes, CancellationToken.None).AsTask();
        if (await Task.WhenAny(creating, Task.Delay(records.Options.EnqueueWriteTimeout, time)).ConfigureAwait(false) == creating && creating.IsCompletedSuccessfully) return;
        _ = creating.ContinueWith(static t => TasksTelemetry.RecordWriteFailures.Add(1), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        foreach (var write in writes) records.Write(write.WithoutState());
    }

    /// <summary>What the record of a task whose send failed says (a copy that arrives all the same as a redelivery is dropped: <see cref="RedeliveryCheck"/>).</summary>
    internal const string NotSentReason = "Not enqueued: sending its message failed (Enqueue threw TaskEnqueueException).";

    /// <summary>Records of tasks whose send failed say so (a send that did reach the queue is overruled by its worker's later state).</summary>
    public void NotSent(IReadOnlyList<RecordWrite> writes)
    {
        var now = time.GetUtcNow();
        foreach (var write in writes)
            records.Write(new RecordWrite(write.Id) { State = TaskState.Cancelled, StateAt = now, FinishedAt = now, Reason = NotSentReason });
    }

    /// <summary>
    /// Tells a unique task's lock whether its message was sent, at once, so callers waiting on the lock learn it now:
    /// sent, they get this task's id; not sent, the next takes the lock over (not released: a send given up at its
    /// deadline may still arrive, and its worker then finds the lock taken over and drops it). A store that fails is
    /// told with the writer's next flush.
    /// </summary>
    public async ValueTask TellUniqueLockAsync(string uniqueLock, string id, bool sent)
    {
        try
        {
            await records.Store.UniqueLocks.MarkAsync(uniqueLock, id, sent, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
            records.MarkUnique(uniqueLock, id, sent);
        }
    }
}
