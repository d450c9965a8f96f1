using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Tasks.Transports;

namespace Tasks;

/// <summary>
/// The limits stage of a run: before a task with limits runs, it takes a place in each (concurrency limits first, then
/// rates, so a rate's place is never spent on a run a concurrency limit refuses). A task over a limit does not run: it
/// is deferred to when a place is expected. A limit known full costs no storage call until then; a concurrency place
/// is held as long as the run, renewed on one timer, and lapses a lease after a crash.
/// </summary>
internal sealed partial class TaskLimiter : IDisposable
{
    /// <summary>The shortest deferral, and the first of a task that keeps finding its limit full (doubled each time, up to <see cref="LongestDeferral"/>).</summary>
    internal static readonly TimeSpan ShortestDeferral = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest deferral: a task over a limit looks again at least this often.</summary>
    internal static readonly TimeSpan LongestDeferral = TimeSpan.FromSeconds(30);

    /// <summary>What a run of a limit is expected to take before this process has seen one end.</summary>
    private static readonly TimeSpan FirstExpectedRun = TimeSpan.FromSeconds(1);

    private readonly ITaskLimitStore store;
    private readonly TimeSpan hold; // a concurrency place's hold: the worker's lease
    private readonly string worker;
    private readonly ILogger logger;
    private readonly TimeProvider time;
    private readonly ConcurrentDictionary<LimitScope, DateTimeOffset> fullUntil = new();
    private readonly ConcurrentDictionary<string, double> runMilliseconds = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<LimitPlace, LimitPlace> held = new(ReferenceEqualityComparer.Instance);
    private readonly ITimer renewals;

    public TaskLimiter(ITaskLimitStore store, TimeSpan leaseDuration, string worker, ILogger logger, TimeProvider time)
    {
        (this.store, hold, this.worker, this.logger, this.time) = (store, leaseDuration, worker, logger, time);
        var every = leaseDuration / 3;
        renewals = time.CreateTimer(static state => _ = ((TaskLimiter)state!).RenewAsync(), this, every, every);
    }

    /// <summary>The concurrency places this worker holds now.</summary>
    public int Held => held.Count;

