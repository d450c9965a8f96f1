using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Tasks.Transports;

namespace Tasks;

/// <summary>The places of limits in one process (the in-memory transport's): the same rules as the Azure store, under one lock.</summary>
internal sealed class InMemoryLimitStore : ITaskLimitStore
{
    private readonly object gate = new();
    private readonly Dictionary<(TaskLimitKind, string, string), LimitPlace?[]> places = new();
    private readonly Dictionary<(TaskLimitKind, string, string), Dictionary<string, LimitWaiter>> waiters = new();
    private long versions;

    public ValueTask<LimitAcquisition> TryAcquireAsync(LimitScope scope, LimitHolder holder, DateTimeOffset now, DateTimeOffset until, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var id = (scope.Kind, scope.Name, scope.Key);
            if (!places.TryGetValue(id, out var held) || held.Length != scope.Limit)
            {
                // A limit whose number changed (a new version of its tasks): the places in use stay held.
                var resized = new LimitPlace?[scope.Limit];
                if (held is not null) Array.Copy(held, resized, Math.Min(held.Length, resized.Length));
                places[id] = held = resized;
            }

            for (var i = 0; i < held.Length; i++)
            {
                if (held[i] is { } taken && taken.Until > now) continue;
                var place = new LimitPlace(scope, i, NextVersion(), holder, until);
                held[i] = place;
                return new(new LimitAcquisition(place, []));
            }

            return new(new LimitAcquisition(null, held.Where(p => p is not null).ToArray()!));
        }
    }

    public ValueTask<LimitPlace?> RenewAsync(LimitPlace place, DateTimeOffset until, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            if (Current(place) is not { } held) return new((LimitPlace?)null);
            var renewed = place with { Version = NextVersion(), Until = until };
            held[place.Index] = renewed;
            return new(renewed);
        }
    }

    public ValueTask ReleaseAsync(LimitPlace place, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            if (Current(place) is { } held) held[place.Index] = null;
        }

        return default;
    }

    public ValueTask<IReadOnlyList<LimitState>> ListAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var states = new List<LimitState>();
            foreach (var id in places.Keys.Union(waiters.Keys))
            {
                var held = places.TryGetValue(id, out var all) ? all.Where(p => p is not null && p.Until > now).ToArray() : [];
                var waiting = waiters.TryGetValue(id, out var those) ? those.Values.OrderBy(w => w.Since).ToArray() : [];
                if (held.Length == 0 && waiting.Length == 0) continue;
                states.Add(new LimitState(new LimitScope(id.Item1, id.Item2, id.Item3, all?.Length ?? 0), held!, waiting));
            }

            return new(states.OrderBy(s => s.Scope.Name, StringComparer.Ordinal).ThenBy(s => s.Scope.Key, StringComparer.Ordinal).ToArray());
        }
    }

    public ValueTask NoteWaiterAsync(LimitScope scope, LimitWaiter waiter, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var id = (scope.Kind, scope.Name, scope.Key);
            if (!waiters.TryGetValue(id, out var those)) waiters[id] = those = new(StringComparer.Ordinal);
            those[waiter.TaskId] = waiter;
        }

        return default;
    }

    public ValueTask ForgetWaiterAsync(LimitScope scope, string taskId, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var id = (scope.Kind, scope.Name, scope.Key);
            if (waiters.TryGetValue(id, out var those) && those.Remove(taskId) && those.Count == 0) waiters.Remove(id);
        }

        return default;
    }

    /// <summary>The places of <paramref name="place"/>'s limit, if it is still held as it was; under the lock.</summary>
    private LimitPlace?[]? Current(LimitPlace place)
        => places.TryGetValue((place.Scope.Kind, place.Scope.Name, place.Scope.Key), out var held)
            && place.Index < held.Length && held[place.Index]?.Version == place.Version
                ? held
                : null;

    private string NextVersion() => (++versions).ToString(CultureInfo.InvariantCulture);
}
