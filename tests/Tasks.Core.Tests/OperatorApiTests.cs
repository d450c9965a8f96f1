using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Tasks.Core.Tests;

/// <summary>What an operator sees and does: queue depths and dead letters, in memory.</summary>
public sealed class OperatorApiTests
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
    public async Task A_dead_letter_is_listed_with_its_arguments_as_json_then_requeued_and_runs_once_with_its_id()
    {
        await using var h = new Harness();
        var broken = true;
        var ran = new List<(string Id, int Attempt)>();
        var flaky = Scripts.Add((context, _) =>
        {
            if (broken) throw new InvalidOperationException("database down");
            ran.Add((context.MessageId, context.Attempt));
            return Task.CompletedTask;
        });
        var declined = Scripts.Add((_, _) => throw new PermanentTaskException("card declined"));
        var enqueuedAt = h.Time.GetUtcNow();
        var id = await ScriptedTasks.RunAsync.Enqueue(h.Client, flaky);
        var declinedId = await ScriptedTasks.RunAsync.Enqueue(h.Client, declined);
        for (var i = 0; i < 3; i++)
        {
            await h.Worker.RunOnceAsync();
            h.FakeTime.Advance(TimeSpan.FromMinutes(5));
        }

        var letters = await h.Transport.ListDeadLettersAsync(ScriptedTasks.Queue);
        Assert.Equal([declinedId, id], letters.Select(l => l.MessageId));
        var letter = letters[1];
        Assert.Equal((ScriptedTasks.RunAsync.Definition.Name, 3, enqueuedAt), (letter.TaskName, letter.Attempt, letter.EnqueuedAt));
        Assert.Contains("failed on all 3 attempts", letter.Reason);
        Assert.Equal(("System.InvalidOperationException", "database down"), (letter.ExceptionType, letter.ExceptionMessage));
        Assert.Equal($"[\"{flaky}\"]", letter.ArgumentsJson);
        Assert.Empty(await h.Transport.ListDeadLettersAsync(ScriptedTasks.Queue, new DeadLetterFilter { TaskName = "no.such.task" }));
        Assert.Single(await h.Transport.ListDeadLettersAsync(ScriptedTasks.Queue, new DeadLetterFilter { ReasonContains = "DECLINED" }));

        broken = false;
        Assert.Equal(id, Assert.Single(await h.Transport.RequeueDeadLettersAsync(ScriptedTasks.Queue, new DeadLetterFilter { MessageId = id })).MessageId);
        await h.Worker.RunOnceAsync();

        Assert.Equal([(id, 1)], ran); // its id kept, its attempts counted afresh
        Assert.Equal([declinedId], (await h.Transport.ListDeadLettersAsync(ScriptedTasks.Queue)).Select(l => l.MessageId));
        Assert.Equal(declinedId, Assert.Single(await h.Transport.DeleteDeadLettersAsync(ScriptedTasks.Queue)).MessageId);
        Assert.Equal(new TaskQueueDepth(ScriptedTasks.Queue, true, 0, 0), await h.Transport.GetDepthAsync(ScriptedTasks.Queue));
    }

    [Fact]
    public void A_host_resolves_the_operator_interfaces_of_its_transport()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAsyncTasks().UseInMemoryTransport();
        using var host = builder.Build();

        var transport = host.Services.GetRequiredService<InMemoryTransport>();
        Assert.Same(transport, host.Services.GetRequiredService<ITaskQueueMonitor>());
        // With records (on by default), a requeue also tells the records; without, the transport's own.
        Assert.IsType<RecordedDeadLetters>(host.Services.GetRequiredService<ITaskDeadLetters>());
        var without = Host.CreateApplicationBuilder();
        without.Services.AddAsyncTasks().UseInMemoryTransport().UseTaskRecords(o => o.Enabled = false);
        using var plain = without.Build();
        Assert.Same(plain.Services.GetRequiredService<InMemoryTransport>(), plain.Services.GetRequiredService<ITaskDeadLetters>());
    }
}
