using System.Collections.Concurrent;

namespace Tasks.Core.Tests;

/// <summary>The client's outbox seam in memory: tasks written whole, sent later, perhaps twice, and run once.</summary>
public sealed class OutboxClientTests
{
    [Fact]
    public async Task An_entry_is_sent_only_when_asked_and_an_entry_sent_twice_runs_once()
    {
        await using var harness = new RecordHarness();
        var (runs, script) = CountedRuns();
        var outbox = new ListOutbox();
        var id = await RecordedTasks.RunAsync.Enqueue(harness.Client.WriteTo(outbox), script);
        await harness.Worker.StartAsync();

        await Task.Delay(200);
        Assert.Empty(runs); // written, not sent
        Assert.Null(await harness.Store.GetAsync(id));

        var entry = Assert.Single(outbox.Entries);
        Assert.Equal((id, "Tasks.Core.Tests.RecordedTasks.Run", RecordedTasks.Queue), (entry.Id, entry.TaskName, entry.Queue));
        Assert.Equal(id, await harness.Client.SendFromOutboxAsync(entry.Content));
        await harness.WaitForStateAsync(id, TaskState.Succeeded);
        Assert.Equal(id, await harness.Client.SendFromOutboxAsync(entry.Content)); // the relay, after a crash between send and delete
        await Harness.WaitUntil(() => harness.Results.Count(r => r.MessageId == id) == 2, "the second copy to be received");

        Assert.Equal([id], runs);
        Assert.Equal(TaskOutcome.Skipped, harness.Results.Last(r => r.MessageId == id).Outcome);
        Assert.Equal(1, (await harness.Store.GetAsync(id))!.Attempts);
    }

    [Fact]
    public async Task A_unique_task_sent_twice_frees_its_lock_so_the_next_of_its_key_runs()
    {
        await using var harness = new RecordHarness();
        var (runs, script) = CountedRuns();
        var outbox = new ListOutbox();
        var first = await RecordedTasks.OnceAsync.Enqueue(harness.Client.WriteTo(outbox), script, "inv-1");
        await harness.Worker.StartAsync();
        await harness.Client.SendFromOutboxAsync(outbox.Entries[0].Content);
        await harness.WaitForStateAsync(first, TaskState.Succeeded);
        await harness.Client.SendFromOutboxAsync(outbox.Entries[0].Content); // takes the lock again, under the same id
        await Harness.WaitUntil(() => harness.Results.Count(r => r.MessageId == first) == 2, "the second copy to be dropped");

        string next = first;
        await Harness.WaitUntil(() =>
        {
            next = RecordedTasks.OnceAsync.Enqueue(harness.Client, script, "inv-1").AsTask().GetAwaiter().GetResult();
            return next != first;
        }, "the lock to be free for the next task of the key");
        await harness.WaitForStateAsync(next, TaskState.Succeeded);

        Assert.Equal(new[] { first, next }.Order(), runs.Order());
    }

    [Fact]
    public async Task A_failed_send_from_the_outbox_leaves_the_record_enqueued_for_the_next_send()
    {
        await using var harness = new RecordHarness();
        var refusing = new RefusingTransport(harness.Transport);
        var sender = new TaskClient(refusing, records: harness.Store);
        var script = Scripts.Add((_, _) => Task.CompletedTask);
        var outbox = new ListOutbox();
        var id = await RecordedTasks.RunAsync.Enqueue(sender.WriteTo(outbox), script);

        await Assert.ThrowsAsync<TaskEnqueueException>(() => sender.SendFromOutboxAsync(outbox.Entries[0].Content).AsTask());
        await Task.Delay(300); // the record writer's flushes
        Assert.Equal(TaskState.Enqueued, (await harness.Store.GetAsync(id))!.State); // not "Cancelled: not sent": its row is sent again

        refusing.Refuse = false;
        await sender.SendFromOutboxAsync(outbox.Entries[0].Content);
        await harness.Worker.StartAsync();
        Assert.Equal(1, (await harness.WaitForStateAsync(id, TaskState.Succeeded)).Attempts);
    }

    [Fact]
    public async Task A_second_copy_that_comes_while_the_record_store_is_down_waits_for_it_and_never_runs()
    {
        await using var harness = new RecordHarness();
        var (runs, script) = CountedRuns();
        var (id, content) = await WrittenAsync(harness, script);
        await harness.Worker.StartAsync();
        await harness.Client.SendFromOutboxAsync(content);
        await harness.WaitForStateAsync(id, TaskState.Succeeded);

        // The relay's copy arrives while the store that holds the run claim does not answer: the worker cannot tell it
        // from a first copy. It neither runs nor uses an attempt; it comes back once the store answers, and is dropped.
        harness.Store.Unavailable = true;
        await harness.Client.SendFromOutboxAsync(content);
        await OutcomeAsync(harness, id, TaskOutcome.Deferred, "the second copy to wait for the store");
        harness.Store.Unavailable = false;
        await OutcomeAsync(harness, id, TaskOutcome.Skipped, "the second copy to be dropped once the store answers");

        Assert.Equal([id], runs);
        Assert.Contains("run claim could not be taken", harness.Results.First(r => r.Outcome == TaskOutcome.Deferred).Reason);
        var record = await harness.Store.GetAsync(id);
        Assert.Equal((TaskState.Succeeded, 1), (record!.State, record.Attempts));
    }

