using System.Diagnostics;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using Tasks.Azure;
using Tasks.Testing;

namespace Tasks.Benchmarks;

/// <summary>
/// Tasks through a real Azurite against the raw Azure.Storage.Queues loop (send; receive 32; delete)
/// at the same concurrency (the ceiling for any library on this backend) and against WebJobs' QueueTrigger:
/// with records off, and with them on (its default wherever a store is configured), each side on a fresh Azurite.
/// </summary>
internal static class AzuriteSuite
{
    private const int Concurrency = 16;

    public static async Task RunAsync(int count)
    {
        var report = new Report("azurite");

        // A fresh Azurite for each side: an Azurite that has already carried thousands of messages
        // is several times slower, which would hand the advantage to whichever side runs first.
        var raw = await MeasuredAsync(connectionString => RawAsync(connectionString, count));
        report.Figure($"raw SDK: {count:N0} messages, {Concurrency} senders, receives of 32, {Concurrency} deleters", raw.Elapsed.TotalSeconds, "s");
        report.Figure("raw SDK throughput", count / raw.Elapsed.TotalSeconds, "messages/s");
        report.Figure("raw SDK enqueue-to-receive p50", raw.P50, "ms");
        report.Figure("raw SDK enqueue-to-receive p99", raw.P99, "ms");

        Side? webJobs32 = null;
        foreach (var concurrency in new[] { Concurrency, 2 * Concurrency })
        {
            // Sides alternate, each on a fresh Azurite: WebJobs with the same batch, then Tasks.
            var batch = Math.Min(32, concurrency);
            var webJobs = await MeasuredAsync(connectionString => WebJobsPeer.RunAsync(connectionString, count, batch, Concurrency));
            Describe(report, $"WebJobs QueueTrigger (BatchSize {batch})", webJobs, count);
            var tasks = await MeasuredAsync(connectionString => TasksAsync(connectionString, count, concurrency, bulk: false, records: false));
            Describe(report, $"Tasks (MaxConcurrency {concurrency}, receives of up to {batch})", tasks, count);
            // As users run it: records on wherever a store is configured (tables beside the queues).
            var tracked = await MeasuredAsync(connectionString => TasksAsync(connectionString, count, concurrency, bulk: false, records: true), tables: true);
            Describe(report, $"Tasks with records (MaxConcurrency {concurrency})", tracked, count);
            var trackedPeer = webJobs.Elapsed.TotalSeconds / tracked.Elapsed.TotalSeconds;
            report.Ratio($"Tasks with records / WebJobs throughput (MaxConcurrency {concurrency})", trackedPeer, ">= 1.0", trackedPeer >= 1.0);
            var ratio = raw.Elapsed.TotalSeconds / tasks.Elapsed.TotalSeconds;
            report.Ratio($"Tasks (MaxConcurrency {concurrency}, receives of {batch}) / raw SDK (receives of 32) throughput", ratio, ">= 0.9", ratio >= 0.9);
            var peer = webJobs.Elapsed.TotalSeconds / tasks.Elapsed.TotalSeconds;
            report.Ratio($"Tasks / WebJobs throughput (MaxConcurrency {concurrency})", peer, ">= 1.0", peer >= 1.0);
            report.Ratio($"Tasks / WebJobs CPU per task (MaxConcurrency {concurrency})", tasks.CpuSeconds / webJobs.CpuSeconds, "(reported; senders included on both sides)", true);
            report.Ratio($"Tasks / WebJobs storage calls per task (MaxConcurrency {concurrency})", (double)tasks.Calls.Values.Sum() / webJobs.Calls.Values.Sum(), "(reported)", true);
            webJobs32 = webJobs;
        }

        // Bulk enqueue: the same tasks added to batches of BulkBatch and sent by the same 16 senders.
        var bulk = await MeasuredAsync(connectionString => TasksAsync(connectionString, count, 2 * Concurrency, bulk: true, records: false));
        Describe(report, $"Tasks bulk (batches of {BulkBatch}, MaxConcurrency {2 * Concurrency})", bulk, count);
        var bulkRatio = webJobs32!.Elapsed.TotalSeconds / bulk.Elapsed.TotalSeconds;
        report.Ratio("Tasks bulk / WebJobs (BatchSize 32) throughput", bulkRatio, ">= 10", bulkRatio >= 10);
        var trackedBulk = await MeasuredAsync(connectionString => TasksAsync(connectionString, count, 2 * Concurrency, bulk: true, records: true), tables: true);
        Describe(report, $"Tasks bulk with records (batches of {BulkBatch}, MaxConcurrency {2 * Concurrency})", trackedBulk, count);
        var trackedBulkRatio = webJobs32.Elapsed.TotalSeconds / trackedBulk.Elapsed.TotalSeconds;
        report.Ratio("Tasks bulk with records / WebJobs (BatchSize 32) throughput", trackedBulkRatio, ">= 20", trackedBulkRatio >= 20);
        var bulkCpu = bulk.CpuSeconds / webJobs32.CpuSeconds;
        report.Ratio("Tasks bulk / WebJobs (BatchSize 32) CPU per task", bulkCpu, "<= 0.2", bulkCpu <= 0.2);

        report.Save();
    }

    private const int BulkBatch = 500;

