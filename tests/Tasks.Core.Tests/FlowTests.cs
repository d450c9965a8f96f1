using System.Collections.Concurrent;

namespace Tasks.Core.Tests;

/// <summary>Continuations and batches in memory: order, waiting, cancelling, exactly-once callbacks and releases.</summary>
public sealed class FlowTests
{
    [Fact]
    public async Task A_chain_of_three_runs_in_order_with_each_argument_intact()
    {
        await using var h = new RecordHarness();
        var ran = new ConcurrentQueue<(int Step, string Id, object? Number, string? Parent)>();
        string Step(int n) => Scripts.Add(async (context, arguments, _) => { await Task.Delay(50); ran.Enqueue((n, context.MessageId, arguments[0], context.ParentId)); });
        var ids = await h.Client.EnqueueChainAsync(RecordedTasks.RunAsync.Prepare(Step(1), 1), RecordedTasks.RunAsync.Prepare(Step(2), 2), RecordedTasks.RunAsync.Prepare(Step(3), 3));

        var second = await h.Store.GetAsync(ids[1]);
        Assert.Equal((TaskState.AwaitingParent, ids[0]), (second!.State, second.ParentId));
        await h.Worker.StartAsync();
        await h.WaitForStateAsync(ids[2], TaskState.Succeeded);
        Assert.Equal([(1, ids[0], 1, null), (2, ids[1], 2, ids[0]), (3, ids[2], 3, ids[1])], ran.ToArray()); // in order, each with its own arguments
        var first = await h.Store.GetAsync(ids[0]);
        Assert.Equal([ids[1]], first!.Children);
        Assert.True((await h.Store.GetAsync(ids[1]))!.StartedAt >= first.FinishedAt);
    }

