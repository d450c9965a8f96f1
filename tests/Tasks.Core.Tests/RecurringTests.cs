using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Tasks.Core.Tests;

/// <summary>
/// The schedule of a recurring task, kept by several workers over one store on a fake clock: each
/// occurrence enqueued once, a missed one caught up once after an outage, daylight saving time.
/// </summary>
public sealed class RecurringTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 5, 8, 3, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider time = new(Start);
    private readonly InMemoryTransport transport;

    public RecurringTests() => transport = new InMemoryTransport(time);

    private RecurringScheduler Scheduler(TaskDefinition task)
        => new([task], transport, new TaskClient(transport, time), MessagePack.MessagePackSerializerOptions.Standard, time, NullLogger.Instance);

    private int Enqueued => transport.Peek(RecurringTasks.Queue).Count;

    /// <summary>A task without arguments on another schedule than the generated ones.</summary>
    private static TaskDefinition Recurring(string name, TaskSchedule schedule)
        => new TaskDefinition<RecurringTasks.EveryTenMinutesAsync.Arguments>(
            name, RecurringTasks.Queue, 1, typeof(RecurringTasks), "Other", false,
            new RecurringTasks.EveryTenMinutesAsync.Formatter(), static (_, _, _) => Task.CompletedTask)
        {
            Schedule = schedule,
        };

    [Fact]
    public async Task Three_workers_on_one_store_enqueue_each_occurrence_exactly_once()
    {
        var schedulers = Enumerable.Range(0, 3).Select(_ => Scheduler(RecurringTasks.EveryTenMinutesAsync.Definition)).ToArray();
        var occurrences = new List<DateTimeOffset>();

        // Two hours, a minute at a time, the three workers looking at once.
        for (var minute = 0; minute <= 120; minute++)
        {
            await Task.WhenAll(schedulers.Select(s => Task.Run(() => s.KeepAsync(CancellationToken.None))));
            var last = (await transport.ReadScheduleAsync(RecurringTasks.EveryTenMinutesAsync.Definition.Name, default))!.State.LastOccurrence;
            if (last != Start && !occurrences.Contains(last)) occurrences.Add(last);
            time.Advance(TimeSpan.FromMinutes(1));
        }

        // 08:10 to 10:00: twelve occurrences; the schedule began at 08:03, so 08:00 never ran.
        Assert.Equal(Enumerable.Range(0, 12).Select(i => new DateTimeOffset(2026, 1, 5, 8, 10, 0, TimeSpan.Zero).AddMinutes(10 * i)), occurrences);
        Assert.Equal(12, Enqueued);
        Assert.All(transport.Peek(RecurringTasks.Queue), m => Assert.Equal(RecurringTasks.EveryTenMinutesAsync.Definition.Name, TaskEnvelopeSummary.Of(m.Body).TaskName));
    }

    [Fact]
    public async Task A_worker_back_from_an_outage_enqueues_the_latest_missed_occurrence_once_and_a_restart_repeats_nothing()
    {
        var task = RecurringTasks.EveryTenMinutesAsync.Definition;
        await Scheduler(task).KeepAsync(CancellationToken.None); // the schedule starts at 08:03

        time.Advance(TimeSpan.FromMinutes(35)); // no worker ran through 08:10, 08:20 and 08:30
        await Scheduler(task).KeepAsync(CancellationToken.None);
        Assert.Equal(1, Enqueued);
        Assert.Equal(new DateTimeOffset(2026, 1, 5, 8, 30, 0, TimeSpan.Zero), (await transport.ReadScheduleAsync(task.Name, default))!.State.LastOccurrence);

        await Scheduler(task).KeepAsync(CancellationToken.None); // a restart at 08:38
        Assert.Equal(1, Enqueued);

        time.Advance(TimeSpan.FromMinutes(2)); // 08:40
        await Scheduler(task).KeepAsync(CancellationToken.None);
        Assert.Equal(2, Enqueued);
    }

    [Fact]
    public async Task A_worker_that_looks_late_by_less_than_the_claim_timeout_enqueues_each_occurrence_it_is_late_for()
    {
        var task = RecurringTasks.EverySecondAsync.Definition;
        await Scheduler(task).KeepAsync(CancellationToken.None);

        time.Advance(TimeSpan.FromSeconds(30)); // a long pause of the process, say
        await Scheduler(task).KeepAsync(CancellationToken.None);

        Assert.Equal(30, Enqueued);
        Assert.Equal(Start.AddSeconds(30), (await transport.ReadScheduleAsync(task.Name, default))!.State.LastOccurrence);
    }

    [Fact]
    public async Task A_claim_left_by_a_worker_that_died_before_its_enqueue_is_taken_over_after_the_claim_timeout()
    {
        var task = RecurringTasks.EveryTenMinutesAsync.Definition;
        var occurrence = new DateTimeOffset(2026, 1, 5, 8, 0, 0, TimeSpan.Zero);
        time.Advance(TimeSpan.FromSeconds(10));
        await transport.TryWriteScheduleAsync(task.Name, new ScheduleState(occurrence.AddMinutes(-10), Pending: occurrence, PendingSince: time.GetUtcNow()), null, default);

        time.Advance(RecurringScheduler.ClaimTimeout - TimeSpan.FromSeconds(1));
        await Scheduler(task).KeepAsync(CancellationToken.None);
        Assert.Equal(0, Enqueued); // its worker may still be enqueueing it

        time.Advance(TimeSpan.FromSeconds(2));
        await Scheduler(task).KeepAsync(CancellationToken.None);
        Assert.Equal(1, Enqueued);
        Assert.Equal(new ScheduleState(occurrence), (await transport.ReadScheduleAsync(task.Name, default))!.State);
    }

    [Fact]
    public async Task A_worker_that_wakes_just_before_an_occurrence_over_a_slow_store_waits_for_it_not_for_the_one_after()
    {
        var task = RecurringTasks.EveryTenMinutesAsync.Definition;
        var slowStore = new SlowScheduleStore(transport, time, readTakes: TimeSpan.FromMilliseconds(5));
        var scheduler = new RecurringScheduler([task], slowStore, new TaskClient(transport, time), MessagePack.MessagePackSerializerOptions.Standard, time, NullLogger.Instance);
        await scheduler.KeepAsync(CancellationToken.None); // the schedule starts at 08:03

        // Timers may fire a little early (Task.Delay truncates to whole milliseconds): 08:09:59.999.
        time.AdjustTime(new DateTimeOffset(2026, 1, 5, 8, 10, 0, TimeSpan.Zero).AddMilliseconds(-1));
        var wait = await scheduler.KeepAsync(CancellationToken.None);
        Assert.Equal(0, Enqueued); // 08:10 was not due yet when the store was read

        Assert.True(wait < TimeSpan.FromSeconds(1), $"The worker would wait {wait} and enqueue the 08:10 occurrence with the 08:20 one.");
        time.Advance(wait);
        await scheduler.KeepAsync(CancellationToken.None);
        Assert.Equal(1, Enqueued);
    }

    /// <summary>A store whose reads take time on the fake clock, like a round trip to Azure.</summary>
    private sealed class SlowScheduleStore(IScheduleStore inner, FakeTimeProvider time, TimeSpan readTakes) : IScheduleStore
    {
        public async ValueTask<StoredScheduleState?> ReadScheduleAsync(string taskName, CancellationToken cancellationToken)
        {
            var state = await inner.ReadScheduleAsync(taskName, cancellationToken);
            time.Advance(readTakes);
            return state;
        }

        public ValueTask<string?> TryWriteScheduleAsync(string taskName, ScheduleState state, string? expectedVersion, CancellationToken cancellationToken)
            => inner.TryWriteScheduleAsync(taskName, state, expectedVersion, cancellationToken);
    }

    [Theory]
    [InlineData("2026-03-27T12:00:00Z", "2026-03-29T01:00:00Z")] // spring: 02:30 does not exist in Paris; it runs at 03:00 CEST
    [InlineData("2026-10-23T12:00:00Z", "2026-10-25T00:30:00Z")] // autumn: 02:30 happens twice; it runs once, at the first
    public async Task A_daily_occurrence_in_a_daylight_saving_change_runs_once(string from, string expectedOnTheDay)
    {
        var daily = Recurring("Recurring.Daily", new TaskSchedule("30 2 * * *", "Europe/Paris"));
        time.AdjustTime(DateTimeOffset.Parse(from, System.Globalization.CultureInfo.InvariantCulture));
        var scheduler = Scheduler(daily);
        var occurrences = new List<DateTimeOffset>();
        for (var step = 0; step < 4 * 24 * 4; step++) // four days, every 15 minutes
        {
            await scheduler.KeepAsync(CancellationToken.None);
            var last = (await transport.ReadScheduleAsync(daily.Name, default))!.State.LastOccurrence;
            if (occurrences.Count == 0 || occurrences[^1] != last) occurrences.Add(last);
            time.Advance(TimeSpan.FromMinutes(15));
        }

        var runs = occurrences.Skip(1).ToArray(); // the first is when the schedule began
        Assert.Equal(4, runs.Length);
        Assert.Equal(4, Enqueued);
        Assert.Equal(runs.Select(r => r.UtcDateTime.Date).Distinct().Count(), runs.Length); // one per day
        Assert.Contains(DateTimeOffset.Parse(expectedOnTheDay, System.Globalization.CultureInfo.InvariantCulture), runs);
    }

    [Fact]
    public async Task A_worker_host_runs_its_recurring_tasks_on_their_schedule()
    {
        RecurringTasks.EverySecondRuns.Clear();
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAsyncTaskWorker(o =>
        {
            o.Queues.Add(RecurringTasks.Queue);
            o.MinPollingInterval = TimeSpan.FromMilliseconds(5);
        }).UseInMemoryTransport();
        using var host = builder.Build();

        await host.StartAsync();
        await Harness.WaitUntil(() => RecurringTasks.EverySecondRuns.Count >= 3, "three occurrences ran");
        await host.StopAsync();

        var state = (await host.Services.GetRequiredService<InMemoryTransport>().ReadScheduleAsync(RecurringTasks.EverySecondAsync.Definition.Name, default))!.State;
        Assert.Null(state.Pending);
        Assert.Equal(0, state.LastOccurrence.Millisecond); // an occurrence, on the second
        Assert.Equal(RecurringTasks.EverySecondRuns.Count, RecurringTasks.EverySecondRuns.Distinct().Count());
    }

    [Fact]
    public async Task A_worker_that_does_not_serve_the_queue_of_a_recurring_task_does_not_keep_its_schedule()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAsyncTaskWorker(o => o.Queues.Add(ScriptedTasks.Queue)).UseInMemoryTransport();
        using var host = builder.Build();

        await host.StartAsync();
        await Task.Delay(1500);
        await host.StopAsync();

        Assert.Null(await host.Services.GetRequiredService<InMemoryTransport>().ReadScheduleAsync(RecurringTasks.EverySecondAsync.Definition.Name, default));
    }

    [Fact]
    public async Task A_time_zone_this_machine_does_not_know_fails_the_worker_host_at_start_naming_the_task_and_the_fix()
    {
        var registry = new TaskRegistry();
        registry.Register(Recurring("Recurring.OnMars", new TaskSchedule("0 7 * * *", "Mars/Olympus")));
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton(sp => new TaskWorker(
            sp.GetRequiredService<ITaskTransport>(), new TaskWorkerOptions { Queues = { RecurringTasks.Queue } }, sp, registry: registry));
        builder.Services.AddAsyncTaskWorker().UseInMemoryTransport();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());

        Assert.Contains("The recurring task Recurring.OnMars cannot keep its schedule '0 7 * * *' (Mars/Olympus)", error.Message);
        Assert.Contains("install the time zone database (tzdata)", error.Message);
        await host.StopAsync();
    }
}
