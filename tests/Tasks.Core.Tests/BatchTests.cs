using System.Collections.Concurrent;

namespace Tasks.Core.Tests;

/// <summary>Bulk enqueue: many tasks per message, each still run, retried and dead-lettered on its own.</summary>
public sealed class BatchTests
{
    [Fact]
    public async Task A_batch_travels_in_a_few_messages_per_queue_and_every_task_runs_once_with_the_id_it_was_given()
    {
        await using var h = new Harness(o => o.Queues.Add("other"));
        var ran = new ConcurrentBag<string>();
        var script = Scripts.Add((context, _) =>
        {
            ran.Add(context.MessageId);
            return Task.CompletedTask;
        });
        var batch = new TaskBatch();
        for (var i = 0; i < 2_000; i++) ScriptedTasks.RunAsync.AddTo(batch, script);
        for (var i = 0; i < 3; i++) ScriptedTasks.RunOtherAsync.AddTo(batch, script);

        var ids = await h.Client.EnqueueBatchAsync(batch);

        Assert.Equal(2_003, ids.Distinct().Count());
        var packs = h.Transport.Peek(ScriptedTasks.Queue);
        Assert.InRange(packs.Count, 2, 10); // ~150 bytes a task, 48 KiB a message
        Assert.All(packs, p => Assert.InRange(p.Body.Length, 1, h.Transport.MaxMessageBytes));
        Assert.Single(h.Transport.Peek("other"));
        while (await h.Worker.RunOnceAsync() > 0) { }

        Assert.Equal(ids.Order(), ran.Order());
        Assert.Equal(ids.Order(), h.Results.Select(r => r.MessageId).Order());
        Assert.All(h.Results, r => Assert.Equal((TaskOutcome.Completed, 1), (r.Outcome, r.Attempt)));
        Assert.Empty(h.Transport.Peek(ScriptedTasks.Queue));
    }

    [Fact]
    public async Task A_batch_with_a_shard_key_sends_every_message_with_it_as_a_single_enqueue_does()
    {
        var inner = new InMemoryTransport();
        var transport = new SendsSeen(inner);
        var client = new TaskClient(transport);
        var batch = new TaskBatch();
        for (var i = 0; i < 3; i++) ScriptedTasks.RunAsync.AddTo(batch, Scripts.Add((_, _) => Task.CompletedTask));
        ScriptedTasks.RunOtherAsync.AddTo(batch, Scripts.Add((_, _) => Task.CompletedTask)); // a queue of one: a plain envelope, not a pack
        var options = new TaskEnqueueOptions { ShardKey = "customer-7" };

        await client.EnqueueBatchAsync(batch, options);
        await ScriptedTasks.RunAsync.Enqueue(client, Scripts.Add((_, _) => Task.CompletedTask), options);

        Assert.Equal(3, transport.ShardKeys.Count);
        Assert.All(transport.ShardKeys, key => Assert.Equal("customer-7", key));
    }

    private sealed class SendsSeen(InMemoryTransport inner) : WrappedTransport(inner)
    {
        public ConcurrentQueue<string?> ShardKeys { get; } = new();

        public override ValueTask SendAsync(string queue, OutgoingTaskMessage message, CancellationToken cancellationToken)
        {
            ShardKeys.Enqueue(message.ShardKey);
            return base.SendAsync(queue, message, cancellationToken);
        }
    }

    [Fact]
    public async Task A_failing_task_of_a_pack_is_retried_alone_with_its_attempts_counted_and_its_id_kept_and_the_others_run_once()
    {
        await using var h = new Harness();
        var fine = 0;
        var failing = new List<(int Attempt, string Id)>();
        var ok = Scripts.Add((_, _) => Task.FromResult(Interlocked.Increment(ref fine)));
        var broken = Scripts.Add((context, _) =>
        {
            failing.Add((context.Attempt, context.MessageId));
            throw new InvalidOperationException("database unreachable");
        });
        var batch = new TaskBatch();
        ScriptedTasks.RunAsync.AddTo(batch, ok);
        ScriptedTasks.RunAsync.AddTo(batch, broken);
        ScriptedTasks.RunAsync.AddTo(batch, ok);
        var ids = await h.Client.EnqueueBatchAsync(batch);

        Assert.Equal(1, await h.Worker.RunOnceAsync());
        var retry = Assert.Single(h.Transport.Peek(ScriptedTasks.Queue));
        Assert.Equal(h.Time.GetUtcNow() + TimeSpan.FromSeconds(10), retry.VisibleAt); // the task's retry delay, not the pack's
        h.FakeTime.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, await h.Worker.RunOnceAsync());
        h.FakeTime.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(1, await h.Worker.RunOnceAsync());

