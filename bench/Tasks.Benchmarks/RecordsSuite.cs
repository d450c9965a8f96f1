using System.Diagnostics;
using Tasks.Azure;
using Tasks.Testing;

namespace Tasks.Benchmarks;

/// <summary>
/// What task records cost on Azurite (queues and tables, each its own process), at MaxConcurrency 32:
/// the same tasks with records off and on, alternating, each side on a fresh Azurite. Throughput from
/// the first enqueue to the last run, the storage calls of each service per task (from Azurite's
/// access logs), and how long an Enqueue takes.
/// </summary>
internal static class RecordsSuite
{
    private const int Concurrency = 32;
    private const int Senders = 16;
    private const int Repetitions = 3;
    private const int BulkBatch = 500;

    public static async Task RunAsync(int count)
    {
        var report = new Report("records");
        var off = new List<Side>();
        var on = new List<Side>();
        for (var i = 0; i < Repetitions; i++)
        {
            off.Add(await MeasuredAsync(count, tracked: false, bulk: false));
            on.Add(await MeasuredAsync(count, tracked: true, bulk: false));
        }

        var (untracked, tracked) = (Median(off), Median(on));
        Describe(report, "untracked (one task per message)", untracked, count);
        Describe(report, "tracked (one task per message)", tracked, count);
        var throughput = tracked.Throughput / untracked.Throughput;
        report.Ratio($"tracked / untracked throughput, one per message (median of {Repetitions} alternating runs)", throughput, ">= 0.8", throughput >= 0.8);
        var extra = tracked.CallsPerTask - untracked.CallsPerTask;
        report.Ratio("extra storage calls per task with tracking, one per message (tables + queues)", extra, "<= 1.2", extra <= 1.2);
        var latency = tracked.EnqueueP50 / untracked.EnqueueP50;
        report.Ratio("tracked / untracked Enqueue latency p50", latency, "<= 1.3", latency <= 1.3);

        var (bulkOffs, bulkOns) = (new List<Side>(), new List<Side>());
        for (var i = 0; i < Repetitions; i++)
        {
            bulkOffs.Add(await MeasuredAsync(count, tracked: false, bulk: true));
            bulkOns.Add(await MeasuredAsync(count, tracked: true, bulk: true));
        }

        var (bulkOff, bulkOn) = (Median(bulkOffs), Median(bulkOns));
        Describe(report, $"untracked (bulk, batches of {BulkBatch})", bulkOff, count);
        Describe(report, $"tracked (bulk, batches of {BulkBatch})", bulkOn, count);
        var bulkExtra = bulkOn.CallsPerTask - bulkOff.CallsPerTask;
        report.Ratio("extra storage calls per task with tracking, bulk packs", bulkExtra, "<= 0.1", bulkExtra <= 0.1);
        var bulkThroughput = bulkOn.Throughput / bulkOff.Throughput;
        report.Ratio($"tracked / untracked throughput, bulk packs (median of {Repetitions} alternating runs)", bulkThroughput, ">= 0.5", bulkThroughput >= 0.5);
        report.Save();
    }

    private sealed record Side(double Throughput, double EnqueueP50, double EnqueueP99, double QueueCallsPerTask, double TableCallsPerTask)
    {
        public double CallsPerTask => QueueCallsPerTask + TableCallsPerTask;
    }

    private static Side Median(List<Side> sides) => sides.OrderBy(s => s.Throughput).ElementAt(sides.Count / 2);

    private static void Describe(Report report, string side, Side result, int count)
    {
        report.Figure($"{side}: throughput, {count:N0} tasks", result.Throughput, "tasks/s");
        report.Figure($"{side}: Enqueue p50 / p99", result.EnqueueP50, $"ms / {result.EnqueueP99:0.0} ms");
        report.Figure($"{side}: storage calls per task", result.CallsPerTask, $"queues {result.QueueCallsPerTask:0.###}, tables {result.TableCallsPerTask:0.###}");
    }

    private static async Task<Side> MeasuredAsync(int count, bool tracked, bool bulk)
    {
        await using var azurite = await AzuriteProcess.StartAsync(tables: true);
        var account = new AzureQueueOptions { ConnectionString = azurite.ConnectionString, QueuePrefix = "bench-" };
        var transport = new AzureQueueTransport(account);
        var store = tracked ? new AzureTableTaskRecordStore(account) : null;
        var client = new TaskClient(transport, records: store);
        var options = new TaskWorkerOptions { MaxConcurrency = Concurrency, MinPollingInterval = TimeSpan.FromMilliseconds(10), MaxPollingInterval = TimeSpan.FromMilliseconds(100) };
        options.Queues.Add(BenchTasks.TimedAsync.Definition.Queue);
        var worker = new TaskWorker(transport, options, records: store);
        await BenchTasks.TimedAsync.Enqueue(client, Stopwatch.GetTimestamp()); // creates the queue and the day's table; not measured
        await worker.RunOnceAsync();
        if (client.RecordWriter is { } writer) await writer.FlushAsync(CancellationToken.None);
        Latency.TakeMilliseconds();
        await Task.Delay(500);
        var (queueBefore, tableBefore) = (azurite.RequestCounts().Values.Sum(), tracked ? azurite.TableRequestCount() : 0);
        await worker.StartAsync();

        var enqueues = new double[bulk ? (count + BulkBatch - 1) / BulkBatch : count];
        var clock = Stopwatch.StartNew();
        if (bulk)
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count).Chunk(BulkBatch).Select((c, i) => (c, i)), new ParallelOptions { MaxDegreeOfParallelism = Senders }, async (chunk, ct) =>
            {
                var batch = new TaskBatch();
                foreach (var _ in chunk.c) BenchTasks.TimedAsync.AddTo(batch, Stopwatch.GetTimestamp());
                var started = Stopwatch.GetTimestamp();
                await client.EnqueueBatchAsync(batch, cancellationToken: ct);
                enqueues[chunk.i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            });
        }
        else
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = Senders }, async (i, ct) =>
            {
                var started = Stopwatch.GetTimestamp();
                await BenchTasks.TimedAsync.Enqueue(client, started, cancellationToken: ct);
                enqueues[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            });
        }

        while (Latency.Count < count) await Task.Delay(5);
        var elapsed = clock.Elapsed;
        await worker.DisposeAsync(); // the worker's last record writes go out
        if (client.RecordWriter is { } clientWriter) await clientWriter.DisposeAsync();
        Latency.TakeMilliseconds();
        await Task.Delay(1000); // the access logs of the last requests
        var queueCalls = azurite.RequestCounts().Values.Sum() - queueBefore;
        var tableCalls = tracked ? azurite.TableRequestCount() - tableBefore : 0;
        Array.Sort(enqueues);
        return new Side(count / elapsed.TotalSeconds, enqueues[enqueues.Length / 2], enqueues[(int)(enqueues.Length * 0.99)], (double)queueCalls / count, (double)tableCalls / count);
    }
}
