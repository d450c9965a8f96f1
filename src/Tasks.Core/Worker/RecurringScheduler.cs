using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MessagePack;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>
/// Keeps the schedules of the recurring tasks (<c>[Recurring]</c>) a worker serves. Every worker keeps
/// them; they agree through one record per task in the <see cref="IScheduleStore"/>: an occurrence is
/// enqueued by the worker whose conditional write claims it first, so each occurrence is enqueued once.
/// </summary>
/// <remarks>
/// The record says the latest occurrence enqueued, so a restart never repeats one. Occurrences that
/// fell due less than <see cref="ClaimTimeout"/> ago are each enqueued, in order (a worker that was
/// slow to look); after a longer outage only the latest missed occurrence is, and the older ones are
/// skipped and logged. A worker claims an occurrence, enqueues it, then records it; a claim left by a worker that died
/// in between is taken over after <see cref="ClaimTimeout"/>. Only a death after the enqueue and before
/// the record would enqueue an occurrence twice.
/// </remarks>
internal sealed partial class RecurringScheduler
{
    /// <summary>How long a claimed occurrence waits for its enqueue before another worker takes it over.</summary>
    public static readonly TimeSpan ClaimTimeout = TimeSpan.FromMinutes(1);

    // After a failure to reach the store or the queue, the next try.
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(5);

    private readonly IReadOnlyList<TaskDefinition> tasks;
    private readonly IScheduleStore store;
    private readonly ITaskClient client;
    private readonly MessagePackSerializerOptions serializerOptions;
    private readonly TimeProvider time;
    private readonly ILogger logger;

    public RecurringScheduler(IEnumerable<TaskDefinition> tasks, IScheduleStore store, ITaskClient client, MessagePackSerializerOptions serializerOptions, TimeProvider time, ILogger logger)
    {
        this.tasks = tasks.Where(t => t.Schedule is not null).ToArray();
        this.store = store;
        this.client = client;
        this.serializerOptions = serializerOptions;
        this.time = time;
        this.logger = logger;
    }

    public IReadOnlyList<TaskDefinition> Tasks => tasks;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var first = true;
        while (!cancellationToken.IsCancellationRequested)
        {
            var wait = await KeepAsync(cancellationToken).ConfigureAwait(false);
            if (first)
            {
                // After the first look, so that the next occurrence logged is not one just caught up.
                foreach (var task in tasks) Log.Keeping(logger, task.Name, task.Schedule!.ToString(), task.Schedule.NextAfter(time.GetUtcNow()));
                first = false;
            }

            await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Enqueues every occurrence that is due and not yet claimed.</summary>
    /// <returns>How long to wait before the next look: until the next occurrence, at most <see cref="ClaimTimeout"/>.</returns>
    public async Task<TimeSpan> KeepAsync(CancellationToken cancellationToken)
    {
        var wait = ClaimTimeout;
        foreach (var task in tasks)
        {
            var checkedAt = time.GetUtcNow();
            try
            {
                while (await KeepAsync(task, checkedAt, cancellationToken).ConfigureAwait(false))
                {
                    checkedAt = time.GetUtcNow();
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.Failed(logger, ex, task.Name, RetryDelay);
                wait = RetryDelay < wait ? RetryDelay : wait;
            }

            // The next occurrence after the instant the store was checked at, not after now: a timer that fired
            // a little early and a slow store would otherwise let an occurrence fall between the two and wait
            // a whole period for it.
            if (task.Schedule!.NextAfter(checkedAt) is { } next && next - time.GetUtcNow() is var untilNext && untilNext < wait) wait = untilNext;
        }

        // Rounded up: Task.Delay truncates to whole milliseconds and would wake just before the occurrence.
        return wait <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Ceiling(wait.TotalMilliseconds));
    }

    /// <returns>True if this worker enqueued an occurrence: the next one may be due too.</returns>
    private async Task<bool> KeepAsync(TaskDefinition task, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var stored = await store.ReadScheduleAsync(task.Name, cancellationToken).ConfigureAwait(false);
        if (stored is null)
        {
            // The schedule is new: it starts now, and occurrences before it never run.
            await store.TryWriteScheduleAsync(task.Name, new ScheduleState(now), null, cancellationToken).ConfigureAwait(false);
            return false;
        }

        var state = stored.State;
        DateTimeOffset occurrence;
        var skipped = 0;
        if (state.Pending is { } pending)
        {
            // Another worker is enqueueing it, unless that worker died after its claim.
            if (now - state.PendingSince < ClaimTimeout) return false;
            occurrence = pending;
        }
        else
        {
            var (count, first, latest) = task.Schedule!.Due(state.LastOccurrence, now);
            if (first is not { } earliest) return false;
            if (now - earliest <= ClaimTimeout)
            {
                occurrence = earliest;
            }
            else
            {
                occurrence = latest!.Value;
                skipped = count - 1;
            }
        }

        var claim = await store.TryWriteScheduleAsync(task.Name, state with { Pending = occurrence, PendingSince = now }, stored.Version, cancellationToken).ConfigureAwait(false);
        if (claim is null) return false; // another worker claimed it first

        string messageId;
        try
        {
            messageId = await task.EnqueueWithoutArgumentsAsync(client, serializerOptions, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Give the occurrence back at once rather than after the claim times out.
            await store.TryWriteScheduleAsync(task.Name, state, claim, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        if (skipped > 0) Log.Skipped(logger, skipped, task.Name, state.LastOccurrence, occurrence);
        Log.Enqueued(logger, task.Name, occurrence, messageId);
        // Written even as the worker stops: the occurrence is in its queue now, and a claim left pending would be
        // enqueued again by the next worker once it timed out.
        if (await store.TryWriteScheduleAsync(task.Name, new ScheduleState(occurrence), claim, CancellationToken.None).ConfigureAwait(false) is null)
            Log.ClaimTakenOver(logger, task.Name, occurrence, ClaimTimeout);
        return true;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Keeping the schedule of recurring task {TaskName}: {Schedule}; next occurrence {Next:o}")]
        public static partial void Keeping(ILogger logger, string taskName, string schedule, DateTimeOffset? next);

        [LoggerMessage(2, LogLevel.Information, "Recurring task {TaskName}: the occurrence of {Occurrence:o} was enqueued as message {MessageId}")]
        public static partial void Enqueued(ILogger logger, string taskName, DateTimeOffset occurrence, string messageId);

        [LoggerMessage(3, LogLevel.Warning, "Recurring task {TaskName}: {Skipped} occurrence(s) between {Last:o} and {Occurrence:o} were missed while no worker kept the schedule; only the latest runs")]
        public static partial void Skipped(ILogger logger, int skipped, string taskName, DateTimeOffset last, DateTimeOffset occurrence);

        [LoggerMessage(4, LogLevel.Warning, "Recurring task {TaskName}: could not keep the schedule; trying again in {Delay}")]
        public static partial void Failed(ILogger logger, Exception exception, string taskName, TimeSpan delay);

        [LoggerMessage(5, LogLevel.Warning, "Recurring task {TaskName}: the occurrence of {Occurrence:o} took longer than {ClaimTimeout} to enqueue and another worker took it over; it may run twice")]
        public static partial void ClaimTakenOver(ILogger logger, string taskName, DateTimeOffset occurrence, TimeSpan claimTimeout);
    }
}
