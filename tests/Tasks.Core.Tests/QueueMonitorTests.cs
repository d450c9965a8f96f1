using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Tasks.Core.Tests;

public sealed class QueueMonitorTests
{
    [Fact]
    public async Task Depth_counts_waiting_delayed_and_leased_messages_and_the_dead_letters_of_a_queue()
    {
        await using var h = new Harness();
        Assert.Equal(new TaskQueueDepth("never-used", false, 0, 0), await h.Transport.GetDepthAsync("never-used"));
        var ok = Scripts.Add((_, _) => Task.CompletedTask);
        var declined = Scripts.Add((_, _) => throw new PermanentTaskException("card declined"));

        await ScriptedTasks.RunAsync.Enqueue(h.Client, declined);
        await ScriptedTasks.RunAsync.Enqueue(h.Client, ok, new TaskEnqueueOptions { Delay = TimeSpan.FromMinutes(1) });
        await ScriptedTasks.RunOtherAsync.Enqueue(h.Client, ok);
        Assert.Equal(new TaskQueueDepth(ScriptedTasks.Queue, true, 2, 0), await h.Transport.GetDepthAsync(ScriptedTasks.Queue));
        await h.Worker.RunOnceAsync();

        Assert.Equal(new TaskQueueDepth(ScriptedTasks.Queue, true, 1, 1), await h.Transport.GetDepthAsync(ScriptedTasks.Queue));
        Assert.Equal(new TaskQueueDepth("other", true, 1, 0), await h.Transport.GetDepthAsync("other"));
        var leased = Assert.Single(await h.Transport.ReceiveAsync("other", 1, TimeSpan.FromMinutes(1), default));
        Assert.Equal(1, (await h.Transport.GetDepthAsync("other")).Messages);
        await h.Transport.CompleteAsync(leased, default);
        Assert.Equal(0, (await h.Transport.GetDepthAsync("other")).Messages);
    }

    [Fact]
    public void A_host_resolves_the_queue_monitor_of_its_transport()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAsyncTasks().UseInMemoryTransport();
        using var host = builder.Build();

        Assert.Same(host.Services.GetRequiredService<InMemoryTransport>(), host.Services.GetRequiredService<ITaskQueueMonitor>());
    }
}
