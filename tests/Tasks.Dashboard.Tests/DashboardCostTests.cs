namespace Tasks.Dashboard.Tests;

/// <summary>The overview reads counters, heartbeats and queue depths: what it costs must not grow with the number of tasks.</summary>
public sealed class DashboardCostTests
{
    [Fact]
    public async Task The_overview_makes_the_same_number_of_store_calls_with_100_and_with_100000_records()
    {
        async Task<long> OverviewCallsWith(int tasks)
        {
            await using var host = await DashboardHost.StartAsync(worker: false);
            for (var sent = 0; sent < tasks; sent += 10_000)
            {
                var batch = new TaskBatch();
                for (var i = sent; i < Math.Min(tasks, sent + 10_000); i++) DashboardTestTasks.RunAsync.AddTo(batch, "s", i.ToString());
                await host.Client.EnqueueBatchAsync(batch);
            }

            Assert.Equal(Math.Min(tasks, 1000), (await host.Records.ListAsync(new TaskRecordQuery { PageSize = 1000 })).Records.Count);
            await host.Http.GetStringAsync("/tasks"); // the first page view: the tables it lists exist
            var before = host.Records.Operations;
            await host.Http.GetStringAsync("/tasks");
            return host.Records.Operations - before;
        }

        var few = await OverviewCallsWith(100);
        var many = await OverviewCallsWith(100_000);
        Assert.Equal(few, many);
        Assert.InRange(few, 1, 10); // heartbeats, the minute counters, the schedules: see docs/dashboard.md
    }
}
