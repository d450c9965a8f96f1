namespace Tasks.Core.Tests;

public sealed class WorkerLifecycleTests
{
    [Fact]
    public async Task A_stop_waits_for_the_receive_loop_of_a_shard_that_went_while_the_worker_ran()
    {
        var transport = new TwoShards(new InMemoryTransport());
        var options = new TaskWorkerOptions { MinPollingInterval = TimeSpan.FromMilliseconds(5), MaxPollingInterval = TimeSpan.FromMilliseconds(20) };
        options.Queues.Add("sharded");
        await using var worker = new TaskWorker(transport, options);
        await worker.StartAsync();
        await transport.GoneReceiving.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // The shard goes while a receive of it is in flight (a slow service): its loop is stopped, and must still be awaited.
        transport.Shards = ["a"];
        await Task.Delay(200);
        var stop = worker.StopAsync();
        await Task.Delay(200);
        Assert.False(stop.IsCompleted, "the stop returned while a receive loop still ran");
        transport.FinishGoneReceive.SetResult();
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(transport.GoneReturned);
    }

    /// <summary>A queue of shards "a" and "gone"; a receive from "gone" ends only when the test says so (it honours its token late).</summary>
    private sealed class TwoShards(InMemoryTransport inner) : WrappedTransport(inner), IShardedTaskTransport
    {
        public volatile string[] Shards = ["a", "gone"];

        public TaskCompletionSource GoneReceiving { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource FinishGoneReceive { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool GoneReturned { get; private set; }

        public TimeSpan ShardCheckInterval => TimeSpan.FromMilliseconds(20);

        public ValueTask<IReadOnlyList<string>> GetReceiveShardsAsync(string queue, CancellationToken cancellationToken) => new(Shards);

        public async ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, string shard, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
        {
            if (shard != "gone") return await ReceiveAsync(queue, maxMessages, leaseDuration, cancellationToken);
            GoneReceiving.TrySetResult();
            await FinishGoneReceive.Task;
            GoneReturned = true;
            return [];
        }
    }

    [Fact]
    public async Task Concurrency_never_exceeds_the_worker_limit()
    {
        await using var h = new Harness(o =>
        {
            o.MaxConcurrency = 3;
            o.Queues.Add("other");
        }, TimeProvider.System);
        var running = 0;
        var peak = 0;
        var id = Scripts.Add(async (_, cancellationToken) =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref peak, now);
            await Task.Delay(20, cancellationToken);
            Interlocked.Decrement(ref running);
        });
        for (var i = 0; i < 15; i++)
        {
            await ScriptedTasks.RunAsync.Enqueue(h.Client, id);
            await ScriptedTasks.RunOtherAsync.Enqueue(h.Client, id);
        }

        await h.Worker.StartAsync();
        await Harness.WaitUntil(() => h.Results.Count == 30, "30 tasks completed");
        await h.Worker.StopAsync();

        Assert.All(h.Results, r => Assert.Equal(TaskOutcome.Completed, r.Outcome));
        Assert.Equal(3, peak);
    }

    [Fact]
    public async Task Concurrency_per_queue_never_exceeds_its_limit()
    {
        await using var h = new Harness(o =>
        {
            o.MaxConcurrency = 10;
            o.MaxConcurrencyPerQueue = 2;
            o.Queues.Add("other");
        }, TimeProvider.System);
        var running = new int[2];
        var peaks = new int[2];
        string Script(int queue) => Scripts.Add(async (_, cancellationToken) =>
        {
            var now = Interlocked.Increment(ref running[queue]);
            InterlockedMax(ref peaks[queue], now);
            await Task.Delay(20, cancellationToken);
            Interlocked.Decrement(ref running[queue]);
        });
        var (first, second) = (Script(0), Script(1));
        for (var i = 0; i < 10; i++)
        {
            await ScriptedTasks.RunAsync.Enqueue(h.Client, first);
            await ScriptedTasks.RunOtherAsync.Enqueue(h.Client, second);
        }

        await h.Worker.StartAsync();
        await Harness.WaitUntil(() => h.Results.Count == 20, "20 tasks completed");
        await h.Worker.StopAsync();

        Assert.Equal([2, 2], peaks);
    }

    [Fact]
    public async Task Per_queue_limit_holds_for_a_single_queue_too()
    {
        await using var h = new Harness(o =>
        {
            o.MaxConcurrency = 10;
            o.MaxConcurrencyPerQueue = 2;
        }, TimeProvider.System);
        var running = 0;
        var peak = 0;
        var id = Scripts.Add(async (_, cancellationToken) =>
        {
            InterlockedMax(ref peak, Interlocked.Increment(ref running));
            await Task.Delay(20, cancellationToken);
            Interlocked.Decrement(ref running);
        });
        for (var i = 0; i < 10; i++) await ScriptedTasks.RunAsync.Enqueue(h.Client, id);

        await h.Worker.StartAsync();
        await Harness.WaitUntil(() => h.Results.Count == 10, "10 tasks completed");
        await h.Worker.StopAsync();

        Assert.Equal(2, peak);
    }

