using System;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks.Transports;

/// <summary>
/// Where the workers that keep a recurring task's schedule agree on which occurrence was enqueued:
/// one small record per task, replaced only if nobody replaced it since it was read (an ETag on
/// Azure), so of all the workers that see an occurrence fall due, exactly one enqueues it.
/// </summary>
public interface IScheduleStore
{
    /// <summary>The record of <paramref name="taskName"/>, or null if no worker has kept its schedule yet.</summary>
    ValueTask<StoredScheduleState?> ReadScheduleAsync(string taskName, CancellationToken cancellationToken);

    /// <summary>
    /// Writes <paramref name="state"/> if the stored record is still <paramref name="expectedVersion"/>
    /// (null: only if there is none).
    /// </summary>
    /// <returns>The new version, or null if another worker wrote first.</returns>
    ValueTask<string?> TryWriteScheduleAsync(string taskName, ScheduleState state, string? expectedVersion, CancellationToken cancellationToken);
}

/// <summary>How far a recurring task's schedule has been kept.</summary>
/// <param name="LastOccurrence">The latest occurrence enqueued, or when the schedule was first seen.</param>
/// <param name="Pending">An occurrence a worker has claimed and is enqueueing, or null.</param>
/// <param name="PendingSince">When that worker claimed it: a claim older than a minute was lost with its worker and may be taken over.</param>
public sealed record ScheduleState(DateTimeOffset LastOccurrence, DateTimeOffset? Pending = null, DateTimeOffset? PendingSince = null);

/// <summary>A schedule record as read, with the version a conditional write must name.</summary>
public sealed record StoredScheduleState(ScheduleState State, string Version);