    [Fact]
    public async Task A_first_copy_that_comes_while_the_record_store_is_down_runs_once_it_answers()
    {
        await using var harness = new RecordHarness();
        var (runs, script) = CountedRuns();
        var id = await WaitingForTheStoreAsync(harness, script);
        Assert.Empty(runs);

        harness.Store.Unavailable = false;
        Assert.Equal(1, (await harness.WaitForStateAsync(id, TaskState.Succeeded)).Attempts); // the wait used no attempt
        Assert.Equal([id], runs);
    }

    [Fact]
    public async Task A_task_that_waited_for_the_store_and_then_fails_is_retried_not_dropped_as_a_copy()
    {
        await using var harness = new RecordHarness();
        var attempts = new ConcurrentBag<int>();
        var script = Scripts.Add((context, _) =>
        {
            attempts.Add(context.Attempt);
            return context.Attempt == 1 ? throw new TimeoutException("the payment service timed out") : Task.CompletedTask;
        });
        var id = await WaitingForTheStoreAsync(harness, script);

        // Its wait made its message a pack of one; its retry keeps that message, which holds its run claim.
        harness.Store.Unavailable = false;
        var record = await harness.WaitForStateAsync(id, TaskState.Succeeded);

        Assert.Equal([1, 2], attempts.Order());
        Assert.Equal(2, record.Attempts);
        Assert.DoesNotContain(harness.Results, r => r.MessageId == id && r.Outcome == TaskOutcome.Skipped);
    }

    [Fact]
    public async Task Continuations_chains_and_tracked_batches_are_refused_with_what_to_do()
    {
        await using var harness = new RecordHarness();
        var tasks = harness.Client.WriteTo(new ListOutbox());
        var after = await Assert.ThrowsAsync<NotSupportedException>(() => RecordedTasks.RunAsync.Enqueue(tasks, "s", options: new TaskEnqueueOptions { After = "x" }).AsTask());
        Assert.Contains("after the commit", after.Message);
        var batch = new TaskBatch { Tracked = true };
        batch.Add(RecordedTasks.RunAsync.Prepare("s"));
        await Assert.ThrowsAsync<NotSupportedException>(() => tasks.EnqueueBatchAsync(batch).AsTask());
        Assert.Throws<FormatException>(() => harness.Client.SendFromOutboxAsync(new byte[] { 0x92, 0x07, 0x01 }).AsTask().GetAwaiter().GetResult());
    }

    /// <summary>A task written into an outbox, not sent: its id, and the row's content a sender or relay sends.</summary>
    private static async Task<(string Id, byte[] Content)> WrittenAsync(RecordHarness harness, string script)
    {
        var outbox = new ListOutbox();
        var id = await RecordedTasks.RunAsync.Enqueue(harness.Client.WriteTo(outbox), script);
        return (id, outbox.Entries[0].Content);
    }

    /// <summary>A task sent from an outbox, then the worker started with the record store down: it waits for the store.</summary>
    private static async Task<string> WaitingForTheStoreAsync(RecordHarness harness, string script)
    {
        var (id, content) = await WrittenAsync(harness, script);
        await harness.Client.SendFromOutboxAsync(content);
        harness.Store.Unavailable = true;
        await harness.Worker.StartAsync();
        await OutcomeAsync(harness, id, TaskOutcome.Deferred, "the task to wait for the store");
        return id;
    }

    private static Task OutcomeAsync(RecordHarness harness, string id, TaskOutcome outcome, string what)
        => Harness.WaitUntil(() => harness.Results.Any(r => r.MessageId == id && r.Outcome == outcome), what);

    /// <summary>A script that notes the id of each run.</summary>
    private static (ConcurrentBag<string> Runs, string Script) CountedRuns()
    {
        var runs = new ConcurrentBag<string>();
        return (runs, Scripts.Add((context, _) =>
        {
            runs.Add(context.MessageId);
            return Task.CompletedTask;
        }));
    }

    private sealed class ListOutbox : ITaskOutbox
    {
        public List<TaskOutboxEntry> Entries { get; } = new();

        public void Add(TaskOutboxEntry entry) => Entries.Add(entry);
    }

    private sealed class RefusingTransport(InMemoryTransport inner) : WrappedTransport(inner)
    {
        public bool Refuse { get; set; } = true;

        public override ValueTask SendAsync(string queue, OutgoingTaskMessage message, CancellationToken cancellationToken)
            => Refuse ? throw new TaskTransportException("the queue service did not answer", isTransient: true) : base.SendAsync(queue, message, cancellationToken);
    }
}