    /// <summary>One side of a run: its time, latency, this process's CPU, and the storage calls Azurite served.</summary>
    private sealed record Side(TimeSpan Elapsed, double P50, double P99, double CpuSeconds, IReadOnlyDictionary<string, int> Calls);

    private static void Describe(Report report, string side, Side result, int count)
    {
        report.Figure($"{side}: {count:N0} tasks, {Concurrency} senders", result.Elapsed.TotalSeconds, "s");
        report.Figure($"{side} throughput", count / result.Elapsed.TotalSeconds, "tasks/s");
        report.Figure($"{side} enqueue-to-start p50 / p99", result.P50, $"ms / {result.P99:0} ms");
        report.Figure($"{side} process CPU per 1,000 tasks", result.CpuSeconds * 1000 / count, "s");
        report.Figure($"{side} storage calls per task", (double)result.Calls.Values.Sum() / count,
            string.Join(", ", result.Calls.Select(c => $"{c.Key} {(double)c.Value / count:0.###}")));
    }

    /// <summary>A run on a fresh Azurite, with this process's CPU time over it (senders and consumer alike, on both sides).</summary>
    private static async Task<Side> MeasuredAsync(Func<string, Task<(TimeSpan, double, double)>> run, bool tables = false)
    {
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        await using var azurite = await AzuriteProcess.StartAsync(tables: tables);
        var (elapsed, p50, p99) = await run(azurite.ConnectionString);
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
        await Task.Delay(500); // the access log of the last requests
        var calls = new Dictionary<string, int>(azurite.RequestCounts());
        if (tables) calls["tables"] = azurite.TableRequestCount();
        return new Side(elapsed, p50, p99, cpu, calls);
    }

    private static async Task<(TimeSpan, double, double)> TasksAsync(string connectionString, int count, int concurrency, bool bulk, bool records)
    {
        var account = new AzureQueueOptions { ConnectionString = connectionString, QueuePrefix = "bench-" };
        var transport = new AzureQueueTransport(account);
        var store = records ? new AzureTableTaskRecordStore(account) : null;
        var client = new TaskClient(transport, records: store);
        var options = new TaskWorkerOptions { MaxConcurrency = concurrency, MinPollingInterval = TimeSpan.FromMilliseconds(10), MaxPollingInterval = TimeSpan.FromMilliseconds(100) };
        options.Queues.Add(BenchTasks.TimedAsync.Definition.Queue);
        await using var worker = new TaskWorker(transport, options, records: store);
        await BenchTasks.TimedAsync.Enqueue(client, Stopwatch.GetTimestamp()); // creates the queue (and the day's table); not measured
        await worker.RunOnceAsync();
        if (client.RecordWriter is { } writer) await writer.FlushAsync(CancellationToken.None);
        Latency.TakeMilliseconds();
        await worker.StartAsync();

        var clock = Stopwatch.StartNew();
        if (bulk)
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count).Chunk(BulkBatch), new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (chunk, ct) =>
            {
                var batch = new TaskBatch();
                foreach (var _ in chunk) BenchTasks.TimedAsync.AddTo(batch, Stopwatch.GetTimestamp());
                await client.EnqueueBatchAsync(batch, cancellationToken: ct);
            });
        }
        else
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (_, ct) =>
                await BenchTasks.TimedAsync.Enqueue(client, Stopwatch.GetTimestamp(), cancellationToken: ct));
        }

        while (Latency.Count < count) await Task.Delay(5);
        var elapsed = clock.Elapsed;
        await worker.StopAsync();
        if (client.RecordWriter is { } clientWriter) await clientWriter.DisposeAsync();
        var (p50, p99) = Latency.TakeMilliseconds();
        return (elapsed, p50, p99);
    }

    private static async Task<(TimeSpan, double, double)> RawAsync(string connectionString, int count)
    {
        var queue = new QueueClient(connectionString, "bench-raw", new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 });
        await queue.CreateIfNotExistsAsync();
        var received = 0;
        using var stop = new CancellationTokenSource();

        // One receive loop, as a worker has per queue; deletes run in parallel up to the same concurrency.
        var consumer = Task.Run(async () =>
        {
            using var slots = new SemaphoreSlim(Concurrency);
            var idle = 0;
            while (Volatile.Read(ref received) < count)
            {
                QueueMessage[] batch = await queue.ReceiveMessagesAsync(32, TimeSpan.FromSeconds(30));
                if (batch.Length == 0)
                {
                    await Task.Delay(Math.Min(10 << Math.Min(idle++, 4), 100));
                    continue;
                }

                idle = 0;
                foreach (var message in batch)
                {
                    Latency.Record(BitConverter.ToInt64(message.Body.ToMemory().Span));
                    await slots.WaitAsync();
                    _ = Task.Run(async () =>
                    {
                        try
                        {
                            await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt);
                            Interlocked.Increment(ref received);
                        }
                        finally
                        {
                            slots.Release();
                        }
                    });
                }
            }
        });

        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (_, ct) =>
            await queue.SendMessageAsync(BinaryData.FromBytes(BitConverter.GetBytes(Stopwatch.GetTimestamp())), cancellationToken: ct));
        await consumer;
        var elapsed = clock.Elapsed;
        var (p50, p99) = Latency.TakeMilliseconds();
        return (elapsed, p50, p99);
    }
}