    [Fact]
    public async Task Stop_drains_tasks_that_finish_in_time_and_releases_the_rest_so_none_is_lost()
    {
        await using var h = new Harness(o => o.DrainTimeout = TimeSpan.FromSeconds(2), TimeProvider.System);
        var stuckStarted = 0;
        var quick = Scripts.Add(async (_, cancellationToken) => await Task.Delay(50, cancellationToken));
        var stuck = Scripts.Add(async (context, cancellationToken) =>
        {
            if (context.Attempt > 1) return; // the next worker finishes it
            Interlocked.Increment(ref stuckStarted);
            await Task.Delay(Timeout.Infinite, cancellationToken);
        });
        for (var i = 0; i < 5; i++)
        {
            await ScriptedTasks.RunAsync.Enqueue(h.Client, quick);
            await ScriptedTasks.RunAsync.Enqueue(h.Client, stuck);
        }

        await h.Worker.StartAsync();
        await Harness.WaitUntil(() => Volatile.Read(ref stuckStarted) == 5, "the stuck tasks started");
        await h.Worker.StopAsync();

        var outcomes = string.Join(", ", h.Results.Select(r => $"{r.Outcome}@{r.Attempt}"));
        Assert.True(h.Results.Count(r => r.Outcome == TaskOutcome.Completed) == 5, outcomes);
        Assert.True(h.Results.Count(r => r.Outcome == TaskOutcome.Released) == 5, outcomes);
        var left = h.Transport.Peek(ScriptedTasks.Queue);
        Assert.Equal(5, left.Count);
        Assert.All(left, m => Assert.True(m.VisibleAt <= h.Time.GetUtcNow(), "released messages are visible at once"));
        Assert.Empty(h.Transport.DeadLetters);

        // Another worker picks the released messages up and finishes them.
        var rescued = 0;
        await using var next = new TaskWorker(h.Transport, h.Options, timeProvider: h.Time);
        next.TaskRan += r =>
        {
            if (r.Outcome == TaskOutcome.Completed) Interlocked.Increment(ref rescued);
        };
        await next.StartAsync();
        await Harness.WaitUntil(() => Volatile.Read(ref rescued) == 5, "the released tasks completed on the next worker");
        await next.StopAsync();
        Assert.Empty(h.Transport.Peek(ScriptedTasks.Queue));
    }

    [Fact]
    public async Task Stop_is_bounded_when_tasks_ignore_their_token_and_their_messages_come_back()
    {
        await using var h = new Harness(o =>
        {
            o.DrainTimeout = TimeSpan.FromMilliseconds(200);
            o.StopGrace = TimeSpan.FromMilliseconds(200);
        }, TimeProvider.System);
        var deaf = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;
        var script = Scripts.Add(async (_, _) =>
        {
            Interlocked.Increment(ref started);
            await deaf.Task; // never looks at its token
        });
        for (var i = 0; i < 3; i++) await ScriptedTasks.RunAsync.Enqueue(h.Client, script);
        await h.Worker.StartAsync();
        await Harness.WaitUntil(() => Volatile.Read(ref started) == 3, "the tasks started");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await h.Worker.StopAsync().WaitAsync(TimeSpan.FromSeconds(20));
        var stopped = clock.Elapsed;

        Assert.True(stopped < TimeSpan.FromSeconds(3), $"the stop took {stopped}");
        var left = h.Transport.Peek(ScriptedTasks.Queue);
        Assert.Equal(3, left.Count);
        Assert.All(left, m => Assert.True(m.VisibleAt <= DateTimeOffset.UtcNow, "an abandoned task's message is visible again"));

        // When the deaf tasks end at last, their results are dropped: the messages are no longer this worker's.
        deaf.SetResult();
        await Task.Delay(200);
        Assert.Empty(h.Results);
        Assert.Equal(3, h.Transport.Peek(ScriptedTasks.Queue).Count);
    }

    [Fact]
    public async Task Starting_twice_or_after_a_single_step_keeps_one_set_of_slots_and_loops()
    {
        // A second set of slots would let each set run one task of the queue: two at once.
        await using var h = new Harness(o =>
        {
            o.MaxConcurrency = 4;
            o.MaxConcurrencyPerQueue = 1;
        }, TimeProvider.System);
        var running = 0;
        var most = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var script = Scripts.Add(async (_, _) =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            await release.Task;
            Interlocked.Decrement(ref running);
        });

        await h.Worker.RunOnceAsync();
        await h.Worker.StartAsync();
        await h.Worker.StartAsync();
        for (var i = 0; i < 6; i++) await ScriptedTasks.RunAsync.Enqueue(h.Client, script);
        await Harness.WaitUntil(() => Volatile.Read(ref running) == 1, "a task runs");
        await Task.Delay(300);
        var atMost = Volatile.Read(ref most);
        release.SetResult();
        await Harness.WaitUntil(() => h.Results.Count == 6, "all ran");

        Assert.Equal(1, atMost);
    }

    [Fact]
    public async Task Lease_is_renewed_while_a_long_task_runs_so_no_other_worker_takes_it()
    {
        await using var h = new Harness(o => o.LeaseDuration = TimeSpan.FromSeconds(2));
        var runs = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var id = Scripts.Add(async (_, _) =>
        {
            Interlocked.Increment(ref runs);
            await release.Task;
        });
        await ScriptedTasks.RunAsync.Enqueue(h.Client, id);

        var run = h.Worker.RunOnceAsync();
        await Harness.WaitUntil(() => Volatile.Read(ref runs) == 1, "the task started");
        for (var second = 1; second <= 10; second++)
        {
            h.FakeTime.Advance(TimeSpan.FromSeconds(1));
            await Harness.WaitUntil(() => Assert.Single(h.Transport.Peek(ScriptedTasks.Queue)).VisibleAt > h.Time.GetUtcNow(), $"the lease was renewed at {second} s");
            var stolen = await h.Transport.ReceiveAsync(ScriptedTasks.Queue, 32, TimeSpan.FromSeconds(2), CancellationToken.None);
            Assert.Empty(stolen);
        }

        release.SetResult();
        await run;
        Assert.Equal(1, runs);
        Assert.Equal(TaskOutcome.Completed, Assert.Single(h.Results).Outcome);
        Assert.Empty(h.Transport.Peek(ScriptedTasks.Queue));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