    /// <summary>Takes a place in each limit of <paramref name="task"/> for this run, or says why it waits, or why it waited too long.</summary>
    public async ValueTask<LimitAdmission> AdmitAsync(TaskDefinition task, object arguments, ReceivedTaskMessage message)
    {
        var now = time.GetUtcNow();
        var taken = new List<LimitPlace>();
        foreach (var limit in task.Limits!.OrderBy(l => l.Kind))
        {
            var scope = new LimitScope(limit.Kind, limit.Name, limit.KeyOf(arguments), limit.Limit);
            if (message.WaitingSince is { } since && now - since > limit.MaxWait)
            {
                await ReleaseAsync(taken).ConfigureAwait(false);
                await ForgetWaiterAsync(scope, message.MessageId).ConfigureAwait(false);
                return LimitAdmission.Expired($"Waited {Say(now - since)} for a place in limit {scope} ({Describe(limit)}), longer than its MaxWait of {Say(limit.MaxWait)}.");
            }

            if (fullUntil.TryGetValue(scope, out var full) && full > now)
                return await DeferAsync(taken, task, limit, scope, message, full - now).ConfigureAwait(false);

            LimitAcquisition acquisition;
            try
            {
                var holder = new LimitHolder(message.MessageId, task.Name, worker, now);
                acquisition = await store.TryAcquireAsync(scope, holder, now, limit.Kind == TaskLimitKind.Rate ? now + limit.Period!.Value + RateMargin : now + hold, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // A limit that cannot be checked is not run past: the task waits, and looks again.
                Log.StoreFailed(logger, ex, scope.ToString());
                return await DeferAsync(taken, task, limit, scope, message, LongestDeferral / 6).ConfigureAwait(false);
            }

            if (acquisition.Place is not { } place)
            {
                var expected = Expected(limit, acquisition.Held, now);
                fullUntil[scope] = now + expected;
                return await DeferAsync(taken, task, limit, scope, message, expected).ConfigureAwait(false);
            }

            taken.Add(place);
            if (limit.Kind == TaskLimitKind.Concurrency) held[place] = place;
            if (message.WaitingSince is not null) await ForgetWaiterAsync(scope, message.MessageId).ConfigureAwait(false);
        }

        return LimitAdmission.Admitted(taken, time.GetTimestamp());
    }

    /// <summary>A run admitted by <see cref="AdmitAsync"/> ended: its concurrency places are freed (a rate's stays taken for its period).</summary>
    public async ValueTask EndAsync(LimitAdmission admission)
    {
        var ran = time.GetElapsedTime(admission.Started).TotalMilliseconds;
        foreach (var place in admission.Places.Where(p => p.Scope.Kind == TaskLimitKind.Concurrency))
        {
            runMilliseconds.AddOrUpdate(place.Scope.Name, ran, (_, average) => average * 0.8 + ran * 0.2);
            fullUntil.TryRemove(place.Scope, out _); // a place is free now: the next of this process may take it at once
        }

        await ReleaseAsync(admission.Places).ConfigureAwait(false);
    }

    public void Dispose() => renewals.Dispose();

    /// <summary>A rate's place is held a little past its period: its run starts after the place is taken, however late the answer came.</summary>
    internal static readonly TimeSpan RateMargin = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// When a place is expected to be free: a rate's when its oldest start leaves the window; a concurrency limit's
    /// when its oldest run is expected to end (as runs of that limit have taken here), at most when its hold lapses.
    /// </summary>
    private TimeSpan Expected(TaskLimit limit, IReadOnlyList<LimitPlace> places, DateTimeOffset now)
    {
        if (places.Count == 0) return ShortestDeferral;
        if (limit.Kind == TaskLimitKind.Rate) return places.Min(p => p.Until) - now;
        var run = TimeSpan.FromMilliseconds(runMilliseconds.TryGetValue(limit.Name, out var average) ? average : FirstExpectedRun.TotalMilliseconds);
        return places.Min(p => p.Holder.Since + run < p.Until ? p.Holder.Since + run : p.Until) - now;
    }

    private async ValueTask<LimitAdmission> DeferAsync(List<LimitPlace> taken, TaskDefinition task, TaskLimit limit, LimitScope scope, ReceivedTaskMessage message, TimeSpan expected)
    {
        await ReleaseAsync(taken).ConfigureAwait(false);

        // A task that keeps finding its limit full looks again less often; each deferral is spread by up to a fifth.
        var floor = TimeSpan.FromTicks(ShortestDeferral.Ticks << Math.Min(message.Deferrals, 7));
        var delay = TimeSpan.FromTicks(Math.Min(Math.Max(expected.Ticks, floor.Ticks), LongestDeferral.Ticks));
        delay += TimeSpan.FromTicks((long)(delay.Ticks * 0.2 * Random.Shared.NextDouble()));
        var now = time.GetUtcNow();
        try
        {
            await store.NoteWaiterAsync(scope, new LimitWaiter(message.MessageId, task.Name, message.WaitingSince ?? now, now + delay), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, ex, scope.ToString()); // only shown: the task waits all the same
        }

        return LimitAdmission.Deferred(delay, $"Waiting for a place in limit {scope} ({Describe(limit)}); looks again at {(now + delay).UtcDateTime:HH:mm:ss} UTC.");
    }

    private async ValueTask ReleaseAsync(IEnumerable<LimitPlace> places)
    {
        foreach (var place in places)
        {
            if (place.Scope.Kind != TaskLimitKind.Concurrency) continue; // a rate's place is spent
            held.TryRemove(place, out _);
            try
            {
                await store.ReleaseAsync(place, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.StoreFailed(logger, ex, place.Scope.ToString()); // the place lapses when its hold ends
            }
        }
    }

    private async ValueTask ForgetWaiterAsync(LimitScope scope, string taskId)
    {
        try
        {
            await store.ForgetWaiterAsync(scope, taskId, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, ex, scope.ToString());
        }
    }

    /// <summary>Every held place whose hold is past a third gone is held for another lease (a place whose hold lapsed and was taken is lost, and said).</summary>
    private async Task RenewAsync()
    {
        var now = time.GetUtcNow();
        foreach (var place in held.Keys.Where(p => p.Until - now < hold * 2 / 3).ToArray())
        {
            try
            {
                var renewed = await store.RenewAsync(place, time.GetUtcNow() + hold, CancellationToken.None).ConfigureAwait(false);
                if (renewed is null) Log.PlaceLost(logger, place.Scope.ToString(), place.Holder.TaskId);
                if (!held.TryRemove(place, out _)) continue; // the run ended meanwhile: its release used the old version
                if (renewed is not null) held[place] = renewed;
            }
            catch (Exception ex)
            {
                Log.StoreFailed(logger, ex, place.Scope.ToString());
            }
        }
    }

    private static string Describe(TaskLimit limit)
        => limit.Kind == TaskLimitKind.Rate ? $"{limit.Limit} per {Say(limit.Period!.Value)}" : $"{limit.Limit} at once";

    private static string Say(TimeSpan span) => span.ToString(span.TotalDays >= 1 ? @"d\.hh\:mm\:ss" : @"hh\:mm\:ss", System.Globalization.CultureInfo.InvariantCulture);

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Warning, "The limit store did not answer for limit {Limit}: its tasks wait until it does")]
        public static partial void StoreFailed(ILogger logger, Exception exception, string limit);

        [LoggerMessage(41, LogLevel.Warning, "Task {MessageId} lost its place in limit {Limit}: its hold lapsed (the store did not answer its renewals) and another run took it")]
        public static partial void PlaceLost(ILogger logger, string limit, string messageId);
    }
}

/// <summary>What the limits said of one run: it runs (holding these places), it waits, or it waited too long.</summary>
internal sealed class LimitAdmission
{
    private LimitAdmission(IReadOnlyList<LimitPlace> places, long started, TimeSpan? delay, string? reason, bool expired)
        => (Places, Started, Delay, Reason, IsExpired) = (places, started, delay, reason, expired);

    public IReadOnlyList<LimitPlace> Places { get; }

    public long Started { get; }

    /// <summary>For a deferred run, how long it waits.</summary>
    public TimeSpan? Delay { get; }

    /// <summary>For a deferred run, what it waits for; for an expired one, why it is dead-lettered.</summary>
    public string? Reason { get; }

    public bool IsAdmitted => Delay is null && !IsExpired;

    public bool IsExpired { get; }

    public static LimitAdmission Admitted(IReadOnlyList<LimitPlace> places, long started) => new(places, started, null, null, false);

    public static LimitAdmission Deferred(TimeSpan delay, string reason) => new([], 0, delay, reason, false);

    public static LimitAdmission Expired(string reason) => new([], 0, null, reason, true);
}
