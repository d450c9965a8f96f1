using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Where task records are kept: rows in day tables (see docs/records.md), over the few table
/// operations a store implements (<see cref="InMemoryTaskRecordStore"/>, <c>AzureTableTaskRecordStore</c>).
/// The layout, the merging of writes, the moves between tables and the retention are here, the
/// same for every store. Written by the enqueuer and the workers; read as <see cref="ITaskRecords"/>.
/// </summary>
public abstract partial class TaskRecordStore : ITaskRecords
{
    private static readonly TimeSpan ForgetWorkersAfter = TimeSpan.FromDays(1);

    /// <summary>Creates the store.</summary>
    /// <param name="options">Retention and the rest; the defaults if null.</param>
    /// <param name="timeProvider">The clock of retention, scheduled states and gone workers.</param>
    protected TaskRecordStore(TaskRecordOptions? options, TimeProvider? timeProvider)
    {
        Options = options ?? new TaskRecordOptions();
        Options.Validate();
        Time = timeProvider ?? TimeProvider.System;
        UniqueLocks = new UniqueLocks(this, Time);
        Flows = new FlowRows(this, Time);
    }

    /// <summary>The locks of unique tasks, kept in this store.</summary>
    internal UniqueLocks UniqueLocks { get; }

    /// <summary>Continuations, tracked batches and run claims.</summary>
    internal FlowRows Flows { get; }

    /// <summary>What the records keep and for how long.</summary>
    public TaskRecordOptions Options { get; }

    /// <summary>The store's clock.</summary>
    protected TimeProvider Time { get; }

    /// <summary>What the start log says of this store: its kind and endpoint, never a secret.</summary>
    public virtual string Describe() => GetType().Name;

    /// <summary>
    /// Checks at start that the store can be used. Throws <see cref="TaskTransportException"/>; one that
    /// is not <see cref="TaskTransportException.IsTransient"/> (credentials refused) stops the host,
    /// since records would never be written; a store that does not answer only warns.
    /// </summary>
    public virtual ValueTask CheckAsync(CancellationToken cancellationToken = default) => default;

