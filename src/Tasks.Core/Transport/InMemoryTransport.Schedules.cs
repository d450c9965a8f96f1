using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

public sealed partial class InMemoryTransport : IScheduleStore
{
    private readonly Dictionary<string, StoredScheduleState> schedules = new(StringComparer.Ordinal);
    private long scheduleVersions;

    /// <inheritdoc />
    public ValueTask<StoredScheduleState?> ReadScheduleAsync(string taskName, CancellationToken cancellationToken)
    {
        lock (gate) return new(schedules.GetValueOrDefault(taskName));
    }

    /// <inheritdoc />
    public ValueTask<string?> TryWriteScheduleAsync(string taskName, ScheduleState state, string? expectedVersion, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            if (schedules.GetValueOrDefault(taskName)?.Version != expectedVersion) return new((string?)null);
            var version = (++scheduleVersions).ToString(CultureInfo.InvariantCulture);
            schedules[taskName] = new StoredScheduleState(state, version);
            return new(version);
        }
    }
}
