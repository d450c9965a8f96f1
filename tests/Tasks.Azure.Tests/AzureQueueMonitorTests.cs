namespace Tasks.Azure.Tests;

[Collection(AzuriteCollection.Name)]
public sealed class AzureQueueMonitorTests(AzuriteFixture azurite)
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
}
