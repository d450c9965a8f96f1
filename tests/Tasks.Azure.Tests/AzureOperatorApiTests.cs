namespace Tasks.Azure.Tests;

[Collection(AzuriteCollection.Name)]
/// <summary>What an operator sees and does against Azurite: queue depths and dead letters.</summary>
public sealed class AzureOperatorApiTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Depth_counts_the_messages_of_a_queue_and_of_its_poison_queue_and_says_when_a_queue_does_not_exist()
    {
        await using var h = new AzureHarness(azurite);
        Assert.Equal(new TaskQueueDepth(AzureTasks.Queue, false, 0, 0), await h.Transport.GetDepthAsync(AzureTasks.Queue));
        var ok = Scripts.Add((_, _) => Task.CompletedTask);
        var declined = Scripts.Add((_, _) => throw new PermanentTaskException("card declined"));

        await AzureTasks.RunAsync.Enqueue(h.Client, declined);
        await AzureTasks.RunAsync.Enqueue(h.Client, ok, new TaskEnqueueOptions { Delay = TimeSpan.FromMinutes(1) });
        await AzureTasks.RunAsync.Enqueue(h.Client, ok, new TaskEnqueueOptions { Delay = TimeSpan.FromMinutes(1) });
        Assert.Equal(new TaskQueueDepth(AzureTasks.Queue, true, 3, 0), await h.Transport.GetDepthAsync(AzureTasks.Queue));
        Assert.Equal(1, await h.NewWorker().RunOnceAsync());

        Assert.Equal(new TaskQueueDepth(AzureTasks.Queue, true, 2, 1), await h.Transport.GetDepthAsync(AzureTasks.Queue));
    }

    [Fact]
    public async Task A_task_that_always_fails_is_dead_lettered_listed_fixed_requeued_and_runs_once_with_its_original_id()
    {
        await using var h = new AzureHarness(azurite);
        var broken = true;
        var ran = new List<(string Id, int Attempt)>();
        var flaky = Scripts.Add((context, _) =>
        {
            if (broken) throw new InvalidOperationException("database down");
            lock (ran) ran.Add((context.MessageId, context.Attempt));
            return Task.CompletedTask;
        });
        var id = await AzureTasks.RunAsync.Enqueue(h.Client, flaky);
        await h.NewWorker().StartAsync();
        await AzureHarness.WaitUntil(async () => (await h.PoisonAsync()).Count == 1, "the task was dead-lettered");

        var letter = Assert.Single(await h.Transport.ListDeadLettersAsync(AzureTasks.Queue));
        Assert.Equal((id, AzureTasks.RunAsync.Definition.Name, 3), (letter.MessageId, letter.TaskName, letter.Attempt));
        Assert.Equal(("System.InvalidOperationException", "database down"), (letter.ExceptionType, letter.ExceptionMessage));
        Assert.Equal($"[\"{flaky}\"]", letter.ArgumentsJson);
        Assert.Single(await h.Transport.ListDeadLettersAsync(AzureTasks.Queue)); // listing leaves it in place, visible
        Assert.Empty(await h.Transport.RequeueDeadLettersAsync(AzureTasks.Queue, new DeadLetterFilter { TaskName = "no.such.task" }));

        broken = false;
        Assert.Equal(id, Assert.Single(await h.Transport.RequeueDeadLettersAsync(AzureTasks.Queue, new DeadLetterFilter { MessageId = id })).MessageId);
        await AzureHarness.WaitUntil(() => ran.Count == 1, "the requeued task ran");

        Assert.Equal([(id, 1)], ran);
        Assert.Empty(await h.Transport.ListDeadLettersAsync(AzureTasks.Queue));
    }

    [Fact]
    public async Task A_full_size_dead_letter_is_listed_with_its_text_kept_apart_and_a_purge_deletes_both_messages()
    {
        await using var h = new AzureHarness(azurite);
        await AzureTasks.StoreAsync.Enqueue(h.Client, new byte[AzureQueueTransport.MaxInlineEnvelopeBytes - 120]);
        var received = Assert.Single(await h.Transport.ReceiveAsync(AzureTasks.Queue, 1, TimeSpan.FromSeconds(30), default));
        await h.Transport.DeadLetterAsync(received, new DeadLetterDetails("operator says no", null, null, received.Attempt), default);
        var declined = Scripts.Add((_, _) => throw new PermanentTaskException("card declined"));
        await AzureTasks.RunAsync.Enqueue(h.Client, declined);
        await h.NewWorker().RunOnceAsync();

        var letters = await h.Transport.ListDeadLettersAsync(AzureTasks.Queue);
        Assert.Equal(2, letters.Count);
        Assert.Equal((received.MessageId, AzureTasks.StoreAsync.Definition.Name), (letters[0].MessageId, letters[0].TaskName));
        Assert.StartsWith("[\"", letters[0].ArgumentsJson); // the bytes, as MessagePack's JSON shows a bin
        Assert.Equal("operator says no", Assert.Single(await h.Transport.DeleteDeadLettersAsync(AzureTasks.Queue, new DeadLetterFilter { ReasonContains = "operator" })).Reason);
        Assert.Equal(1, (await h.Transport.GetDepthAsync(AzureTasks.Queue)).DeadLetters); // the record and its text both gone
        Assert.Single(await h.Transport.DeleteDeadLettersAsync(AzureTasks.Queue));
        Assert.Empty(await h.Transport.ListDeadLettersAsync(AzureTasks.Queue));
    }

    [Fact]
    public async Task Peek_lists_each_task_of_a_bulk_enqueue_with_its_own_id_and_arguments()
    {
        await using var h = new AzureHarness(azurite);
        var batch = new TaskBatch();
        for (var i = 0; i < 3; i++) AzureTasks.CountAsync.AddTo(batch, "peek", i);
        var ids = await h.Client.EnqueueBatchAsync(batch);

        var peeked = await h.Transport.PeekAsync(AzureTasks.Queue);

        Assert.Equal(ids, peeked.Select(p => p.Envelope.MessageId));
        Assert.Equal(["[\"peek\",0]", "[\"peek\",1]", "[\"peek\",2]"], peeked.Select(p => p.Envelope.ArgumentsJson));
        Assert.All(peeked, p => Assert.Equal(AzureTasks.CountAsync.Definition.Name, p.Envelope.TaskName));
        Assert.Single(peeked.Select(p => p.TransportMessageId).Distinct()); // one message carries them
    }
}
