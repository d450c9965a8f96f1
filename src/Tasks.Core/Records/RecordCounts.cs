using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// The counters: each process's own rows per minute, hour and day in the failed-record table of the day (absolute
/// totals, replaced whole, so no two processes write the same row), summed at read over the fewest rows a window
/// needs.
/// </summary>
internal sealed class RecordCounts(IRecordTables tables)
{
    public static readonly string[] Fields = ["Enqueued", "Started", "Retried", "Succeeded", "DeadLettered", "Cancelled"];

    public static string Hour(DateTimeOffset time) => time.UtcDateTime.ToString("HH", CultureInfo.InvariantCulture);

    public static string Minute(DateTimeOffset time) => time.UtcDateTime.ToString("HHmm", CultureInfo.InvariantCulture);

    /// <summary>A process's own counter rows of a day.</summary>
    public async ValueTask WriteAsync(DateTimeOffset day, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken)
    {
        var table = RecordFormat.FailedTable(day);
        for (var i = 0; i < rows.Count; i += RecordTables.MaxBatch)
            await tables.MergeInAsync(table, rows.Skip(i).Take(RecordTables.MaxBatch).ToArray(), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<TaskStateCounts> CountAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        (from, to) = (WholeMinute(from), WholeMinute(to));
        var sums = new long[Fields.Length];
        var queries = new List<Task<IReadOnlyList<RecordEntity>>>();
        Task<IReadOnlyList<RecordEntity>> Query(string table, string fromKey, string toKey) => tables.QueryOrEmptyAsync(table, new RecordQuery(RecordFormat.CountPartition, fromKey, toKey), cancellationToken);
        for (var day = new DateTimeOffset(from.UtcDateTime.Date, TimeSpan.Zero); day < to; day = day.AddDays(1))
        {
            var table = RecordFormat.FailedTable(day);
            var (start, end) = (from > day ? from : day, to < day.AddDays(1) ? to : day.AddDays(1));
            if (start == day && end == day.AddDays(1))
            {
                queries.Add(Query(table, "d", "d~"));
                continue;
            }

            // Whole hours by their hour rows, the minutes at either edge by minute rows. A bound at the day's end (midnight,
            // whose "00" sorts first) is the end of the day's keys.
            var firstHour = start.Minute == 0 ? start : start.AddMinutes(60 - start.Minute);
            var lastHour = end.AddMinutes(-end.Minute);
            var dayEnd = day.AddDays(1);
            string HourKey(DateTimeOffset time) => time == dayEnd ? "h~" : "h" + Hour(time);
            string MinuteKey(DateTimeOffset time) => time == dayEnd ? "m~" : "m" + Minute(time);
            if (firstHour < lastHour)
            {
                queries.Add(Query(table, HourKey(firstHour), HourKey(lastHour)));
                if (start < firstHour) queries.Add(Query(table, MinuteKey(start), MinuteKey(firstHour)));
                if (lastHour < end) queries.Add(Query(table, MinuteKey(lastHour), MinuteKey(end)));
            }
            else
            {
                queries.Add(Query(table, MinuteKey(start), MinuteKey(end)));
            }
        }

        foreach (var row in (await Task.WhenAll(queries).ConfigureAwait(false)).SelectMany(r => r)) Add(sums, row);
        return Counts(from, to, sums);
    }

    public async ValueTask<IReadOnlyList<TaskStateCounts>> CountPerMinuteAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        (from, to) = (WholeMinute(from), WholeMinute(to));
        if (to - from > TimeSpan.FromDays(1)) throw new ArgumentOutOfRangeException(nameof(to), "Counts per minute cover at most a day.");
        var queries = new List<Task<IReadOnlyList<RecordEntity>>>();
        for (var day = new DateTimeOffset(from.UtcDateTime.Date, TimeSpan.Zero); day < to; day = day.AddDays(1))
        {
            var (start, end) = (from > day ? from : day, to < day.AddDays(1) ? to : day.AddDays(1));
            var range = new RecordQuery(RecordFormat.CountPartition, "m" + Minute(start), end == day.AddDays(1) ? "m~" : "m" + Minute(end));
            queries.Add(MinuteRowsAsync(day, range));
        }

        async Task<IReadOnlyList<RecordEntity>> MinuteRowsAsync(DateTimeOffset day, RecordQuery range)
            => (await tables.QueryOrEmptyAsync(RecordFormat.FailedTable(day), range, cancellationToken).ConfigureAwait(false)).Select(r => Stamp(day, r)).ToArray();

        var byMinute = new SortedDictionary<DateTimeOffset, long[]>();
        foreach (var row in (await Task.WhenAll(queries).ConfigureAwait(false)).SelectMany(r => r))
        {
            var minute = row.Get<DateTimeOffset>("_Minute")!.Value;
            if (!byMinute.TryGetValue(minute, out var sums)) byMinute[minute] = sums = new long[Fields.Length];
            Add(sums, row);
        }

        var result = new List<TaskStateCounts>();
        for (var minute = from; minute < to; minute = minute.AddMinutes(1))
            result.Add(Counts(minute, minute.AddMinutes(1), byMinute.TryGetValue(minute, out var sums) ? sums : new long[Fields.Length]));
        return result;
    }

    /// <summary>A minute row with the minute it counts, read from its key (<c>m{HHmm}-{writer}</c>).</summary>
    private static RecordEntity Stamp(DateTimeOffset day, RecordEntity row)
    {
        var hour = int.Parse(row.RowKey.AsSpan(1, 2), NumberStyles.None, CultureInfo.InvariantCulture);
        var minute = int.Parse(row.RowKey.AsSpan(3, 2), NumberStyles.None, CultureInfo.InvariantCulture);
        return row.Set("_Minute", day.AddHours(hour).AddMinutes(minute));
    }

    private static DateTimeOffset WholeMinute(DateTimeOffset time) => new(time.UtcTicks - time.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero);

    private static void Add(long[] sums, RecordEntity row)
    {
        for (var i = 0; i < Fields.Length; i++) sums[i] += row.Get<long>(Fields[i]) ?? 0;
    }

    private static TaskStateCounts Counts(DateTimeOffset from, DateTimeOffset to, long[] s) => new(from, to, s[0], s[1], s[2], s[3], s[4], s[5]);
}
