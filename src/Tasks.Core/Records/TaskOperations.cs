using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MessagePack;

namespace Tasks;

/// <summary>
/// What an operator does to one task or schedule, by id or name, over the records, the dead letters
/// and the client: requeue, cancel, delete, trigger a recurring task now. The dashboard's buttons
/// and the CLI are these calls; a host registers it (<c>AddAsyncTasks()</c>).
/// </summary>
public sealed class TaskOperations
{
    private readonly ITaskClient client;
    private readonly ITaskDeadLetters deadLetters;
    private readonly TaskRecordStore? records;
    private readonly IScheduleStore? schedules;
    private readonly TaskRegistry registry;
    private readonly MessagePackSerializerOptions serializerOptions;
    private readonly TimeProvider time;

    /// <summary>Creates the operations.</summary>
    /// <param name="client">Enqueues what is triggered.</param>
    /// <param name="deadLetters">Where requeues and deletes of dead letters go.</param>
    /// <param name="records">The task records; null if there are none (requeue and delete then need the queue).</param>
    /// <param name="schedules">Where recurring tasks keep their schedules (the transport), or null.</param>
    /// <param name="registry">The tasks; <see cref="TaskRegistry.Default"/> if null.</param>
    /// <param name="serializerOptions">How a triggered task's (empty) arguments are read.</param>
    /// <param name="timeProvider">The clock of next occurrences.</param>
    public TaskOperations(ITaskClient client, ITaskDeadLetters deadLetters, TaskRecordStore? records = null, IScheduleStore? schedules = null, TaskRegistry? registry = null, MessagePackSerializerOptions? serializerOptions = null, TimeProvider? timeProvider = null)
    {
        this.client = client ?? throw new ArgumentNullException(nameof(client));
        this.deadLetters = deadLetters ?? throw new ArgumentNullException(nameof(deadLetters));
        this.records = records;
        this.schedules = schedules;
        this.registry = registry ?? TaskRegistry.Default;
        this.serializerOptions = serializerOptions ?? TaskSerializer.DefaultOptions;
        time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The record store, or null.</summary>
    public ITaskRecords? Records => records;

    /// <summary>
    /// Sends a dead-lettered task back to its queue, keeping its id (its attempts count afresh);
    /// false if it is not in its queue's dead letters.
    /// </summary>
    public async ValueTask<bool> RequeueAsync(string id, CancellationToken cancellationToken = default)
    {
        var queue = await QueueOfAsync(id, cancellationToken).ConfigureAwait(false);
        if (queue is null) return false;
        return (await deadLetters.RequeueDeadLettersAsync(queue, new DeadLetterFilter { MessageId = id }, cancellationToken).ConfigureAwait(false)).Count > 0;
    }

    /// <summary>Cancels a task (see <see cref="ITaskRecords.CancelAsync"/>).</summary>
    public ValueTask<TaskCancelResult> CancelAsync(string id, CancellationToken cancellationToken = default) => client.CancelAsync(id, cancellationToken);

    /// <summary>
    /// Deletes a task: cancels it if it has not finished (so it never runs, or stops), deletes its dead
    /// letter if it has one, then its record. False if there was nothing of it to delete.
    /// </summary>
    public async ValueTask<bool> DeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        var record = records is null ? null : await records.GetAsync(id, cancellationToken).ConfigureAwait(false);
        if (record is { IsFinished: false }) await records!.CancelAsync(id, deleting: true, cancellationToken).ConfigureAwait(false);
        var deleted = record?.Queue is { } queue && (await deadLetters.DeleteDeadLettersAsync(queue, new DeadLetterFilter { MessageId = id }, cancellationToken).ConfigureAwait(false)).Count > 0;
        if (records is not null) deleted |= await records.Writes.DeleteAsync(id, cancellationToken).ConfigureAwait(false);
        return deleted;
    }

    /// <summary>Every recurring task: its schedule, the last occurrence enqueued and the next.</summary>
    public async ValueTask<IReadOnlyList<TaskScheduleInfo>> ListSchedulesAsync(CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var result = new List<TaskScheduleInfo>();
        foreach (var task in registry.Definitions.Where(d => d.Schedule is not null).OrderBy(d => d.Name, StringComparer.Ordinal))
        {
            var stored = schedules is null ? null : await schedules.ReadScheduleAsync(task.Name, cancellationToken).ConfigureAwait(false);
            DateTimeOffset? next;
            try
            {
                next = task.Schedule!.NextAfter(now);
            }
            catch (InvalidOperationException)
            {
                next = null; // a time zone this machine does not know: the worker says so when it starts
            }

            result.Add(new TaskScheduleInfo(task.Name, task.Queue, task.Schedule!.Cron, task.Schedule.TimeZoneId, stored?.State.LastOccurrence, next));
        }

        return result;
    }

    /// <summary>Enqueues a recurring task now, besides its schedule; returns its id.</summary>
    /// <exception cref="ArgumentException">No recurring task has that name.</exception>
    public ValueTask<string> TriggerAsync(string taskName, CancellationToken cancellationToken = default)
    {
        var task = registry.Definitions.FirstOrDefault(d => d.Name == taskName && d.Schedule is not null)
            ?? throw new ArgumentException($"No recurring task is named '{taskName}'.", nameof(taskName));
        return task.EnqueueWithoutArgumentsAsync(client, serializerOptions, cancellationToken);
    }

    private async ValueTask<string?> QueueOfAsync(string id, CancellationToken cancellationToken)
        => records is not null && await records.GetAsync(id, cancellationToken).ConfigureAwait(false) is { Queue: { } queue } ? queue : null;
}

/// <summary>A recurring task's schedule as an operator sees it.</summary>
/// <param name="TaskName">The task's wire name.</param>
/// <param name="Queue">Its queue.</param>
/// <param name="Cron">The cron expression.</param>
/// <param name="TimeZone">The time zone it is read in.</param>
/// <param name="LastOccurrence">The latest occurrence enqueued (or when the schedule was first kept), or null if no worker has kept it yet.</param>
/// <param name="NextOccurrence">The next occurrence, by this machine's clock.</param>
public sealed record TaskScheduleInfo(string TaskName, string Queue, string Cron, string TimeZone, DateTimeOffset? LastOccurrence, DateTimeOffset? NextOccurrence);
