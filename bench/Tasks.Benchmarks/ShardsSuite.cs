using System.Diagnostics;
using Tasks.Azure;
using Tasks.Testing;

namespace Tasks.Benchmarks;

/// <summary>
/// One-per-message tasks through one Azure queue against the same queue sharded over four, each shard
/// in an Azurite process of its own (standing in for four storage accounts): what sharding buys when a
/// single queue's service is the bottleneck. Sides alternate, each on fresh Azurite processes.
/// </summary>
internal static class ShardsSuite
{
    private const int Senders = 32;
    private const int Concurrency = 64;
    private const int Repetitions = 3;

    public static async Task RunAsync(int count)
    {
        var report = new Report("shards");
        var one = new List<double>();
        var four = new List<double>();
        for (var rep = 0; rep < Repetitions; rep++)
        {
            one.Add(await SideAsync(report, rep, shards: 1, count));
            four.Add(await SideAsync(report, rep, shards: 4, count));
        }

        var (medianOne, medianFour) = (Report.Median(one), Report.Median(four));
        report.Figure($"1 shard, median of {Repetitions}", medianOne, "tasks/s");
        report.Figure($"4 shards in 4 Azurite processes, median of {Repetitions}", medianFour, "tasks/s");
        var ratio = medianFour / medianOne;
        report.Ratio("4 shards / 1 shard throughput (one task per message)", ratio, "(reported: 2 cores serve the 4 Azurite processes, the senders and the worker)", true);
        report.Save();
    }

    private static async Task<double> SideAsync(Report report, int rep, int shards, int count)
    {
        var azurites = new List<AzuriteProcess>();
        try
        {
            for (var i = 0; i < shards; i++) azurites.Add(await AzuriteProcess.StartAsync());
            var queue = BenchTasks.TimedAsync.Definition.Queue;
            var transport = new AzureQueueTransport(new AzureQueueOptions
            {
                ConnectionString = azurites[0].ConnectionString,
                QueuePrefix = "bench-",
                Shards = { [queue] = shards },
                ShardAccounts = [.. azurites.Skip(1).Select(a => a.ConnectionString)],
            });
            var client = new TaskClient(transport);
            var options = new TaskWorkerOptions { MaxConcurrency = Concurrency, MinPollingInterval = TimeSpan.FromMilliseconds(10), MaxPollingInterval = TimeSpan.FromMilliseconds(100) };
            options.Queues.Add(queue);
            await using var worker = new TaskWorker(transport, options);
            await worker.StartAsync(); // creates every shard; not measured

            var clock = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = Senders }, async (_, ct) =>
                await BenchTasks.TimedAsync.Enqueue(client, Stopwatch.GetTimestamp(), cancellationToken: ct));
            var sent = clock.Elapsed;
            while (Latency.Count < count) await Task.Delay(5);
            var elapsed = clock.Elapsed;
            await worker.StopAsync();
            var (p50, p99) = Latency.TakeMilliseconds();
            var rate = count / elapsed.TotalSeconds;
            report.Figure($"run {rep + 1}, {shards} shard(s): {count:N0} tasks, {Senders} senders, MaxConcurrency {Concurrency}", rate, $"tasks/s (sent in {sent.TotalSeconds:0.0} s; enqueue-to-start p50 {p50:0} ms, p99 {p99:0} ms)");
            return rate;
        }
        finally
        {
            foreach (var azurite in azurites) await azurite.DisposeAsync();
        }
    }
}
