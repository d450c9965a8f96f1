using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Tasks.Azure.Tests;

[Collection(AzuriteCollection.Name)]
/// <summary>Three worker hosts, as on three machines, keep one schedule in Azurite's blob service.</summary>
public sealed class AzureRecurringTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Three_workers_enqueue_each_occurrence_once_and_each_runs_once()
    {
        var prefix = "cron" + Guid.NewGuid().ToString("N")[..8] + "-";
        var name = AzureRecurringTasks.EverySecondAsync.Definition.Name;
        AzureRecurringTasks.Runs.Clear();
        var hosts = Enumerable.Range(0, 3).Select(_ =>
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Services.AddAsyncTaskWorker(o =>
            {
                o.Queues.Add(AzureRecurringTasks.Queue);
                o.MinPollingInterval = TimeSpan.FromMilliseconds(20);
            }).UseAzureQueues(o =>
            {
                o.ConnectionString = azurite.ConnectionString;
                o.QueuePrefix = prefix;
            });
            return builder.Build();
        }).ToArray();
        var store = new AzureQueueTransport(new AzureQueueOptions { ConnectionString = azurite.ConnectionString, QueuePrefix = prefix });

        await Task.WhenAll(hosts.Select(h => h.StartAsync()));
        await AzureHarness.WaitUntil(async () => await store.ReadScheduleAsync(name, default) is not null, "a worker recorded the schedule");
        var began = (await store.ReadScheduleAsync(name, default))!.State.LastOccurrence;
        await AzureHarness.WaitUntil(() => Task.FromResult(AzureRecurringTasks.Runs.Count >= 6), "six occurrences ran");
        foreach (var host in hosts) await host.StopAsync();

        var last = (await store.ReadScheduleAsync(name, default))!.State;
        Assert.Null(last.Pending);
        var occurrences = (int)(last.LastOccurrence - began.AddTicks(-(began.Ticks % TimeSpan.TicksPerSecond))).TotalSeconds;

        // What the last occurrences enqueued before the stop still waits: a worker that keeps no schedule drains it.
        await using var drain = new TaskWorker(store, new TaskWorkerOptions { Queues = { AzureRecurringTasks.Queue }, MinPollingInterval = TimeSpan.FromMilliseconds(20) });
        await drain.StartAsync();
        await AzureHarness.WaitUntil(() => Task.FromResult(AzureRecurringTasks.Runs.Count >= occurrences), $"{occurrences} occurrences ran");
        await Task.Delay(1000); // a second that would show a run too many
        await drain.StopAsync();

        Assert.Equal(occurrences, AzureRecurringTasks.Runs.Count);
        Assert.Equal(occurrences, AzureRecurringTasks.Runs.Distinct().Count());
        foreach (var host in hosts) host.Dispose();
    }
}
