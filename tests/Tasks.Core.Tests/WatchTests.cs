using System.Collections.Concurrent;

namespace Tasks.Core.Tests;

/// <summary>Watching tasks in memory: from this process's record writes at once, and from the store by the shared poll.</summary>
public sealed class WatchTests
{
    [Fact]
    public async Task A_watch_of_a_task_sees_its_events_in_order_and_a_wait_returns_its_final_record()
    {
        await using var harness = new RecordHarness();
        var script = Scripts.Add(async (context, ct) => await context.ReportProgressAsync(0.5, "half"));
        await harness.Worker.StartAsync();
        var id = await RecordedTasks.RunAsync.Enqueue(harness.Client, script);

        var events = new List<TaskEvent>();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await foreach (var e in harness.Store.Watcher.WatchAsync(new TaskWatchFilter { TaskId = id }, stop.Token)) events.Add(e); // ends with the task's last event

        Assert.Equal([TaskEventKind.Enqueued, TaskEventKind.Started, TaskEventKind.Progress, TaskEventKind.Succeeded], events.Select(e => e.Kind));
        Assert.Equal(0.5, events[2].Progress!.Fraction);
        Assert.All(events, e => Assert.Equal(("Tasks.Core.Tests.RecordedTasks.Run", RecordedTasks.Queue), (e.TaskName, e.Queue)));
        Assert.Equal(TaskState.Succeeded, (await harness.Store.Watcher.WaitAsync(id, TimeSpan.FromSeconds(5))).State);
    }

    [Fact]
    public async Task A_wait_returns_dead_lettered_and_cancelled_records_and_honours_its_timeout()
    {
        await using var harness = new RecordHarness();
        var failing = Scripts.Add((_, _) => throw new InvalidOperationException("no carrier"));
        var slow = Scripts.Add(async (_, ct) => await Task.Delay(TimeSpan.FromSeconds(30), ct));
        await harness.Worker.StartAsync();
        var watcher = harness.Store.Watcher;

        var dead = await RecordedTasks.RunAsync.Enqueue(harness.Client, failing);
        var cancelled = await RecordedTasks.RunAsync.Enqueue(harness.Client, slow);
        var deadRecord = watcher.WaitAsync(dead, TimeSpan.FromSeconds(20));
        var cancelledRecord = watcher.WaitAsync(cancelled, TimeSpan.FromSeconds(20));
        await harness.WaitForStateAsync(cancelled, TaskState.Running);
        await harness.Client.CancelAsync(cancelled);

        Assert.Equal(TaskState.DeadLettered, (await deadRecord).State);
        Assert.Contains("no carrier", (await deadRecord).Reason);
        Assert.Equal(TaskState.Cancelled, (await cancelledRecord).State);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Assert.ThrowsAsync<TimeoutException>(() => watcher.WaitAsync("AaJR9AChAyWgtwYAAAAAAA", TimeSpan.FromMilliseconds(300)));
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.25, 5);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watcher.WaitAsync("AaJR9AChAyWgtwYAAAAAAA", null, cancel.Token));
    }

    [Fact]
    public async Task A_wait_for_a_tracked_batch_returns_its_counts_once_every_task_ended()
    {
        await using var harness = new RecordHarness();
        var script = Scripts.Add(async (_, ct) => await Task.Delay(100, ct));
        var batch = new TaskBatch { Tracked = true };
        for (var i = 0; i < 3; i++) batch.Add(RecordedTasks.RunAsync.Prepare(script));
        await harness.Client.EnqueueBatchAsync(batch);
        var waiting = harness.Store.Watcher.WaitForBatchAsync(batch.Id!, TimeSpan.FromSeconds(20));
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted); // no worker yet

        await harness.Worker.StartAsync();
        var ended = await waiting;

        Assert.Equal((3, 3, 0), (ended.Total, ended.Succeeded, ended.Pending));
        await Assert.ThrowsAsync<TimeoutException>(() => harness.Store.Watcher.WaitForBatchAsync("AaJR9AChAyWgtwYAAAAAAA", TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task A_watch_of_a_queue_from_the_store_alone_sees_every_event_of_50_tasks_in_order()
    {
        await using var harness = new RecordHarness();
        var script = Scripts.Add((_, _) => Task.CompletedTask);
        var elsewhere = new TaskWatcher(harness.Store, TimeSpan.FromMilliseconds(100)); // no record write of this process reaches it: another process's view
        var events = new ConcurrentQueue<TaskEvent>();
        using var stop = new CancellationTokenSource();
        var watching = Task.Run(async () =>
        {
            await foreach (var e in elsewhere.WatchAsync(new TaskWatchFilter { Queue = RecordedTasks.Queue }, stop.Token)) events.Enqueue(e);
        });
        await Task.Delay(300); // its first poll: what was there before is not reported
        await harness.Worker.StartAsync();
        var ids = new List<string>();
        for (var i = 0; i < 50; i++) ids.Add(await RecordedTasks.RunAsync.Enqueue(harness.Client, script));

        await Harness.WaitUntil(() => ids.All(id => events.Any(e => e.TaskId == id && e.IsFinal)), "every task's end to be seen");
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watching);

        foreach (var id in ids)
            Assert.Equal([TaskEventKind.Enqueued, TaskEventKind.Started, TaskEventKind.Succeeded], events.Where(e => e.TaskId == id).Select(e => e.Kind));
    }

    [Fact]
    public async Task A_hundred_watches_cost_the_reads_of_one_and_none_once_they_stop()
    {
        await using var harness = new RecordHarness();
        var id = await RecordedTasks.RunAsync.Enqueue(harness.Client, Scripts.Add((_, _) => Task.CompletedTask));
        var one = new TaskWatcher(harness.Store, TimeSpan.FromMilliseconds(50));
        var hundred = new TaskWatcher(harness.Store, TimeSpan.FromMilliseconds(50));

        using var stop = new CancellationTokenSource();
        var watches = new List<Task> { Drain(one.WatchAsync(new TaskWatchFilter { TaskId = id }, stop.Token)) };
        for (var i = 0; i < 100; i++) watches.Add(Drain(hundred.WatchAsync(new TaskWatchFilter { TaskId = id }, stop.Token)));
        var watching = System.Diagnostics.Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(1));
        var (readsOfOne, readsOfHundred) = (one.StoreReads, hundred.StoreReads);
        var intervals = (int)(watching.Elapsed.TotalMilliseconds / 50) + 3;
        await stop.CancelAsync();
        await Task.WhenAll(watches.Select(w => w.ContinueWith(_ => { })));
        var after = one.StoreReads + hundred.StoreReads;
        await Task.Delay(500);

        // One read per interval for the task, however many watch it (a read per watch would be a hundred times as many).
        // Bounded by the intervals that passed, not by the other watcher's count: on a loaded machine either poll may
        // run a few times fewer in the second.
        Assert.InRange(readsOfOne, 3, intervals);
        Assert.InRange(readsOfHundred, 3, intervals);
        Assert.Equal(after, one.StoreReads + hundred.StoreReads); // stopped: no read since

        static async Task Drain(IAsyncEnumerable<TaskEvent> events)
        {
            await foreach (var _ in events)
            {
            }
        }
    }
}
