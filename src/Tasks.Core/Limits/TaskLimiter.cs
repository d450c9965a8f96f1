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
/// is deferred to when a place is expected, spread over the time the waiters of this process need. A limit known full
/// costs no storage call until then; a concurrency place is held as long as the run, renewed on one timer, and lapses
/// a lease after a crash. A place a run gave back stays with this worker for <see cref="KeptFor"/>, for its next run
/// of that limit: a steady stream under a limit it does not reach costs no storage call per task.
/// </summary>
internal sealed partial class TaskLimiter : IDisposable
{
    /// <summary>The shortest deferral, and the first of a task that keeps finding its limit full (doubled each time, up to a second, or the limit's run time if longer).</summary>
    internal static readonly TimeSpan ShortestDeferral = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest deferral: a task over a limit looks again at least this often.</summary>
    internal static readonly TimeSpan LongestDeferral = TimeSpan.FromSeconds(30);

    /// <summary>How long a place a run gave back stays with this worker, for its next run of that limit (one it woke, say), before it is freed.</summary>
    internal static readonly TimeSpan KeptFor = TimeSpan.FromMilliseconds(250);

    /// <summary>A rate's place is held a little past its period: its run starts after the place is taken, however late the answer came.</summary>
    internal static readonly TimeSpan RateMargin = TimeSpan.FromMilliseconds(250);

    /// <summary>What a run of a limit is expected to take before this process has seen one end.</summary>
    private static readonly TimeSpan FirstExpectedRun = TimeSpan.FromSeconds(1);

    private readonly ITaskLimitStore store;
    private readonly ITaskTransport transport;
    private readonly TimeSpan hold; // a concurrency place's hold: the worker's lease
    private readonly string worker;
    private readonly ILogger logger;
    private readonly TimeProvider time;
    private readonly ConcurrentDictionary<LimitScope, DateTimeOffset> fullUntil = new();
    private readonly ConcurrentDictionary<string, double> runMilliseconds = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<HeldPlace, byte> held = new();
    private readonly ConcurrentDictionary<LimitScope, ConcurrentQueue<(HeldPlace Place, long Until)>> kept = new();
    private readonly ConcurrentDictionary<LimitScope, byte> sweeping = new();
    private readonly ConcurrentDictionary<string, LimitScope> deferring = new(StringComparer.Ordinal); // a task just refused, until its message is put back
    private readonly ConcurrentDictionary<LimitScope, ConcurrentQueue<(ReceivedTaskMessage Message, long WakesAt)>> sleeping = new();
    private readonly ConcurrentDictionary<LimitScope, int> waiting = new(); // tasks of this process deferred and not yet back, by limit
    private readonly ITimer renewals;

    public TaskLimiter(ITaskLimitStore store, ITaskTransport transport, TimeSpan leaseDuration, string worker, ILogger logger, TimeProvider time)
    {
        (this.store, this.transport, hold, this.worker, this.logger, this.time) = (store, transport, leaseDuration, worker, logger, time);
        var every = leaseDuration / 3;
        renewals = time.CreateTimer(static state => _ = ((TaskLimiter)state!).RenewAsync(), this, every, every);
    }

