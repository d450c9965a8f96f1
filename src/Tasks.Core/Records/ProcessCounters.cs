using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// This process's counters: events per minute, written by the record writer's flush as this process's own minute,
/// hour and day rows (absolute totals, replaced whole, so no two processes write the same row).
/// </summary>
internal sealed class ProcessCounters(TaskRecordStore store, string writerId, TimeProvider time)
{
    internal const int EnqueuedField = 0, StartedField = 1, RetriedField = 2, SucceededField = 3, DeadLetteredField = 4, CancelledField = 5;

    private readonly object gate = new();
    private readonly Dictionary<long, long[]> minutes = new();
    private readonly HashSet<long> dirtyMinutes = new();

    /// <summary>Whether counts wait to be written.</summary>
    public bool HasUnwritten
    {
        get { lock (gate) return dirtyMinutes.Count > 0; }
    }

    /// <summary>Counts events of <paramref name="field"/> (one of <see cref="RecordCounts.Fields"/>) in the minute of <paramref name="at"/>.</summary>
    public void Add(int field, DateTimeOffset at, int count)
    {
        var minute = at.UtcTicks - at.UtcTicks % TimeSpan.TicksPerMinute;
        lock (gate)
        {
            if (!minutes.TryGetValue(minute, out var totals)) minutes[minute] = totals = new long[RecordCounts.Fields.Length];
            totals[field] += count;
            dirtyMinutes.Add(minute);
        }
    }

    /// <summary>This process's totals for the minutes that changed, their hours and their days; what fails is written with the next flush.</summary>
    public async Task WriteAsync(CancellationToken cancellationToken)
    {
        List<(DateTimeOffset Day, RecordEntity Row)> rows;
        long[] written;
        lock (gate)
        {
            if (dirtyMinutes.Count == 0) return;
            written = dirtyMinutes.ToArray();
            rows = new List<(DateTimeOffset, RecordEntity)>();
            foreach (var day in written.Select(m => m - m % TimeSpan.TicksPerDay).Distinct())
            {
                var dayStart = new DateTimeOffset(day, TimeSpan.Zero);
                var ofDay = minutes.Where(m => m.Key - m.Key % TimeSpan.TicksPerDay == day).ToArray();
                rows.Add((dayStart, CountRow($"d-{writerId}", Sum(ofDay.Select(m => m.Value)))));
                foreach (var hour in written.Where(m => m - m % TimeSpan.TicksPerDay == day).Select(m => m - m % TimeSpan.TicksPerHour).Distinct())
                {
                    var hourStart = new DateTimeOffset(hour, TimeSpan.Zero);
                    rows.Add((dayStart, CountRow($"h{RecordCounts.Hour(hourStart)}-{writerId}", Sum(ofDay.Where(m => m.Key - m.Key % TimeSpan.TicksPerHour == hour).Select(m => m.Value)))));
                }

                foreach (var minute in written.Where(m => m - m % TimeSpan.TicksPerDay == day))
                    rows.Add((dayStart, CountRow($"m{RecordCounts.Minute(new DateTimeOffset(minute, TimeSpan.Zero))}-{writerId}", minutes[minute])));
            }

            dirtyMinutes.Clear();

            // Totals older than two days are not written again.
            var oldest = time.GetUtcNow().UtcTicks - 2 * TimeSpan.TicksPerDay;
            foreach (var stale in minutes.Keys.Where(m => m < oldest).ToArray()) minutes.Remove(stale);
        }

        try
        {
            foreach (var day in rows.GroupBy(r => r.Day))
                await store.Counts.WriteAsync(day.Key, day.Select(r => r.Row).ToArray(), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            lock (gate)
            {
                foreach (var minute in written) dirtyMinutes.Add(minute);
            }

            throw;
        }
    }

    private static long[] Sum(IEnumerable<long[]> totals)
    {
        var sum = new long[RecordCounts.Fields.Length];
        foreach (var t in totals)
        {
            for (var i = 0; i < sum.Length; i++) sum[i] += t[i];
        }

        return sum;
    }

    private static RecordEntity CountRow(string rowKey, long[] totals)
    {
        var row = new RecordEntity(RecordFormat.CountPartition, rowKey);
        for (var i = 0; i < totals.Length; i++) row.Set(RecordCounts.Fields[i], totals[i]);
        return row;
    }
}
