namespace Tasks.Azure.Tests;

/// <summary>Bulk enqueue through Azurite: few messages, every task once, failures on their own.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class AzureBatchTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task A_thousand_tasks_travel_in_a_few_messages_run_once_each_and_the_one_that_fails_is_poisoned_alone_and_requeued_exactly()
    {
        await using var h = new AzureHarness(azurite);
        var run = Guid.NewGuid().ToString("N");
        var broken = true;
        var customer = Scripts.Add((_, _) => broken ? throw new PermanentTaskException("customer not found") : Task.CompletedTask);
        var batch = new TaskBatch();
        for (var i = 0; i < 1_000; i++) AzureTasks.CountAsync.AddTo(batch, run, i);
        AzureTasks.RunAsync.AddTo(batch, customer);

        var ids = await h.Client.EnqueueBatchAsync(batch);

        Assert.InRange(await h.CountVisibleAsync(), 1, 4);
        await h.NewWorker().StartAsync();
        await AzureHarness.WaitUntil(async () => (await h.PoisonAsync()).Count == 1 && AzureTasks.Counts.GetValueOrDefault(run)?.Count == 1_000, "every task ran or was poisoned");
        await AzureHarness.WaitUntil(async () => await h.CountVisibleAsync() == 0, "the packs were deleted");

        Assert.All(AzureTasks.Counts[run].Values, runs => Assert.Equal(1, runs));
        var poison = Assert.Single(await h.PoisonAsync());
        Assert.Equal((ids[^1], 1), (poison.MessageId, poison.Attempt));
        Assert.Contains("customer not found", poison.Reason);
        Assert.Equal(ids[^1], TaskEnvelope.Read(Convert.FromBase64String(poison.MessageText!), TaskRegistry.Default, TaskSerializer.DefaultOptions).ReadMessageId());

        broken = false;
        await h.RawQueue().SendMessageAsync(poison.MessageText);
        await AzureHarness.WaitUntil(() => h.Results.Any(r => r.MessageId == ids[^1] && r.Outcome == TaskOutcome.Completed), "the requeued task ran");
        Assert.Equal(ids.Order(), h.Results.Select(r => r.MessageId).Distinct().Order());
    }
}
