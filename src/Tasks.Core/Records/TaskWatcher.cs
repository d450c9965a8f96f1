using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Streams of task events (<see cref="WatchAsync"/>) and waits for a task's end (<see cref="WaitAsync"/>). A record store
/// has one (<see cref="TaskRecordStore.Watcher"/>). Events of tasks enqueued or run in this process arrive at once, from
/// the record writes themselves; those of other processes from the record store, read every
/// <see cref="TaskRecordOptions.WatchInterval"/> (1 s) by one poll that every watch of this process shares: one read per
/// task watched and one list per query watched, whatever the number of watchers. With no watch, it reads nothing.
/// </summary>
public sealed class TaskWatcher
{
    /// <summary>A query watch follows tasks due from this long before it started: older ones' day tables are not read at each poll.</summary>
    private static readonly TimeSpan QueryLookBack = TimeSpan.FromHours(1);

    /// <summary>How long a watch of one task holds this process's events while the task has no record yet.</summary>
    private static readonly TimeSpan RecordWait = TimeSpan.FromSeconds(5);

    private readonly ITaskRecords records;
    private readonly TimeProvider time;
    private readonly object gate = new();
    private readonly List<Subscription> subscriptions = new();
    private int watching;
    private bool polling;
    private CancellationTokenSource wake = new();
    private long reads;

    /// <summary>A watcher over <paramref name="records"/> (a record store, or another process's view of one).</summary>
    public TaskWatcher(ITaskRecords records, TimeSpan? pollInterval = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        this.records = records;
        time = timeProvider ?? TimeProvider.System;
        PollInterval = pollInterval ?? TimeSpan.FromSeconds(1);
        if (PollInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(pollInterval), pollInterval, "The watch interval must be positive.");
    }

    /// <summary>How often the shared poll reads the record store while anything is watched.</summary>
    public TimeSpan PollInterval { get; }

    /// <summary>The reads and lists the poll has made of the record store, for those who measure its cost.</summary>
    public long StoreReads => Interlocked.Read(ref reads);

