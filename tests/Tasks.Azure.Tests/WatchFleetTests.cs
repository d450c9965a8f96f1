using System.Collections.Concurrent;

namespace Tasks.Azure.Tests;

/// <summary>
/// Watching across processes: a producer and a worker (tests/Fixtures/Tasks.Fixtures.FaultWorker) on an Azurite of their
/// own, and a watcher in this process that learns what they did from the record tables alone.
/// </summary>
[Trait("Category", "Fault")]
public sealed class WatchFleetTests : IAsyncLifetime
{
    private AzuriteProcess? azurite;

    public async Task InitializeAsync() => azurite = await AzuriteProcess.StartAsync(tables: true);

    public async Task DisposeAsync()
    {
        if (azurite is not null) await azurite.DisposeAsync();
    }

    [Fact]
    public async Task A_watcher_in_another_process_sees_every_event_of_50_tasks_in_order_within_flush_and_watch_intervals()
    {
        using var fleet = new FaultWorkers(azurite!.ConnectionString, "watch");
        fleet.Start("worker", "worker.log", ["8", "10"]);
        var store = new AzureTableTaskRecordStore(new AzureQueueOptions { ConnectionString = azurite.ConnectionString, QueuePrefix = fleet.Prefix });
        var seen = new ConcurrentQueue<(TaskEvent Event, DateTimeOffset At)>();
        using var stop = new CancellationTokenSource();
        var watching = Task.Run(async () =>
        {
            await foreach (var e in store.Watcher.WatchAsync(new TaskWatchFilter { Queue = "fault" }, stop.Token)) seen.Enqueue((e, DateTimeOffset.UtcNow));
        });
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // its first look: what was there before is not reported

        await fleet.Start("recorded", "enqueued.log", ["50", "50"]).WaitForExitAsync(TimeSpan.FromMinutes(1));
        var ids = fleet.Lines("enqueued.log").Select(l => l[2]).ToArray();
        Assert.Equal(50, ids.Length);
        await FaultWorkers.WaitAsync(() => ids.All(id => seen.Any(s => s.Event.TaskId == id && s.Event.IsFinal)), TimeSpan.FromMinutes(1),
            () => $"{seen.Count(s => s.Event.IsFinal)} of 50 ends seen; runs: {fleet.Lines("worker.log").Length}");
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watching);

        foreach (var id in ids)
        {
            var events = seen.Where(s => s.Event.TaskId == id).Select(s => s.Event).ToArray();
            Assert.Equal([TaskEventKind.Enqueued, TaskEventKind.Started, TaskEventKind.Succeeded], events.Select(e => e.Kind));
            Assert.Equal(1, events[1].Attempt);
            Assert.All(events, e => Assert.Equal("Tasks.Fixtures.FaultTasks.Record", e.TaskName));
        }

        // Each event is in the store within the worker's record flush (1 s), and seen within the watch interval (1 s) after.
        var delays = seen.Select(s => (s.At - s.Event.At).TotalSeconds).Order().ToArray();
        Assert.True(delays[(int)(delays.Length * 0.99)] < 3.5, $"p99 delay {delays[(int)(delays.Length * 0.99)]:0.00} s (p50 {delays[delays.Length / 2]:0.00} s)");
    }

    [Fact]
    public async Task A_hundred_watchers_of_a_process_cost_the_table_calls_of_one_and_a_watcher_that_stopped_none()
    {
        var options = new AzureQueueOptions { ConnectionString = azurite!.ConnectionString, QueuePrefix = "w" + Guid.NewGuid().ToString("N")[..8] + "-" };
        var (oneCost, hundredCost) = (await CostAsync(new AzureTableTaskRecordStore(options), 1), await CostAsync(new AzureTableTaskRecordStore(options), 100));
        var before = azurite.TableRequestCount();
        await Task.Delay(TimeSpan.FromSeconds(3));
        var afterwards = azurite.TableRequestCount() - before;

        Assert.True(oneCost >= 3, $"one watcher made {oneCost} table calls in 5 s");
        Assert.InRange(hundredCost, oneCost * 0.6, oneCost * 1.4);
        Assert.Equal(0, afterwards);

        async Task<int> CostAsync(AzureTableTaskRecordStore store, int watchers)
        {
            using var stop = new CancellationTokenSource();
            var watches = Enumerable.Range(0, watchers).Select(_ => Task.Run(async () =>
            {
                await foreach (var _ in store.Watcher.WatchAsync(new TaskWatchFilter { Queue = "fault" }, stop.Token))
                {
                }
            })).ToArray();
            await Task.Delay(TimeSpan.FromSeconds(1)); // the first poll (and the tables' creation) not counted
            var start = azurite.TableRequestCount();
            await Task.Delay(TimeSpan.FromSeconds(5));
            var cost = azurite.TableRequestCount() - start;
            await stop.CancelAsync();
            await Task.WhenAll(watches.Select(w => w.ContinueWith(_ => { })));
            await Task.Delay(TimeSpan.FromSeconds(1.5)); // a poll in flight ends
            return cost;
        }
    }
}