    /// <summary>Takes a place in each limit of <paramref name="task"/> for this run, or says why it waits, or why it waited too long.</summary>
    public async ValueTask<LimitAdmission> AdmitAsync(TaskDefinition task, object arguments, ReceivedTaskMessage message)
    {
        var now = time.GetUtcNow();
        var taken = new List<HeldPlace>();
        deferring.TryRemove(message.MessageId, out _); // a deferral whose message was not rewritten in place (a pack of many, a payload reference) left it
        foreach (var limit in task.Limits!.OrderBy(l => l.Kind))
        {
            var scope = new LimitScope(limit.Kind, limit.Name, limit.KeyOf(arguments), limit.Limit);
            if (message.WaitingSince is { } since)
            {
                waiting.AddOrUpdate(scope, 0, (_, n) => Math.Max(0, n - 1)); // back from its wait
                if (now - since > limit.MaxWait)
                {
                    Free(taken);
                    await ForgetWaiterAsync(scope, message.MessageId).ConfigureAwait(false);
                    return LimitAdmission.Expired($"Waited {Say(now - since)} for a place in limit {scope} ({Describe(limit)}), longer than its MaxWait of {Say(limit.MaxWait)}.");
                }
            }

            if (limit.Kind == TaskLimitKind.Concurrency && TakeKept(scope) is { } mine)
            {
                taken.Add(mine);
                if (message.WaitingSince is not null) await ForgetWaiterAsync(scope, message.MessageId).ConfigureAwait(false);
                continue;
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

            if (limit.Kind == TaskLimitKind.Concurrency)
            {
                var handle = new HeldPlace(place);
                held[handle] = 0;
                taken.Add(handle);
            }

            if (message.WaitingSince is not null) await ForgetWaiterAsync(scope, message.MessageId).ConfigureAwait(false);
        }

        return LimitAdmission.Admitted(taken, time.GetTimestamp());
    }

    /// <summary>
    /// A run admitted by <see cref="AdmitAsync"/> ended: its concurrency places stay with this worker for <see cref="KeptFor"/>,
    /// for its next run of the limit, then are freed (a rate's place stays taken for its period). No storage call here.
    /// </summary>
    public void End(LimitAdmission admission)
    {
        var ran = time.GetElapsedTime(admission.Started).TotalMilliseconds;
        foreach (var place in admission.Places)
        {
            runMilliseconds.AddOrUpdate(place.Scope.Name, ran, (_, average) => average * 0.8 + ran * 0.2);
            fullUntil.TryRemove(place.Scope, out _); // a place is free now: the next of this process may take it at once
            kept.GetOrAdd(place.Scope, _ => new()).Enqueue((place, time.GetTimestamp() + (long)(KeptFor.TotalSeconds * time.TimestampFrequency)));
            _ = WakeOneAsync(place.Scope);
            _ = FreeUnusedAsync(place.Scope);
        }
    }

    /// <summary>
    /// The message of a task this worker deferred is back in its queue, rewritten in place: this worker still holds its
    /// receipt, so when a place of its limit comes free here, the message is made visible at once (one queue call)
    /// rather than at the end of its deferral.
    /// </summary>
    public void Sleeping(string taskId, ReceivedTaskMessage carrier, TimeSpan delay)
    {
        if (deferring.TryRemove(taskId, out var scope) && scope.Kind == TaskLimitKind.Concurrency)
            sleeping.GetOrAdd(scope, _ => new()).Enqueue((carrier, time.GetTimestamp() + (long)(delay.TotalSeconds * time.TimestampFrequency)));
    }

    /// <summary>Wakes the task that has slept longest for <paramref name="scope"/> in this worker and sleeps still, if any.</summary>
    private async Task WakeOneAsync(LimitScope scope)
    {
        if (!sleeping.TryGetValue(scope, out var sleepers)) return;
        while (sleepers.TryDequeue(out var sleeper))
        {
            if (sleeper.WakesAt <= time.GetTimestamp()) continue; // awake by itself already
            try
            {
                await transport.ReleaseAsync(sleeper.Message, TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);
                return;
            }
            catch (Exception)
            {
                // Taken by another receive (its receipt is old), or the queue did not answer: the next one, then.
            }
        }
    }

    public void Dispose() => renewals.Dispose();

    /// <summary>
    /// When a place is expected to be free: a rate's when its oldest start leaves the window; a concurrency limit's
    /// when its oldest run is expected to end (as runs of that limit have taken here), at most when its hold lapses.
    /// </summary>
    private TimeSpan Expected(TaskLimit limit, IReadOnlyList<LimitPlace> places, DateTimeOffset now)
    {
        if (places.Count == 0) return ShortestDeferral;
        if (limit.Kind == TaskLimitKind.Rate) return places.Min(p => p.Until) - now;
        var run = RunTime(limit);
        return places.Min(p => p.Holder.Since + run < p.Until ? p.Holder.Since + run : p.Until) - now;
    }

    /// <summary>How long runs of <paramref name="limit"/> have taken in this process (a moving average), or a second before one has ended.</summary>
    private TimeSpan RunTime(TaskLimit limit)
        => TimeSpan.FromMilliseconds(runMilliseconds.TryGetValue(limit.Name, out var average) ? average : FirstExpectedRun.TotalMilliseconds);

    private async ValueTask<LimitAdmission> DeferAsync(List<HeldPlace> taken, TaskDefinition task, TaskLimit limit, LimitScope scope, ReceivedTaskMessage message, TimeSpan expected)
    {
        Free(taken);

        // It looks again when a place is expected, spread over the time the waiters of this process need (each a run's
        // time, a limit's places at once), so they do not all wake together. One that keeps finding the limit full looks
        // again less often, up to a second apart (or a run's time, for a limit of long runs).
        var run = limit.Kind == TaskLimitKind.Rate ? limit.Period!.Value / limit.Limit : RunTime(limit);
        var ahead = waiting.AddOrUpdate(scope, 1, (_, n) => n + 1);
        var floor = Math.Min(ShortestDeferral.Ticks << Math.Min(message.Deferrals, 7), Math.Max(TimeSpan.TicksPerSecond, run.Ticks));
        var spread = (long)(run.Ticks * (double)ahead / limit.Limit * Random.Shared.NextDouble());
        var delay = TimeSpan.FromTicks(Math.Min(Math.Max(expected.Ticks, floor) + spread, LongestDeferral.Ticks));
        var now = time.GetUtcNow();
        deferring[message.MessageId] = scope;
        if (message.Deferrals == 0)
        {
            try
            {
                await store.NoteWaiterAsync(scope, new LimitWaiter(message.MessageId, task.Name, now, now + delay), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.StoreFailed(logger, ex, scope.ToString()); // only shown: the task waits all the same
            }
        }

        return LimitAdmission.Deferred(delay, $"Waiting for a place in limit {scope} ({Describe(limit)}); looks again at {(now + delay).UtcDateTime:HH:mm:ss} UTC.");
    }

    /// <summary>A place of <paramref name="scope"/> a run of this worker gave back and that is held long enough still, if any.</summary>
    private HeldPlace? TakeKept(LimitScope scope)
    {
        if (!kept.TryGetValue(scope, out var places)) return null;
        var soon = time.GetUtcNow() + hold / 3;
        while (places.TryDequeue(out var entry))
        {
            if (entry.Place.Current.Until > soon && held.ContainsKey(entry.Place)) return entry.Place;
            Free([entry.Place]); // about to lapse: freed rather than run on
        }

        return null;
    }

    /// <summary>Frees the places of <paramref name="scope"/> kept longer than <see cref="KeptFor"/> without a run taking them.</summary>
    /// <remarks>One sweep at a time per limit and key, however many runs end meanwhile.</remarks>
    private async Task FreeUnusedAsync(LimitScope scope)
    {
        if (!sweeping.TryAdd(scope, 0) || !kept.TryGetValue(scope, out var places)) return;
        while (true)
        {
            while (!places.IsEmpty)
            {
                await Task.Delay(KeptFor, time).ConfigureAwait(false);

                // Those kept past their time.
                var now = time.GetTimestamp();
                while (places.TryPeek(out var oldest) && oldest.Until <= now && places.TryDequeue(out var entry)) Free([entry.Place]);
            }

            sweeping.TryRemove(scope, out _);
            if (places.IsEmpty || !sweeping.TryAdd(scope, 0)) return; // a place kept just now has its sweep
        }
    }

    /// <summary>Frees places this worker holds, in the background: a place whose release fails lapses when its hold ends.</summary>
    private void Free(IEnumerable<HeldPlace> places)
    {
        foreach (var place in places)
        {
            if (held.TryRemove(place, out _)) _ = ReleaseAsync(place.Current);
        }
    }

    private async Task ReleaseAsync(LimitPlace place)
    {
        try
        {
            await store.ReleaseAsync(place, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.StoreFailed(logger, ex, place.Scope.ToString());
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
        foreach (var place in held.Keys.Where(p => p.Current.Until - now < hold * 2 / 3).ToArray())
        {
            try
            {
                var renewed = await store.RenewAsync(place.Current, time.GetUtcNow() + hold, CancellationToken.None).ConfigureAwait(false);
                if (renewed is not null)
                {
                    place.Current = renewed;
                }
                else if (held.TryRemove(place, out _))
                {
                    Log.PlaceLost(logger, place.Scope.ToString(), place.Current.Holder.TaskId);
                }
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

/// <summary>A concurrency place this worker holds: its current version, as renewals change it.</summary>
internal sealed class HeldPlace(LimitPlace place)
{
    private LimitPlace current = place;

    public LimitScope Scope { get; } = place.Scope;

    public LimitPlace Current
    {
        get => Volatile.Read(ref current);
        set => Volatile.Write(ref current, value);
    }
}

/// <summary>What the limits said of one run: it runs (holding these concurrency places), it waits, or it waited too long.</summary>
internal sealed class LimitAdmission
{
    private LimitAdmission(IReadOnlyList<HeldPlace> places, long started, TimeSpan? delay, string? reason, bool expired)
        => (Places, Started, Delay, Reason, IsExpired) = (places, started, delay, reason, expired);

    /// <summary>The concurrency places the run holds (a rate's place is spent when taken).</summary>
    public IReadOnlyList<HeldPlace> Places { get; }

    public long Started { get; }

    /// <summary>For a deferred run, how long it waits.</summary>
    public TimeSpan? Delay { get; }

    /// <summary>For a deferred run, what it waits for; for an expired one, why it is dead-lettered.</summary>
    public string? Reason { get; }

    public bool IsAdmitted => Delay is null && !IsExpired;

    public bool IsExpired { get; }

    public static LimitAdmission Admitted(IReadOnlyList<HeldPlace> places, long started) => new(places, started, null, null, false);

    public static LimitAdmission Deferred(TimeSpan delay, string reason) => new([], 0, delay, reason, false);

    public static LimitAdmission Expired(string reason) => new([], 0, null, reason, true);
}
