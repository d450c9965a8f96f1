using System.Collections.Concurrent;

namespace Tasks.Core.Tests;

public static partial class PriorityTasks
{
    public const string High = "prio-high";
    public const string Low = "prio-low";

    /// <summary>The queue of each task that ended, in the order they ended.</summary>
    public static readonly ConcurrentQueue<string> Ended = new();

    [AsyncTask(Queue = High)]
    public static async Task Urgent(CancellationToken cancellationToken, int n)
    {
        await Task.Delay(2, cancellationToken);
        Ended.Enqueue(High);
    }

    [AsyncTask(Queue = Low)]
    public static async Task Later(CancellationToken cancellationToken, int n)
    {
        await Task.Delay(2, cancellationToken);
        Ended.Enqueue(Low);
    }
}

/// <summary>Queue priorities (weighted, strict) and pause/resume across the workers of one in-memory transport.</summary>
public sealed class PriorityAndPauseTests
{
    public PriorityAndPauseTests() => PriorityTasks.Ended.Clear();

    [Fact]
    public async Task Weights_of_three_to_one_give_the_busy_queues_three_to_one_shares_of_the_slots()
    {
        var transport = await BacklogAsync(400, 400);
        await using var worker = Worker(transport, QueuePriority.Weighted, o => o.QueueWeights[PriorityTasks.High] = 3);
        await worker.StartAsync();
        await Harness.WaitUntil(() => PriorityTasks.Ended.Count >= 240, "240 tasks ended");

        // After the first receives (each loop takes a free slot before any waits), both queues busy throughout.
        var share = PriorityTasks.Ended.Skip(40).Take(200).Count(q => q == PriorityTasks.High) / 200.0;
        Assert.InRange(share, 0.65, 0.85);
    }

    [Fact]
    public async Task Strict_order_leaves_the_low_queue_waiting_while_the_high_one_has_work()
    {
        var transport = await BacklogAsync(150, 50);
        await using var worker = Worker(transport, QueuePriority.Strict);
        await worker.StartAsync();
        await Harness.WaitUntil(() => PriorityTasks.Ended.Count == 200, "every task ended");

        var ended = PriorityTasks.Ended.ToArray();
        var lastHigh = Array.LastIndexOf(ended, PriorityTasks.High);
        var lowMeanwhile = ended.Take(lastHigh).Count(q => q == PriorityTasks.Low);
        Assert.True(lowMeanwhile <= 2, $"{lowMeanwhile} low tasks ended while the high queue had work (2 slots: at most the first receives)");
    }

    [Fact]
    public async Task A_paused_queue_is_not_received_from_by_any_worker_nothing_is_touched_and_a_resume_restarts_it()
    {
        var transport = new InMemoryTransport();
        ITaskQueuePauses pauses = transport;
        await pauses.PauseAsync(PriorityTasks.Low, default);
        var client = new TaskClient(transport);
        await using var first = Worker(transport, QueuePriority.None);
        await using var second = Worker(transport, QueuePriority.None);
        await first.StartAsync();
        await second.StartAsync();
        for (var i = 0; i < 10; i++) await PriorityTasks.LaterAsync.Enqueue(client, i);
        for (var i = 0; i < 10; i++) await PriorityTasks.UrgentAsync.Enqueue(client, i);

        await Harness.WaitUntil(() => PriorityTasks.Ended.Count == 10, "the queue that is not paused ran");
        await Task.Delay(500); // five pause checks
        Assert.All(PriorityTasks.Ended, q => Assert.Equal(PriorityTasks.High, q));
        Assert.Equal(10, transport.Peek(PriorityTasks.Low).Count);
        Assert.All(transport.Peek(PriorityTasks.Low), m => Assert.Equal(0, m.DequeueCount)); // untouched: no attempt used
        Assert.Equal([PriorityTasks.Low], (await pauses.ListPausedAsync(default)).Select(p => p.Queue));

        await pauses.ResumeAsync(PriorityTasks.Low, default);
        await Harness.WaitUntil(() => PriorityTasks.Ended.Count == 20, "the resumed queue ran");

        // Paused while running: the next receive waits, none is lost.
        await pauses.PauseAsync(PriorityTasks.High, default);
        await Task.Delay(300);
        for (var i = 0; i < 5; i++) await PriorityTasks.UrgentAsync.Enqueue(client, i);
        await Task.Delay(500);
        Assert.Equal(20, PriorityTasks.Ended.Count);
        await pauses.ResumeAsync(PriorityTasks.High, default);
        await Harness.WaitUntil(() => PriorityTasks.Ended.Count == 25, "the second resume ran the rest");
    }

    private static async Task<InMemoryTransport> BacklogAsync(int high, int low)
    {
        var transport = new InMemoryTransport();
        var client = new TaskClient(transport);
        for (var i = 0; i < Math.Max(high, low); i++)
        {
            if (i < high) await PriorityTasks.UrgentAsync.Enqueue(client, i);
            if (i < low) await PriorityTasks.LaterAsync.Enqueue(client, i);
        }

        return transport;
    }

    private static TaskWorker Worker(InMemoryTransport transport, QueuePriority priority, Action<TaskWorkerOptions>? configure = null)
    {
        var options = new TaskWorkerOptions
        {
            MaxConcurrency = 2,
            BatchSize = 1,
            QueuePriority = priority,
            PauseCheckInterval = TimeSpan.FromMilliseconds(100),
            MinPollingInterval = TimeSpan.FromMilliseconds(5),
            MaxPollingInterval = TimeSpan.FromMilliseconds(20),
        };
        options.Queues.Add(PriorityTasks.High);
        options.Queues.Add(PriorityTasks.Low);
        configure?.Invoke(options);
        return new TaskWorker(transport, options);
    }
}