    [Fact]
    public async Task A_dead_lettered_parent_holds_its_continuation_until_it_is_requeued_and_succeeds()
    {
        await using var h = new RecordHarness();
        var broken = true;
        var childRan = 0;
        var parent = await RecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => broken ? throw new PermanentTaskException("down") : Task.CompletedTask), options: new TaskEnqueueOptions { AllowContinuations = true });
        var child = await RecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => { Interlocked.Increment(ref childRan); return Task.CompletedTask; }), options: new TaskEnqueueOptions { After = parent });
        var anyway = await RecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => Task.CompletedTask), options: new TaskEnqueueOptions { After = parent, AfterAnyOutcome = true });
        await h.Worker.StartAsync();
        await h.WaitForStateAsync(parent, TaskState.DeadLettered);
        await h.WaitForStateAsync(anyway, TaskState.Succeeded); // it asked to run whatever the parent's end
        await Task.Delay(300);
        Assert.Equal(TaskState.AwaitingParent, (await h.Store.GetAsync(child))!.State);
        Assert.Equal(0, childRan);

        broken = false;
        var operations = new TaskOperations(h.Client, new RecordedDeadLetters(h.Transport, h.Store), h.Store);
        Assert.True(await operations.RequeueAsync(parent));
        await h.WaitForStateAsync(parent, TaskState.Succeeded);
        await h.WaitForStateAsync(child, TaskState.Succeeded);
        Assert.Equal(1, childRan);
    }

    [Fact]
    public async Task A_purged_dead_letter_cancels_the_continuations_that_waited_for_it()
    {
        await using var h = new RecordHarness();
        var ids = await h.Client.EnqueueChainAsync(RecordedTasks.RunAsync.Prepare(Scripts.Add((_, _) => throw new PermanentTaskException("gone"))), RecordedTasks.RunAsync.Prepare("never"), RecordedTasks.RunAsync.Prepare("never"));
        await h.Worker.StartAsync();
        await h.WaitForStateAsync(ids[0], TaskState.DeadLettered);
        Assert.Equal(TaskState.AwaitingParent, (await h.Store.GetAsync(ids[1]))!.State);

        Assert.Single(await new RecordedDeadLetters(h.Transport, h.Store).DeleteDeadLettersAsync(RecordedTasks.Queue, new DeadLetterFilter { MessageId = ids[0] }));
        foreach (var id in ids.Skip(1)) await h.WaitForStateAsync(id, TaskState.Cancelled);
    }

    [Fact]
    public async Task A_cancelled_parent_cancels_its_waiting_continuations_and_theirs()
    {
        await using var h = new RecordHarness();
        var ids = await h.Client.EnqueueChainAsync(RecordedTasks.RunAsync.Prepare("never", 1), RecordedTasks.RunAsync.Prepare("never", 2), RecordedTasks.RunAsync.Prepare("never", 3));
        Assert.Equal(TaskCancelOutcome.Cancelled, (await h.Client.CancelAsync(ids[0])).Outcome);
        foreach (var id in ids) Assert.Equal(TaskState.Cancelled, (await h.WaitForStateAsync(id, TaskState.Cancelled)).State);

        // A continuation registered after its parent was cancelled is cancelled at once.
        var late = await RecordedTasks.RunAsync.Enqueue(h.Client, "never", options: new TaskEnqueueOptions { After = ids[0] });
        Assert.Equal(TaskState.Cancelled, (await h.WaitForStateAsync(late, TaskState.Cancelled)).State);
    }

    [Fact]
    public async Task A_continuation_of_a_finished_parent_runs_at_once_and_one_of_a_parent_that_takes_none_is_refused()
    {
        await using var h = new RecordHarness();
        await h.Worker.StartAsync();
        var done = await RecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => Task.CompletedTask));
        await h.WaitForStateAsync(done, TaskState.Succeeded);
        var after = await RecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => Task.CompletedTask), options: new TaskEnqueueOptions { After = done });
        await h.WaitForStateAsync(after, TaskState.Succeeded);

        var waiting = await RecordedTasks.RunAsync.Enqueue(h.Client, "s", options: new TaskEnqueueOptions { Delay = TimeSpan.FromHours(1) });
        var refused = await Assert.ThrowsAsync<ArgumentException>(() => RecordedTasks.RunAsync.Enqueue(h.Client, "s", options: new TaskEnqueueOptions { After = waiting }).AsTask());
        Assert.Contains("AllowContinuations = true", refused.Message);
        Assert.Contains("no task", (await Assert.ThrowsAsync<ArgumentException>(() => RecordedTasks.RunAsync.Enqueue(h.Client, "s", options: new TaskEnqueueOptions { After = TaskHeaders.NewMessageId() }).AsTask())).Message);
    }

    [Fact]
    public async Task A_release_sent_twice_across_a_crash_runs_the_continuation_once()
    {
        await using var h = new RecordHarness(worker: o => o.LeaseDuration = TimeSpan.FromSeconds(1));
        var parentRuns = 0;
        var childRuns = 0;
        var ids = await h.Client.EnqueueChainAsync(
            RecordedTasks.RunAsync.Prepare(Scripts.Add((_, _) => { Interlocked.Increment(ref parentRuns); return Task.CompletedTask; })),
            RecordedTasks.RunAsync.Prepare(Scripts.Add((_, _) => { Interlocked.Increment(ref childRuns); return Task.CompletedTask; })));
        var crashes = 0;
        TaskRecordStore.ReleasePoint = (point, _) => { if (point == "sent" && Interlocked.Increment(ref crashes) == 1) throw new IOException("the worker died after sending"); };
        try
        {
            await h.Worker.StartAsync();
            await h.WaitForStateAsync(ids[1], TaskState.Succeeded);
            // The failed release is tried again, and sends the continuation a second time.
            await Harness.WaitUntil(() => h.Results.Any(r => r.Outcome == TaskOutcome.Skipped), "the second copy of the continuation is skipped");
        }
        finally
        {
            TaskRecordStore.ReleasePoint = null;
        }

        Assert.Equal(1, childRuns);
        Assert.Equal(1, parentRuns);
        Assert.Equal(ids[1], Assert.Single(h.Results, r => r.Outcome == TaskOutcome.Skipped).MessageId);
    }

    [Fact]
    public async Task A_batch_of_a_thousand_tasks_in_packs_fires_its_callback_once_with_four_workers_racing()
    {
        await using var h = new RecordHarness(worker: o => o.MaxConcurrency = 8);
        var callbacks = new ConcurrentQueue<(string Id, string? Batch)>();
        var members = new ConcurrentBag<string?>();
        var batch = new TaskBatch { OnCompleted = RecordedTasks.RunAsync.Prepare(Scripts.Add((context, _) => { callbacks.Enqueue((context.MessageId, context.ParentId)); return Task.CompletedTask; }), 0) };
        var work = Scripts.Add((context, _) => { members.Add(context.BatchId); return context.Attempt == 1 && context.MessageId.EndsWith('Q') ? throw new TimeoutException("once") : Task.CompletedTask; });
        for (var i = 0; i < 1000; i++) RecordedTasks.RunAsync.AddTo(batch, work, i);
        var ids = await h.Client.EnqueueBatchAsync(batch);
        Assert.NotNull(batch.Id);
        Assert.True(h.Transport.Peek(RecordedTasks.Queue).Count < 50, "the batch went out in packs");
        Assert.Equal(new TaskBatchRecord(batch.Id!, 1000, 0, 0, 0, 1000, (await h.Store.GetBatchAsync(batch.Id!))!.CreatedAt, (await h.Store.GetBatchAsync(batch.Id!))!.CallbackId, null), await h.Store.GetBatchAsync(batch.Id!));

        var workers = new[] { h.Worker, h.NewWorker(), h.NewWorker(), h.NewWorker() };
        foreach (var worker in workers) await worker.StartAsync();
        await Harness.WaitUntil(() => !callbacks.IsEmpty, "the callback runs");
        await Task.Delay(1500); // a second callback would come now
        foreach (var worker in workers.Skip(1)) await worker.DisposeAsync();

        Assert.Single(callbacks);
        var record = (await h.Store.GetBatchAsync(batch.Id!))!;
        Assert.Equal((1000, 1000, 0, 0), (record.Total, record.Succeeded, record.Failed, record.Pending));
        Assert.Equal((record.CallbackId, batch.Id), callbacks.Single()); // the callback knows its batch
        Assert.NotNull(record.CallbackSentAt);
        Assert.All(members, id => Assert.Equal(batch.Id, id));
        Assert.Equal(batch.Id, (await h.Store.GetAsync(record.CallbackId!))!.ParentId);
        foreach (var id in ids.Take(20)) Assert.Equal(batch.Id, (await h.Store.GetAsync(id))!.BatchId);
    }

    [Fact]
    public async Task A_batch_of_tasks_one_per_message_counts_each_and_its_failures_and_fires_once()
    {
        await using var h = new RecordHarness(worker: o => o.MaxConcurrency = 8);
        var callbacks = new ConcurrentQueue<string>();
        var batch = new TaskBatch { OnCompleted = RecordedTasks.RunAsync.Prepare(Scripts.Add((context, _) => { callbacks.Enqueue(context.MessageId); return Task.CompletedTask; })) };
        var big = new string('x', 30_000); // too big for two to share a message
        var work = Scripts.Add((context, _) => context.MessageId.EndsWith('A') ? throw new PermanentTaskException("no") : Task.CompletedTask);
        for (var i = 0; i < 200; i++) RecordedTasks.PersonalAsync.AddTo(batch, work, big);
        var ids = await h.Client.EnqueueBatchAsync(batch);
        Assert.Equal(200, h.Transport.Peek(RecordedTasks.Queue).Count);

        var workers = new[] { h.Worker, h.NewWorker(), h.NewWorker(), h.NewWorker() };
        foreach (var worker in workers) await worker.StartAsync();
        await Harness.WaitUntil(() => !callbacks.IsEmpty, "the callback runs");
        await Task.Delay(1500);
        foreach (var worker in workers.Skip(1)) await worker.DisposeAsync();

        Assert.Single(callbacks);
        var record = (await h.Store.GetBatchAsync(batch.Id!))!;
        var failed = ids.Count(id => id.EndsWith('A'));
        Assert.Equal((200, 200 - failed, failed, 0), (record.Total, record.Succeeded, record.Failed, record.Pending));
    }
}