        Assert.Equal(2, fine);
        Assert.Equal([(1, ids[1]), (2, ids[1]), (3, ids[1])], failing);
        Assert.Empty(h.Transport.Peek(ScriptedTasks.Queue));
        var dead = Assert.Single(h.Transport.DeadLetters);
        Assert.Equal((ids[1], 3), (dead.MessageId, dead.Reason.Attempt));
        Assert.Contains("failed on all 3 attempts", dead.Reason.Reason);
    }

    [Fact]
    public async Task A_dead_letter_from_a_pack_holds_the_task_own_envelope_so_a_requeue_runs_it_alone_with_its_id()
    {
        await using var h = new Harness();
        var broken = true;
        var ran = new ConcurrentQueue<string>();
        var ok = Scripts.Add((context, _) =>
        {
            ran.Enqueue(context.MessageId);
            return Task.CompletedTask;
        });
        var customer = Scripts.Add((context, _) =>
        {
            if (broken) throw new PermanentTaskException("customer not found");
            ran.Enqueue(context.MessageId);
            return Task.CompletedTask;
        });
        var batch = new TaskBatch();
        ScriptedTasks.RunAsync.AddTo(batch, ok);
        ScriptedTasks.RunAsync.AddTo(batch, customer);
        ScriptedTasks.RunAsync.AddTo(batch, ok);
        var ids = await h.Client.EnqueueBatchAsync(batch);

        await h.Worker.RunOnceAsync();
        var dead = Assert.Single(h.Transport.DeadLetters);
        Assert.Equal(ids[1], dead.MessageId);
        Assert.Contains("customer not found", dead.Reason.Reason);
        Assert.Equal(ids[1], TaskEnvelope.Read(dead.Body, TaskRegistry.Default, TaskSerializer.DefaultOptions).ReadMessageId());

        broken = false;
        h.Transport.SendRaw(ScriptedTasks.Queue, dead.Body);
        await h.Worker.RunOnceAsync();
        Assert.Equal(new[] { ids[0], ids[2] }.Order(), ran.Take(2).Order());
        Assert.Equal([ids[1]], ran.Skip(2));
    }

    [Fact]
    public async Task A_worker_that_stops_in_the_middle_of_a_pack_sends_back_only_the_tasks_it_did_not_start_and_deletes_the_pack()
    {
        await using var h = new Harness(o => o.MaxConcurrency = 1);
        var ran = new ConcurrentQueue<(string Id, int Attempt)>();
        var third = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thirdStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var script = Scripts.Add(async (context, _) =>
        {
            ran.Enqueue((context.MessageId, context.Attempt));
            if (ran.Count == 3)
            {
                thirdStarted.SetResult();
                await third.Task;
            }
        });
        var batch = new TaskBatch();
        for (var i = 0; i < 10; i++) ScriptedTasks.RunAsync.AddTo(batch, script);
        var ids = await h.Client.EnqueueBatchAsync(batch);

        await h.Worker.StartAsync();
        await thirdStarted.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var stopping = h.Worker.StopAsync();
        third.SetResult();
        await stopping.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(ids.Take(3), ran.Select(r => r.Id));
        var rest = Assert.Single(h.Transport.Peek(ScriptedTasks.Queue));
        Assert.Equal(0, rest.DequeueCount);
        await using var next = new TaskWorker(h.Transport, h.Options, timeProvider: h.Time);
        await next.RunOnceAsync();
        Assert.Equal(ids.Order(), ran.Select(r => r.Id).Order());
        Assert.All(ran, r => Assert.Equal(1, r.Attempt)); // the stop cost the unstarted tasks no attempt
        Assert.Empty(h.Transport.Peek(ScriptedTasks.Queue));
    }

    [Fact]
    public async Task Tasks_of_a_pack_waiting_for_their_MaxConcurrency_when_a_stop_begins_go_back_unrun()
    {
        await using var h = new Harness(o =>
        {
            o.Queues.Clear();
            o.Queues.Add(PolicyTasks.Queue);
            o.MaxConcurrency = 4;
        });
        var ran = new ConcurrentQueue<(string Id, int Attempt)>();
        var firstStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var script = Scripts.Add(async (context, _) =>
        {
            ran.Enqueue((context.MessageId, context.Attempt));
            if (ran.Count == 1)
            {
                firstStarted.SetResult();
                await releaseFirst.Task;
            }
        });
        var batch = new TaskBatch();
        for (var i = 0; i < 5; i++) PolicyTasks.RunAsync.AddTo(batch, script); // MaxConcurrency = 1
        var ids = await h.Client.EnqueueBatchAsync(batch);

        await h.Worker.StartAsync();
        await firstStarted.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var stopping = h.Worker.StopAsync();
        releaseFirst.SetResult();
        await stopping.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Single(ran); // the four waiting for the task's gate did not start during the stop
        Assert.Single(h.Transport.Peek(PolicyTasks.Queue));
        await using var next = new TaskWorker(h.Transport, h.Options, timeProvider: h.Time);
        while (await next.RunOnceAsync() > 0) { }
        Assert.Equal(ids.Order(), ran.Select(r => r.Id).Order());
        Assert.All(ran, r => Assert.Equal(1, r.Attempt));
    }

    [Fact]
    public async Task A_batch_with_one_task_larger_than_MaxEnvelopeBytes_sends_and_stores_nothing_and_names_it()
    {
        await using var h = new Harness(maxEnvelopeBytes: 1024 * 1024);
        var batch = new TaskBatch();
        ScriptedTasks.EchoAsync.AddTo(batch, "small");
        ScriptedTasks.EchoAsync.AddTo(batch, new string('x', 60_000)); // through the payload store
        ScriptedTasks.EchoAsync.AddTo(batch, new string('x', 1024 * 1024));

        var error = await Assert.ThrowsAsync<TaskMessageTooLargeException>(() => h.Client.EnqueueBatchAsync(batch).AsTask());

        Assert.Contains(ScriptedTasks.EchoAsync.Definition.Name, error.Message);
        Assert.Equal(1024 * 1024, error.Limit);
        Assert.Empty(h.Transport.Peek(ScriptedTasks.Queue));
        Assert.Empty(h.Transport.PayloadNames);
    }

    [Fact]
    public async Task A_pack_that_cannot_be_read_is_dead_lettered_whole_with_the_reason()
    {
        await using var h = new Harness();
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var writer = new MessagePack.MessagePackWriter(buffer);
        writer.WriteArrayHeader(4);
        writer.Write(1);
        writer.WriteNil();
        writer.WriteArrayHeader(2);
        writer.Write(new byte[] { 0x90 });
        writer.Write(42);
        writer.WriteNil();
        writer.Flush();
        h.Transport.SendRaw(ScriptedTasks.Queue, buffer.WrittenMemory.ToArray());

        await h.Worker.RunOnceAsync();

        var dead = Assert.Single(h.Transport.DeadLetters);
        Assert.Equal("Task 2 of the pack is a MessagePack Integer, not an envelope's bytes.", dead.Reason.Reason);
        Assert.Empty(h.Transport.Peek(ScriptedTasks.Queue));
    }

    [Fact]
    public async Task With_signing_required_each_task_of_a_pack_is_checked_on_its_own()
    {
        var key = new TaskSigningKey { Id = "k1", Secret = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray()) };
        await using var h = new Harness(o =>
        {
            o.Signing.Required = true;
            o.Signing.Keys.Add(key);
        });
        var signing = new TaskSigningOptions();
        signing.Keys.Add(key);
        var ran = 0;
        var script = Scripts.Add((_, _) => Task.FromResult(Interlocked.Increment(ref ran)));
        var signed = new TaskBatch();
        ScriptedTasks.RunAsync.AddTo(signed, script);
        ScriptedTasks.RunAsync.AddTo(signed, script);
        await new TaskClient(h.Transport, h.Time, signing: signing).EnqueueBatchAsync(signed);
        var unsigned = new TaskBatch();
        ScriptedTasks.RunAsync.AddTo(unsigned, script);
        ScriptedTasks.RunAsync.AddTo(unsigned, script);
        var forged = await h.Client.EnqueueBatchAsync(unsigned);

        while (await h.Worker.RunOnceAsync() > 0) { }

        // A refused envelope's own id cannot be trusted: its dead letter is known by its place in the pack.
        Assert.Equal(2, ran);
        var dead = h.Transport.DeadLetters;
        Assert.Equal(2, dead.Select(d => d.MessageId).Distinct().Count());
        Assert.All(dead, d => Assert.Matches("^.{22}#[12]$", d.MessageId));
        Assert.All(dead, d => Assert.Contains("not signed", d.Reason.Reason));
        Assert.Equal(forged.Order(), dead.Select(d => TaskEnvelope.Read(d.Body, TaskRegistry.Default, TaskSerializer.DefaultOptions).ReadMessageId()).Order());
    }

    [Fact]
    public async Task A_client_that_does_not_pack_sends_each_task_of_a_batch_through_its_own_EnqueueAsync()
    {
        var sent = new List<(string Task, object Arguments)>();
        ITaskClient client = new RecordingClient(sent);
        var batch = new TaskBatch();
        ScriptedTasks.EchoAsync.AddTo(batch, "a", 1);
        ScriptedTasks.EchoAsync.AddTo(batch, "b");

        var ids = await client.EnqueueBatchAsync(batch);

        Assert.Equal(["id-0", "id-1"], ids);
        Assert.Equal(
            [("a", 1), ("b", 42)],
            sent.Select(s => (ScriptedTasks.EchoAsync.Arguments)s.Arguments).Select(a => (a.text, a.number)));
    }

    private sealed class RecordingClient(List<(string Task, object Arguments)> sent) : ITaskClient
    {
        public ValueTask<string> EnqueueAsync<TArguments>(TaskDefinition<TArguments> task, TArguments arguments, TaskEnqueueOptions? options = null, CancellationToken cancellationToken = default)
            where TArguments : class
        {
            sent.Add((task.Name, arguments));
            return ValueTask.FromResult($"id-{sent.Count - 1}");
        }
    }
}