    /// <summary>
    /// The events of the tasks <paramref name="filter"/> names, as they happen, in order per task. A watch of one task
    /// (<see cref="TaskWatchFilter.TaskId"/>) starts with what its record says happened already and ends with its last
    /// event (it waits, like <see cref="WaitAsync"/>, for a task with no record yet); a watch of a query reports what
    /// happens from its start on, until cancelled. A task's events are never repeated, nor reported out of order (an
    /// event learned after a later one is left out).
    /// </summary>
    public async IAsyncEnumerable<TaskEvent> WatchAsync(TaskWatchFilter? filter = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var subscription = Subscribe(filter ?? new TaskWatchFilter());
        try
        {
            var reader = subscription.Events.Reader;
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (reader.TryRead(out var e))
                {
                    yield return e;
                    if (e.IsFinal && subscription.Filter.TaskId is not null) yield break; // the task's last event
                }
            }
        }
        finally
        {
            Unsubscribe(subscription);
        }
    }

    /// <summary>Waits for task <paramref name="id"/> to end (succeeded, dead-lettered or cancelled); returns its final record.</summary>
    /// <exception cref="TimeoutException">It had not ended within <paramref name="timeout"/>.</exception>
    public async Task<TaskRecord> WaitAsync(string id, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout is { } within) limit.CancelAfter(within);
        try
        {
            await foreach (var e in WatchAsync(new TaskWatchFilter { TaskId = id }, limit.Token).ConfigureAwait(false))
            {
                if (!e.IsFinal) continue;
                while (true)
                {
                    // An end reported by this process may be in its record writer still: the record follows within a flush.
                    if (await records.GetAsync(id, limit.Token).ConfigureAwait(false) is { IsFinished: true } record) return record;
                    await Task.Delay(TimeSpan.FromMilliseconds(50), time, limit.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Task {id} did not end within {timeout}.");
        }

        throw new InvalidOperationException("A watch ended without being cancelled."); // WatchAsync ends only when cancelled
    }

    /// <summary>Waits for every task of tracked batch <paramref name="batchId"/> to end; returns its counts.</summary>
    /// <exception cref="TimeoutException">It had not ended within <paramref name="timeout"/>.</exception>
    public async Task<TaskBatchRecord> WaitForBatchAsync(string batchId, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(batchId);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout is { } within) limit.CancelAfter(within);
        try
        {
            while (true)
            {
                if (await records.GetBatchAsync(batchId, limit.Token).ConfigureAwait(false) is { Pending: 0 } batch) return batch;
                await Task.Delay(PollInterval, time, limit.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Batch {batchId} did not end within {timeout}.");
        }
    }

    /// <summary>Records created by this process's enqueues: their events go to the watches at once (nothing is done without one).</summary>
    internal void Observe(IReadOnlyList<RecordWrite> writes)
    {
        if (Volatile.Read(ref watching) == 0) return;
        for (var i = 0; i < writes.Count; i++) Observe(writes[i]);
    }

    /// <summary>A record write of this process: its events go to the watches at once (nothing is done without one).</summary>
    internal void Observe(RecordWrite write)
    {
        if (Volatile.Read(ref watching) == 0) return;
        var events = EventsOf(write, time.GetUtcNow());
        if (events.Count == 0) return;
        Subscription[] current;
        lock (gate) current = subscriptions.ToArray();
        foreach (var subscription in current)
        {
            foreach (var e in events) subscription.OfferLive(e, write.TaskName, write.Queue);
        }
    }

    private Subscription Subscribe(TaskWatchFilter filter)
    {
        var subscription = new Subscription(filter, time.GetUtcNow());
        lock (gate)
        {
            subscriptions.Add(subscription);
            watching++;
            if (!polling)
            {
                polling = true;
                _ = Task.Run(PollAsync);
            }
            else if (!subscriptions.Any(s => s != subscription && s.Filter.Key == filter.Key))
            {
                Wake(); // a watch of something new is read at once; one of something watched already shares its reads
            }
        }

        return subscription;
    }

    private void Unsubscribe(Subscription subscription)
    {
        lock (gate)
        {
            subscriptions.Remove(subscription);
            watching--;
            if (watching == 0) Wake(); // the poll ends now: a watcher that stopped costs nothing
        }
    }

    private void Wake()
    {
        var woken = wake;
        wake = new CancellationTokenSource();
        woken.Cancel();
        woken.Dispose();
    }

    /// <summary>One poll for every watch of this process: each task watched read once, each query listed once, per interval.</summary>
    private async Task PollAsync()
    {
        while (true)
        {
            Subscription[] current;
            CancellationToken woken;
            lock (gate)
            {
                if (subscriptions.Count == 0)
                {
                    polling = false;
                    return;
                }

                current = subscriptions.ToArray();
                woken = wake.Token;
            }

            foreach (var watches in current.GroupBy(s => s.Filter.Key))
            {
                var (id, queue, taskName, state) = watches.Key;
                IReadOnlyList<TaskRecord> found;
                try
                {
                    found = id is not null
                        ? await records.GetAsync(id, CancellationToken.None).ConfigureAwait(false) is { } record ? [record] : []
                        : (await records.ListAsync(new TaskRecordQuery { Queue = queue, TaskName = taskName, State = state, From = watches.Min(w => w.Since) - QueryLookBack, PageSize = 100 }, CancellationToken.None).ConfigureAwait(false)).Records;
                }
                catch (Exception)
                {
                    continue; // a store that does not answer: read again at the next interval
                }
                finally
                {
                    Interlocked.Increment(ref reads);
                }

                for (var i = found.Count - 1; i >= 0; i--) // newest first: offered oldest first
                {
                    var record = found[i];
                    foreach (var e in EventsOf(record, time.GetUtcNow()))
                    {
                        foreach (var watch in watches) watch.Offer(e, record.TaskName, record.Queue, baseline: !watch.Baselined && watch.Filter.TaskId is null);
                    }
                }

                foreach (var watch in watches)
                {
                    // A task not recorded yet (its record's write still in flight) has its events held a while more, so what the record will tell comes first.
                    if (found.Count > 0 || id is null || time.GetUtcNow() - watch.Since > RecordWait) watch.Baseline();
                }
            }

            try
            {
                await Task.Delay(PollInterval, time, woken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Woken: a watch came or went.
            }
        }
    }

    /// <summary>The events a record shows, in order: enqueued, each attempt's start (and retry), its progress, its end.</summary>
    internal static List<TaskEvent> EventsOf(TaskRecord record, DateTimeOffset now)
    {
        var events = new List<TaskEvent>(4);
        TaskEvent Named(TaskEvent e) => e with { TaskName = record.TaskName, Queue = record.Queue };
        if (record.State != TaskState.AwaitingParent) events.Add(Named(new TaskEvent(record.Id, TaskEventKind.Enqueued, record.EnqueuedAt ?? now, 0)));
        foreach (var attempt in record.History.OrderBy(a => a.Attempt))
        {
            events.Add(Named(new TaskEvent(record.Id, TaskEventKind.Started, attempt.StartedAt, attempt.Attempt)));
            if (attempt.Outcome == TaskOutcome.Retried) events.Add(Named(new TaskEvent(record.Id, TaskEventKind.Retrying, attempt.FinishedAt ?? attempt.StartedAt, attempt.Attempt)));
        }

        if (record.Progress is { } progress) events.Add(Named(new TaskEvent(record.Id, TaskEventKind.Progress, progress.ReportedAt, record.Attempts) { Progress = progress }));
        if (Final(record.State) is { } end) events.Add(Named(new TaskEvent(record.Id, end, record.FinishedAt ?? record.StateChangedAt ?? now, record.Attempts) { Reason = record.Reason }));
        return events;
    }

    /// <summary>The events a record write of this process makes.</summary>
    internal static List<TaskEvent> EventsOf(RecordWrite write, DateTimeOffset now)
    {
        var events = new List<TaskEvent>(2);
        var at = write.StateAt ?? now;
        var attempt = write.Attempt ?? 0;
        switch (write.State)
        {
            case TaskState.Enqueued or TaskState.Scheduled:
                events.Add(new TaskEvent(write.Id, TaskEventKind.Enqueued, write.EnqueuedAt ?? at, 0));
                break;
            case TaskState.Running:
                events.Add(new TaskEvent(write.Id, TaskEventKind.Started, at, attempt));
                break;
            case TaskState.Retrying:
                events.Add(new TaskEvent(write.Id, TaskEventKind.Retrying, at, attempt));
                break;
        }

        if (write.Progress is { } progress) events.Add(new TaskEvent(write.Id, TaskEventKind.Progress, progress.ReportedAt, attempt) { Progress = progress });
        if (write.State is { } state && Final(state) is { } end) events.Add(new TaskEvent(write.Id, end, write.FinishedAt ?? at, attempt) { Reason = write.Reason });
        return events;
    }

    private static TaskEventKind? Final(TaskState state) => state switch
    {
        TaskState.Succeeded => TaskEventKind.Succeeded,
        TaskState.DeadLettered => TaskEventKind.DeadLettered,
        TaskState.Cancelled => TaskEventKind.Cancelled,
        _ => null,
    };

    /// <summary>One watch: its events, and per task what it has reported (so nothing is repeated or reported out of order).</summary>
    private sealed class Subscription(TaskWatchFilter filter, DateTimeOffset since)
    {
        private readonly Dictionary<string, Seen> seen = new(StringComparer.Ordinal);

        public TaskWatchFilter Filter => filter;

        /// <summary>When the watch started.</summary>
        public DateTimeOffset Since => since;

        public Channel<TaskEvent> Events { get; } = Channel.CreateUnbounded<TaskEvent>(new UnboundedChannelOptions { SingleReader = true });

        // A watch of one task holds this process's events until its first read of the record has told what came before.
        private List<(TaskEvent Event, string? TaskName, string? Queue)>? early = filter.TaskId is null ? null : new();

        /// <summary>The watch's first poll is done: what it found then happened before the watch (a query's) and is not reported.</summary>
        public bool Baselined { get; private set; }

        /// <summary>The first poll is done: a watch of one task now reports what this process saw meanwhile, after what its record told.</summary>
        public void Baseline()
        {
            lock (seen)
            {
                Baselined = true;
                foreach (var (e, taskName, queue) in early ?? []) OfferLocked(e, taskName, queue, baseline: false);
                early = null;
            }
        }

        /// <summary>An event of this process's record writes.</summary>
        public void OfferLive(TaskEvent e, string? taskName, string? queue)
        {
            lock (seen)
            {
                if (early is not null) early.Add((e, taskName, queue));
                else OfferLocked(e, taskName, queue, baseline: false);
            }
        }

        /// <summary>Reports <paramref name="e"/> if it is the watch's, and later than what it reported of its task; with <paramref name="baseline"/>, only notes it.</summary>
        public void Offer(TaskEvent e, string? taskName, string? queue, bool baseline)
        {
            lock (seen) OfferLocked(e, taskName, queue, baseline);
        }

        private void OfferLocked(TaskEvent e, string? taskName, string? queue, bool baseline)
        {
            var known = seen.GetValueOrDefault(e.TaskId);
            taskName ??= known.TaskName;
            queue ??= known.Queue;
            if (!filter.Follows(e.TaskId, taskName, queue)) return;
            var order = Order(e);
            var later = e.Kind == TaskEventKind.Progress
                ? known.Order != long.MaxValue && e.At.UtcTicks > known.ProgressAt
                : order > known.Order;
            if (!later) return;
            seen[e.TaskId] = e.Kind == TaskEventKind.Progress ? known with { TaskName = taskName, Queue = queue, ProgressAt = e.At.UtcTicks } : new Seen(taskName, queue, order, known.ProgressAt);
            if (baseline || (filter.State is { } state && state != e.State)) return;
            Events.Writer.TryWrite(e with { TaskName = taskName, Queue = queue });
        }

        /// <summary>Where an event stands in its task's life: enqueued, then each attempt's start and retry, then its end.</summary>
        private static long Order(TaskEvent e) => e.Kind switch
        {
            TaskEventKind.Enqueued => 1,
            TaskEventKind.Started => 2L * Math.Max(1, e.Attempt),
            TaskEventKind.Retrying => 2L * Math.Max(1, e.Attempt) + 1,
            TaskEventKind.Progress => 0,
            _ => long.MaxValue,
        };

        private readonly record struct Seen(string? TaskName, string? Queue, long Order, long ProgressAt);
    }
}
