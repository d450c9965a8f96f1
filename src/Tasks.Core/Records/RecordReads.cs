using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Reading records: one by id (its live and failed rows merged), or a page of a query, newest first across the day
/// tables; a record whose worker is gone reads as waiting for its message to come back.
/// </summary>
internal sealed class RecordReads(IRecordTables tables, WorkerRows workers, TaskRecordOptions options, TimeProvider time)
{
    public async ValueTask<TaskRecord?> GetAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (RecordFormat.DueOfTask(id) is not { } due) return null;
        var (partition, row) = (RecordFormat.RecordPartition(id), RecordFormat.RecordRow(id, due));
        var live = tables.ReadRowAsync(RecordFormat.LiveTable(due), partition, row, cancellationToken);
        var failed = tables.ReadRowAsync(RecordFormat.FailedTable(due), partition, row, cancellationToken);
        var enqueued = tables.ReadGroupMemberAsync(id, due, cancellationToken);
        var record = RecordFormat.ToRecord(id, due, [await enqueued.ConfigureAwait(false), await live.ConfigureAwait(false), await failed.ConfigureAwait(false)], time.GetUtcNow());
        if (record is not { State: TaskState.Running, Worker: { } worker }) return record;
        return WorkerRows.ResolveGone(record, await workers.GetAsync(worker.Id, cancellationToken).ConfigureAwait(false));
    }

    public async ValueTask<TaskRecordPage> ListAsync(TaskRecordQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.PageSize is < 1 or > 1000) throw new ArgumentOutOfRangeException(nameof(query), query.PageSize, "PageSize must be from 1 to 1,000.");
        var now = time.GetUtcNow();
        var from = query.From ?? now - options.FailedRetention - TimeSpan.FromDays(1);
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

        var alive = new Lazy<Task<IReadOnlyList<TaskWorkerInfo>>>(() => workers.ListAsync(cancellationToken).AsTask());
        var page = new List<TaskRecord>(query.PageSize);
        var groups = new Dictionary<string, IReadOnlyList<Entry>>(StringComparer.Ordinal);
        // One call for the days there are tables of, rather than two tables' partitions for every day of the window.
        var days = (await tables.ListTablesAsync(cancellationToken).ConfigureAwait(false)).Select(RecordFormat.DayTable).Where(d => d is not null).Select(d => d!.Value.Day).ToHashSet();
        for (; day >= new DateTimeOffset(from.UtcDateTime.Date, TimeSpan.Zero); day = day.AddDays(-1), after = RecordFormat.RowBound(to) + "~")
        {
            if (!days.Contains(day)) continue;
            while (true)
            {
                var need = query.PageSize - page.Count;
                var (entries, readTo) = await QueryDayAsync(day, after, before, equal, resolvedState ? need * 2 : need, groups, cancellationToken).ConfigureAwait(false);
                for (var i = 0; i < entries.Count; i++)
                {
                    var (rowKey, entities, hasLive) = entries[i];
                    after = rowKey;
                    var id = RecordFormat.IdOfRow(rowKey);
                    if (TaskHeaders.DueOf(id) is not { } due) continue;
                    // A failed-table row may be older than a live row the filter did not pick (a crash between
                    // the two writes of a move): the live row is read too, so the newer state wins.
                    var live = hasLive ? null : await tables.ReadRowAsync(RecordFormat.LiveTable(due), entities[0].PartitionKey, rowKey, cancellationToken).ConfigureAwait(false);
                    if (RecordFormat.ToRecord(id, due, live is null ? entities : [.. entities, live], now) is not { } record) continue;
                    if (record is { State: TaskState.Running, Worker: { } worker })
                        record = WorkerRows.ResolveGone(record, (await alive.Value.ConfigureAwait(false)).FirstOrDefault(w => w.Worker.Id == worker.Id));
                    // The service filtered rows; a group's members are read whole, so they are filtered here.
                    if (query.State is { } wanted && record.State != wanted) continue;
                    if ((query.TaskName is not null && record.TaskName != query.TaskName) || (query.Queue is not null && record.Queue != query.Queue)) continue;
                    page.Add(record);
                    if (page.Count < query.PageSize) continue;
                    // A full page ends with a token only if more may follow, so a list of exactly N pages has no empty N+1th.
                    var more = i < entries.Count - 1 || readTo is not null || days.Any(d => d < day && d >= new DateTimeOffset(from.UtcDateTime.Date, TimeSpan.Zero));
                    return new TaskRecordPage(page, more ? WriteToken(day, rowKey) : null);
                }

                if (readTo is null) break; // the day has no more
                if (entries.Count == 0) after = readTo;
            }
        }

        return new TaskRecordPage(page, null);
    }

    /// <summary>A record's rows, by its row key, and whether its live row was among them.</summary>
    private readonly record struct Entry(string RowKey, RecordEntity[] Rows, bool HasLive);

    /// <summary>
    /// The records of a day's two tables after <paramref name="after"/>, in row-key order (newest first), and how far
    /// they are complete: null if to <paramref name="before"/>, else the key past which a query had more to give.
    /// A record group's row stands for its members, whose own rows are read with it (<see cref="ReadGroupAsync"/>).
    /// </summary>
    private async Task<(IReadOnlyList<Entry> Entries, string? ReadTo)> QueryDayAsync(DateTimeOffset day, string after, string before, IReadOnlyList<KeyValuePair<string, string>> equal, int top, Dictionary<string, IReadOnlyList<Entry>> groups, CancellationToken cancellationToken)
    {
        async Task<(IReadOnlyList<RecordEntity> Rows, bool Live)> Query(string table, string partition, bool live)
            => (await tables.QueryOrEmptyAsync(table, new RecordQuery(partition, after, before, equal, Top: top), cancellationToken).ConfigureAwait(false), live);

        var queries = new List<Task<(IReadOnlyList<RecordEntity> Rows, bool Live)>>();
        foreach (var partition in RecordFormat.RecordPartitions())
        {
            queries.Add(Query(RecordFormat.LiveTable(day), partition, live: true));
            queries.Add(Query(RecordFormat.FailedTable(day), partition, live: false));
        }

        var results = await Task.WhenAll(queries).ConfigureAwait(false);

        // A query that gave all it was allowed may have more: what is read is complete only to its last row (to the end
        // of that row's group, if it is in one, since a group is read whole).
        string? readTo = null;
        foreach (var (rows, _) in results)
        {
            if (rows.Count < top) continue;
            var last = RecordFormat.GroupRangeEnd(rows[^1].RowKey) ?? rows[^1].RowKey;
            if (readTo is null || string.CompareOrdinal(last, readTo) < 0) readTo = last;
        }

        var all = results.SelectMany(r => r.Rows.Select(row => (Row: row, r.Live))).ToArray();
        var entries = all.Where(r => RecordFormat.GroupRangeEnd(r.Row.RowKey) is null)
            .GroupBy(r => r.Row.RowKey, StringComparer.Ordinal)
            .Select(g => new Entry(g.Key, g.Select(r => r.Row).ToArray(), g.Any(r => r.Live)))
            .ToList();
        // The groups of the rows read, and the group of the row read last, whose later members are still to come.
        var inGroups = all.Select(r => (r.Row.RowKey, r.Row.PartitionKey)).Append((after, RecordFormat.RecordPartition(RecordFormat.IdOfRow(after))))
            .Where(k => RecordFormat.GroupRangeEnd(k.Item1) is not null)
            .DistinctBy(k => RecordFormat.GroupRangeStart(k.Item1), StringComparer.Ordinal);
        foreach (var (rowKey, partition) in inGroups)
            entries.AddRange(await ReadGroupAsync(day, partition, RecordFormat.GroupRangeStart(rowKey), groups, cancellationToken).ConfigureAwait(false));

        var inWindow = entries
            .Where(e => string.CompareOrdinal(e.RowKey, after) > 0 && string.CompareOrdinal(e.RowKey, before) < 0 && (readTo is null || string.CompareOrdinal(e.RowKey, readTo) <= 0))
            .OrderBy(e => e.RowKey, StringComparer.Ordinal)
            .ToArray();
        // More than asked for: the rest comes with the next call, so what this one gives is complete only to its last.
        return inWindow.Length > top ? (inWindow[..top], inWindow[top - 1].RowKey) : (inWindow, readTo);
    }

    /// <summary>The records of a group's members: each from its part of the group's row and its own rows, in both tables (read once a listing).</summary>
    private async Task<IReadOnlyList<Entry>> ReadGroupAsync(DateTimeOffset day, string partition, string rangeStart, Dictionary<string, IReadOnlyList<Entry>> groups, CancellationToken cancellationToken)
    {
        if (groups.TryGetValue(rangeStart, out var read)) return read;
        var range = new RecordQuery(partition, rangeStart, rangeStart + "~");
        var live = tables.QueryOrEmptyAsync(RecordFormat.LiveTable(day), range, cancellationToken);
        var failed = tables.QueryOrEmptyAsync(RecordFormat.FailedTable(day), range, cancellationToken);
        var rows = (await live.ConfigureAwait(false)).Concat(await failed.ConfigureAwait(false)).ToArray();
        var members = rows.Where(RecordFormat.IsGroupRow).SelectMany(RecordFormat.MemberEntities).Concat(rows.Where(r => !RecordFormat.IsGroupRow(r)));
        return groups[rangeStart] = members.GroupBy(r => r.RowKey, StringComparer.Ordinal).Select(g => new Entry(g.Key, g.ToArray(), HasLive: true)).ToArray();
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
}