    /// <inheritdoc />
    public async ValueTask<TaskRecord?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (TaskHeaders.DueOf(id) is not { } due) return null;
        var (partition, row) = (RecordFormat.RecordPartition(id), RecordFormat.RecordRow(id, due));
        var live = ReadRowAsync(RecordFormat.LiveTable(due), partition, row, cancellationToken);
        var failed = ReadRowAsync(RecordFormat.FailedTable(due), partition, row, cancellationToken);
        var record = RecordFormat.ToRecord(id, due, [await live.ConfigureAwait(false), await failed.ConfigureAwait(false)], Time.GetUtcNow());
        if (record is not { State: TaskState.Running, Worker: { } worker }) return record;
        var heartbeat = await ReadRowAsync(RecordFormat.WorkersTable, RecordFormat.WorkerPartition, worker.Id, cancellationToken).ConfigureAwait(false);
        return ResolveGoneWorker(record, heartbeat is null ? null : ToWorker(heartbeat));
    }

    /// <inheritdoc />
    public async ValueTask<TaskRecordPage> ListAsync(TaskRecordQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.PageSize is < 1 or > 1000) throw new ArgumentOutOfRangeException(nameof(query), query.PageSize, "PageSize must be from 1 to 1,000.");
        var now = Time.GetUtcNow();
        var from = query.From ?? now - Options.FailedRetention - TimeSpan.FromDays(1);
        var to = query.To ?? now + TimeSpan.FromDays(7);
        if (from >= to) return new TaskRecordPage(Array.Empty<TaskRecord>(), null);
        var (day, after) = ReadToken(query.ContinuationToken) ?? (new DateTimeOffset(to.UtcDateTime.Date, TimeSpan.Zero), RecordFormat.RowBound(to) + "~");
        var before = RecordFormat.RowBound(from) + "~";
        var equal = new List<KeyValuePair<string, string>>();
        if (query.TaskName is not null) equal.Add(new("Task", query.TaskName));
        if (query.Queue is not null) equal.Add(new("Queue", query.Queue));
        // States a read can change (a due time passed, a worker went away) are filtered here, the others by the service.
        var resolvedState = query.State is TaskState.Scheduled or TaskState.Enqueued or TaskState.Running;
        if (query.State is { } state && !resolvedState) equal.Add(new("State", state.ToString()));

        var workers = new Lazy<Task<IReadOnlyList<TaskWorkerInfo>>>(() => ListWorkersAsync(cancellationToken).AsTask());
        var page = new List<TaskRecord>(query.PageSize);
        // One call for the days there are tables of, rather than two tables' partitions for every day of the window.
        var days = (await ListTablesAsync(cancellationToken).ConfigureAwait(false)).Select(RecordFormat.DayTable).Where(d => d is not null).Select(d => d!.Value.Day).ToHashSet();
        for (; day >= new DateTimeOffset(from.UtcDateTime.Date, TimeSpan.Zero); day = day.AddDays(-1), after = RecordFormat.RowBound(to) + "~")
        {
            if (!days.Contains(day)) continue;
            while (true)
            {
                var need = query.PageSize - page.Count;
                var rows = await QueryDayAsync(day, after, before, equal, resolvedState ? need * 2 : need, cancellationToken).ConfigureAwait(false);
                foreach (var (rowKey, entities, hasLive) in rows)
                {
                    after = rowKey;
                    var id = RecordFormat.IdOfRow(rowKey);
                    if (TaskHeaders.DueOf(id) is not { } due) continue;
                    // A failed-table row may be older than a live row the filter did not pick (a crash between
                    // the two writes of a move): the live row is read too, so the newer state wins.
                    var live = hasLive ? null : await ReadRowAsync(RecordFormat.LiveTable(due), entities[0].PartitionKey, rowKey, cancellationToken).ConfigureAwait(false);
                    if (RecordFormat.ToRecord(id, due, live is null ? entities : [.. entities, live], now) is not { } record) continue;
                    if (record is { State: TaskState.Running, Worker: { } worker })
                        record = ResolveGoneWorker(record, (await workers.Value.ConfigureAwait(false)).FirstOrDefault(w => w.Worker.Id == worker.Id));
                    if (query.State is { } wanted && record.State != wanted) continue;
                    page.Add(record);
                    if (page.Count == query.PageSize) return new TaskRecordPage(page, WriteToken(day, rowKey));
                }

                if (rows.Count < need) break; // the day has no more
            }
        }

        return new TaskRecordPage(page, null);
    }

    /// <summary>The rows of a day's two tables after <paramref name="after"/>, merged by id and in row-key order (newest first), each saying whether a live row was among them.</summary>
    private async Task<IReadOnlyList<(string RowKey, RecordEntity[] Rows, bool HasLive)>> QueryDayAsync(DateTimeOffset day, string after, string before, IReadOnlyList<KeyValuePair<string, string>> equal, int top, CancellationToken cancellationToken)
    {
        async Task<IEnumerable<(RecordEntity Row, bool Live)>> Query(string table, string partition, bool live)
            => (await QueryOrEmptyAsync(table, new RecordQuery(partition, after, before, equal, Top: top), cancellationToken).ConfigureAwait(false)).Select(r => (r, live));

        var queries = new List<Task<IEnumerable<(RecordEntity Row, bool Live)>>>();
        foreach (var partition in RecordFormat.RecordPartitions())
        {
            queries.Add(Query(RecordFormat.LiveTable(day), partition, live: true));
            queries.Add(Query(RecordFormat.FailedTable(day), partition, live: false));
        }

        var all = (await Task.WhenAll(queries).ConfigureAwait(false)).SelectMany(r => r);
        return all.GroupBy(r => r.Row.RowKey, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Take(top)
            .Select(g => (g.Key, g.Select(r => r.Row).ToArray(), g.Any(r => r.Live)))
            .ToArray();
    }

    private static string WriteToken(DateTimeOffset day, string rowKey) => RecordFormat.DayText(day) + ":" + rowKey;

    private static (DateTimeOffset Day, string After)? ReadToken(string? token)
    {
        if (token is null) return null;
        var colon = token.IndexOf(':');
        return colon == 8 && DateTime.TryParseExact(token.AsSpan(0, 8), "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var day)
            ? (new DateTimeOffset(day, TimeSpan.Zero), token[(colon + 1)..])
            : throw new ArgumentException($"'{token}' is not a continuation token of this store.", nameof(token));
    }

    /// <summary>A task its gone worker left Running waits for its message to come back: it reads as Enqueued, with a note.</summary>
    private TaskRecord ResolveGoneWorker(TaskRecord record, TaskWorkerInfo? worker)
    {
        if (worker is { IsAlive: true }) return record;
        var seen = worker is null ? "has no heartbeat" : $"was last seen at {worker.LastSeen:u}";
        return new TaskRecord
        {
            Id = record.Id, TaskName = record.TaskName, Queue = record.Queue, State = TaskState.Enqueued, StateChangedAt = record.StateChangedAt,
            Attempts = record.Attempts, MaxAttempts = record.MaxAttempts, ArgumentsJson = record.ArgumentsJson, ArgumentsNote = record.ArgumentsNote,
            ArgumentsBytes = record.ArgumentsBytes, EnqueuedAt = record.EnqueuedAt, ScheduledFor = record.ScheduledFor, StartedAt = record.StartedAt,
            Worker = record.Worker, Progress = record.Progress, CancelRequestedAt = record.CancelRequestedAt, UniqueKey = record.UniqueKey, History = record.History,
            Note = $"Its worker {record.Worker!.Machine} (process {record.Worker.ProcessId}) {seen}: the task runs again when its message's lease ends.",
        };
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<TaskWorkerInfo>> ListWorkersAsync(CancellationToken cancellationToken = default)
    {
        var now = Time.GetUtcNow();
        var rows = await QueryOrEmptyAsync(RecordFormat.WorkersTable, new RecordQuery(RecordFormat.WorkerPartition), cancellationToken).ConfigureAwait(false);
        return rows.Select(ToWorker).Where(w => w.LastSeen > now - ForgetWorkersAfter).OrderBy(w => w.Worker.Machine, StringComparer.Ordinal).ThenBy(w => w.Worker.ProcessId).ToArray();
    }

    private TaskWorkerInfo ToWorker(RecordEntity row)
    {
        var lastSeen = row.Get<DateTimeOffset>("LastSeen") ?? DateTimeOffset.MinValue;
        static string[] List(string? text) => string.IsNullOrEmpty(text) ? [] : text.Split(',');
        return new TaskWorkerInfo(
            new TaskWorkerIdentity(row.RowKey, row.GetString("Machine") ?? "", row.Get<int>("Pid") ?? 0),
            List(row.GetString("Queues")),
            List(row.GetString("Running")),
            List(row.GetString("InFlight")).Select(p => p.Split('=')).Where(p => p.Length == 2 && int.TryParse(p[1], NumberStyles.None, CultureInfo.InvariantCulture, out _))
                .ToDictionary(p => p[0], p => int.Parse(p[1], NumberStyles.None, CultureInfo.InvariantCulture), StringComparer.Ordinal),
            row.Get<DateTimeOffset>("StartedAt") ?? lastSeen,
            lastSeen,
            row.Get<bool>("Stopped") != true && lastSeen > Time.GetUtcNow() - Options.WorkerGoneAfter);
    }

    /// <inheritdoc />
    public async ValueTask<TaskStateCounts> CountAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        (from, to) = (WholeMinute(from), WholeMinute(to));
        var sums = new long[CountFields.Length];
        var queries = new List<Task<IReadOnlyList<RecordEntity>>>();
        for (var day = new DateTimeOffset(from.UtcDateTime.Date, TimeSpan.Zero); day < to; day = day.AddDays(1))
        {
            var table = RecordFormat.FailedTable(day);
            var (start, end) = (from > day ? from : day, to < day.AddDays(1) ? to : day.AddDays(1));
            if (start == day && end == day.AddDays(1))
            {
                queries.Add(QueryOrEmptyAsync(table, CountRange("d", "d~"), cancellationToken));
                continue;
            }

            // Whole hours by their hour rows, the minutes at either edge by minute rows.
            var firstHour = start.Minute == 0 ? start : start.AddMinutes(60 - start.Minute);
            var lastHour = end.AddMinutes(-end.Minute);
            if (firstHour < lastHour)
            {
                queries.Add(QueryOrEmptyAsync(table, CountRange("h" + Hour(firstHour), "h" + Hour(lastHour)), cancellationToken));
                if (start < firstHour) queries.Add(QueryOrEmptyAsync(table, CountRange("m" + Minute(start), "m" + Minute(firstHour)), cancellationToken));
                if (lastHour < end) queries.Add(QueryOrEmptyAsync(table, CountRange("m" + Minute(lastHour), "m" + Minute(end)), cancellationToken));
            }
            else
            {
                queries.Add(QueryOrEmptyAsync(table, CountRange("m" + Minute(start), "m" + Minute(end)), cancellationToken));
            }
        }

        foreach (var row in (await Task.WhenAll(queries).ConfigureAwait(false)).SelectMany(r => r)) Add(sums, row);
        return Counts(from, to, sums);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<TaskStateCounts>> CountPerMinuteAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default)
    {
        (from, to) = (WholeMinute(from), WholeMinute(to));
        if (to - from > TimeSpan.FromDays(1)) throw new ArgumentOutOfRangeException(nameof(to), "Counts per minute cover at most a day.");
        var queries = new List<Task<IReadOnlyList<RecordEntity>>>();
        for (var day = new DateTimeOffset(from.UtcDateTime.Date, TimeSpan.Zero); day < to; day = day.AddDays(1))
        {
            var (start, end) = (from > day ? from : day, to < day.AddDays(1) ? to : day.AddDays(1));
            var range = end == day.AddDays(1) ? CountRange("m" + Minute(start), "m~") : CountRange("m" + Minute(start), "m" + Minute(end));
            queries.Add(MinuteRowsAsync(day, range));
        }

        async Task<IReadOnlyList<RecordEntity>> MinuteRowsAsync(DateTimeOffset day, RecordQuery range)
            => (await QueryOrEmptyAsync(RecordFormat.FailedTable(day), range, cancellationToken).ConfigureAwait(false)).Select(r => Stamp(day, r)).ToArray();

        var byMinute = new SortedDictionary<DateTimeOffset, long[]>();
        foreach (var row in (await Task.WhenAll(queries).ConfigureAwait(false)).SelectMany(r => r))
        {
            var minute = row.Get<DateTimeOffset>("_Minute")!.Value;
            if (!byMinute.TryGetValue(minute, out var sums)) byMinute[minute] = sums = new long[CountFields.Length];
            Add(sums, row);
        }

        var result = new List<TaskStateCounts>();
        for (var minute = from; minute < to; minute = minute.AddMinutes(1))
            result.Add(Counts(minute, minute.AddMinutes(1), byMinute.TryGetValue(minute, out var sums) ? sums : new long[CountFields.Length]));
        return result;
    }

    /// <summary>A minute row with the minute it counts, read from its key (<c>m{HHmm}-{writer}</c>).</summary>
    private static RecordEntity Stamp(DateTimeOffset day, RecordEntity row)
    {
        var hour = int.Parse(row.RowKey.AsSpan(1, 2), NumberStyles.None, CultureInfo.InvariantCulture);
        var minute = int.Parse(row.RowKey.AsSpan(3, 2), NumberStyles.None, CultureInfo.InvariantCulture);
        return row.Set("_Minute", day.AddHours(hour).AddMinutes(minute));
    }

    internal static readonly string[] CountFields = ["Enqueued", "Started", "Retried", "Succeeded", "DeadLettered", "Cancelled"];

    private static RecordQuery CountRange(string fromKey, string toKey) => new(RecordFormat.CountPartition, fromKey, toKey);

    internal static string Hour(DateTimeOffset time) => time.UtcDateTime.ToString("HH", CultureInfo.InvariantCulture);

    internal static string Minute(DateTimeOffset time) => time.UtcDateTime.ToString("HHmm", CultureInfo.InvariantCulture);

    private static DateTimeOffset WholeMinute(DateTimeOffset time) => new(time.UtcTicks - time.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero);

    private static void Add(long[] sums, RecordEntity row)
    {
        for (var i = 0; i < CountFields.Length; i++) sums[i] += row.Get<long>(CountFields[i]) ?? 0;
    }

    private static TaskStateCounts Counts(DateTimeOffset from, DateTimeOffset to, long[] s) => new(from, to, s[0], s[1], s[2], s[3], s[4], s[5]);

    /// <summary>A row, or null if it or its table does not exist.</summary>
    internal async Task<RecordEntity?> ReadRowAsync(string table, string partition, string row, CancellationToken cancellationToken)
    {
        try
        {
            return await ReadAsync(table, partition, row, cancellationToken).ConfigureAwait(false);
        }
        catch (RecordTableMissingException)
        {
            return null;
        }
    }

    internal async Task<IReadOnlyList<RecordEntity>> QueryOrEmptyAsync(string table, RecordQuery query, CancellationToken cancellationToken)
    {
        try
        {
            return await QueryAsync(table, query, cancellationToken).ConfigureAwait(false);
        }
        catch (RecordTableMissingException)
        {
            return Array.Empty<RecordEntity>();
        }
    }
}
