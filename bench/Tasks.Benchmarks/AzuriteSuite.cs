using System.Diagnostics;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using Tasks.Azure;
using Tasks.Testing;

namespace Tasks.Benchmarks;

/// <summary>
/// Tasks through a real Azurite against the raw Azure.Storage.Queues loop (send; receive 32; delete)
/// at the same concurrency: the ceiling for any library on this backend.
/// </summary>
internal static class AzuriteSuite
{
    private const int Concurrency = 16;

    public static async Task RunAsync(int count)
    {
        var report = new Report("azurite");

        // A fresh Azurite for each side: an Azurite that has already carried thousands of messages
        // is several times slower, which would hand the advantage to whichever side runs first.
        var (rawTime, rawP50, rawP99) = await WithAzuriteAsync(connectionString => RawAsync(connectionString, count));
        report.Figure($"raw SDK: {count:N0} messages, {Concurrency} senders, receives of 32, {Concurrency} deleters", rawTime.TotalSeconds, "s");
        report.Figure("raw SDK throughput", count / rawTime.TotalSeconds, "messages/s");
        report.Figure("raw SDK enqueue-to-receive p50", rawP50, "ms");
        report.Figure("raw SDK enqueue-to-receive p99", rawP99, "ms");

        foreach (var concurrency in new[] { Concurrency, 2 * Concurrency })
        {
            // Sides alternate, each on a fresh Azurite: WebJobs with the same batch, then Tasks.
            var (webJobsTime, webJobsP50, webJobsP99, webJobsCpu) = await MeasuredAsync(connectionString => WebJobsPeer.RunAsync(connectionString, count, Math.Min(32, concurrency), Concurrency));
            report.Figure($"WebJobs QueueTrigger (BatchSize {Math.Min(32, concurrency)}) throughput", count / webJobsTime.TotalSeconds, "tasks/s");
            report.Figure($"WebJobs (BatchSize {Math.Min(32, concurrency)}) enqueue-to-start p50 / p99", webJobsP50, $"ms / {webJobsP99:0} ms");
            report.Figure($"WebJobs (BatchSize {Math.Min(32, concurrency)}) process CPU per 1,000 tasks", webJobsCpu * 1000 / count, "s");

            var (time, p50, p99, cpu) = await MeasuredAsync(connectionString => TasksAsync(connectionString, count, concurrency));
            var batch = Math.Min(32, concurrency);
            report.Figure($"Tasks (MaxConcurrency {concurrency}, receives of up to {batch}): {count:N0} tasks, {Concurrency} senders", time.TotalSeconds, "s");
            report.Figure($"Tasks (MaxConcurrency {concurrency}) throughput", count / time.TotalSeconds, "tasks/s");
            report.Figure($"Tasks (MaxConcurrency {concurrency}) enqueue-to-start p50", p50, "ms");
            report.Figure($"Tasks (MaxConcurrency {concurrency}) enqueue-to-start p99", p99, "ms");
            report.Figure($"Tasks (MaxConcurrency {concurrency}) process CPU per 1,000 tasks", cpu * 1000 / count, "s");
            var ratio = rawTime.TotalSeconds / time.TotalSeconds;
            report.Ratio($"Tasks (MaxConcurrency {concurrency}, receives of {batch}) / raw SDK (receives of 32) throughput", ratio, ">= 0.9", ratio >= 0.9);
            var peer = webJobsTime.TotalSeconds / time.TotalSeconds;
            report.Ratio($"Tasks / WebJobs throughput (MaxConcurrency {concurrency})", peer, ">= 1.0", peer >= 1.0);
            report.Ratio($"Tasks / WebJobs CPU per task (MaxConcurrency {concurrency})", cpu / webJobsCpu, "(reported; senders included on both sides)", true);
        }

        report.Save();
    }

    /// <summary>A run on a fresh Azurite, with this process's CPU time over it (senders and consumer alike, on both sides).</summary>
    private static async Task<(TimeSpan Elapsed, double P50, double P99, double CpuSeconds)> MeasuredAsync(Func<string, Task<(TimeSpan, double, double)>> run)
    {
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var (elapsed, p50, p99) = await WithAzuriteAsync(run);
        return (elapsed, p50, p99, (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds);
    }

    private static async Task<T> WithAzuriteAsync<T>(Func<string, Task<T>> run)
    {
        await using var azurite = await AzuriteProcess.StartAsync();
        return await run(azurite.ConnectionString);
    }

    private static async Task<(TimeSpan, double, double)> TasksAsync(string connectionString, int count, int concurrency)
    {
        var transport = new AzureQueueTransport(new AzureQueueOptions { ConnectionString = connectionString, QueuePrefix = "bench-" });
        var client = new TaskClient(transport);
        var options = new TaskWorkerOptions { MaxConcurrency = concurrency, MinPollingInterval = TimeSpan.FromMilliseconds(10), MaxPollingInterval = TimeSpan.FromMilliseconds(100) };
        options.Queues.Add(BenchTasks.TimedAsync.Definition.Queue);
        await using var worker = new TaskWorker(transport, options);
        await BenchTasks.TimedAsync.Enqueue(client, Stopwatch.GetTimestamp()); // creates the queue; not measured
        await worker.RunOnceAsync();
        Latency.TakeMilliseconds();
        await worker.StartAsync();

        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (_, ct) =>
            await BenchTasks.TimedAsync.Enqueue(client, Stopwatch.GetTimestamp(), cancellationToken: ct));
        while (Latency.Count < count) await Task.Delay(5);
        var elapsed = clock.Elapsed;
        await worker.StopAsync();
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
