using System.Diagnostics;
using System.Security.Cryptography;
using Azure.Storage.Blobs;
using Tasks.Azure;
using Tasks.Testing;

namespace Tasks.Benchmarks;

/// <summary>
/// Large arguments through the payload store on Azurite (a fresh process for each side of each
/// repetition): MiB/s of Enqueue + run of 1 MiB and 16 MiB arguments against the raw Blob SDK doing
/// upload + download of the same bytes, at the same parallelism; and the peak resident memory a
/// worker process grows by while it runs a 16 MiB argument.
/// </summary>
internal static class PayloadsSuite
{
    private const int Parallelism = 4;
    private const int Repetitions = 3;
    private const int MiB = 1024 * 1024;

    public static async Task RunAsync()
    {
        var report = new Report("payloads");
        foreach (var (mib, count) in new[] { (1, 256), (16, 24) })
        {
            var data = RandomNumberGenerator.GetBytes(mib * MiB);
            var raw = new List<double>();
            var ours = new List<double>();
            for (var rep = 0; rep < Repetitions; rep++)
            {
                // Alternating sides, each on a fresh Azurite: neither gains from the other's warm-up or loses to its leftovers.
                raw.Add(await RawAsync(data, count));
                ours.Add(await OursAsync(data, count));
            }

            var (rawMedian, oursMedian) = (Median(raw), Median(ours));
            report.Figure($"{mib} MiB × {count}: raw Blob SDK upload + download", rawMedian, $"MiB/s (median of {Repetitions}; {string.Join(", ", raw.Select(r => r.ToString("0")))})");
            report.Figure($"{mib} MiB × {count}: Enqueue + run through the payload store", oursMedian, $"MiB/s (median of {Repetitions}; {string.Join(", ", ours.Select(r => r.ToString("0")))})");
            report.Ratio($"{mib} MiB: Enqueue + run / raw upload + download", oursMedian / rawMedian, ">= 0.8", oursMedian / rawMedian >= 0.8);
        }

        var (before, peak) = await WorkerPeakAsync(16 * MiB);
        report.Figure("worker process: resident memory before the 16 MiB task (after a warm-up task)", before / (double)MiB, "MiB");
        report.Figure("worker process: peak resident memory running it", peak / (double)MiB, "MiB");
        report.Ratio("worker's peak growth / argument size (16 MiB)", (peak - before) / (16.0 * MiB), "<= 3", peak - before <= 3L * 16 * MiB);
        report.Save();
    }

    /// <summary>What a hand-rolled claim check does at the least: upload, download, <see cref="Parallelism"/> at a time.</summary>
    private static async Task<double> RawAsync(byte[] data, int count)
    {
        await using var azurite = await AzuriteProcess.StartAsync(blobs: true);
        var container = new BlobContainerClient(azurite.ConnectionString, "raw");
        await container.CreateAsync();
        await container.GetBlobClient("warm").UploadAsync(BinaryData.FromBytes(data));
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Parallelism).Select(_ => Task.Run(async () =>
        {
            for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                var blob = container.GetBlobClient($"b{i}");
                await blob.UploadAsync(BinaryData.FromBytes(data));
                var downloaded = (await blob.DownloadContentAsync()).Value.Content;
                if (downloaded.ToMemory().Length != data.Length) throw new InvalidOperationException("short download");
            }
        })));
        return count * (double)data.Length / MiB / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Enqueue from <see cref="Parallelism"/> producers to a worker running as many at once, until every task ran.</summary>
    private static async Task<double> OursAsync(byte[] data, int count)
    {
        await using var azurite = await AzuriteProcess.StartAsync(blobs: true);
        var transport = new AzureQueueTransport(new AzureQueueOptions { ConnectionString = azurite.ConnectionString, QueuePrefix = "bench-" });
        var client = new TaskClient(transport);
        var options = new TaskWorkerOptions { MaxConcurrency = Parallelism, MinPollingInterval = TimeSpan.FromMilliseconds(5), MaxPollingInterval = TimeSpan.FromMilliseconds(20) };
        options.Queues.Add(BenchTasks.LargeAsync.Definition.Queue);
        await using var worker = new TaskWorker(transport, options);
        await worker.StartAsync();
        await BenchTasks.LargeAsync.Enqueue(client, data); // warm-up: queue, container, JIT
        await WaitForRunsAsync(1);

        Interlocked.Exchange(ref BenchTasks.LargeRuns, 0);
        Interlocked.Exchange(ref BenchTasks.LargeBytes, 0);
        await Task.Delay(500); // the warm-up's blob delete
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Parallelism).Select(_ => Task.Run(async () =>
        {
            for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next)) await BenchTasks.LargeAsync.Enqueue(client, data);
        })));
        await WaitForRunsAsync(count);
        var elapsed = clock.Elapsed;
        if (Interlocked.Read(ref BenchTasks.LargeBytes) != (long)count * data.Length) throw new InvalidOperationException("a task ran with other bytes");
        Interlocked.Exchange(ref BenchTasks.LargeRuns, 0);
        return count * (double)data.Length / MiB / elapsed.TotalSeconds;
    }

    private static async Task WaitForRunsAsync(long runs)
    {
        var deadline = Stopwatch.StartNew();
        while (Interlocked.Read(ref BenchTasks.LargeRuns) < runs)
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException($"{Interlocked.Read(ref BenchTasks.LargeRuns)} of {runs} payload tasks ran in 5 minutes.");
            await Task.Delay(2);
        }
    }

    /// <summary>A worker in a process of its own, so its memory is only the worker's: its resident set before a task of <paramref name="size"/> bytes, and its peak.</summary>
    private static async Task<(long Before, long Peak)> WorkerPeakAsync(int size)
    {
        await using var azurite = await AzuriteProcess.StartAsync(blobs: true);
        var client = new TaskClient(new AzureQueueTransport(new AzureQueueOptions { ConnectionString = azurite.ConnectionString, QueuePrefix = "bench-" }));
        var self = Environment.ProcessPath!;
        string[] arguments = Path.GetFileNameWithoutExtension(self) == "dotnet" ? [typeof(PayloadsSuite).Assembly.Location, "payload-worker", azurite.ConnectionString] : ["payload-worker", azurite.ConnectionString];
        using var worker = ChildProcess.Start(self, arguments, Environment.CurrentDirectory);
        await BenchTasks.LargeAsync.Enqueue(client, RandomNumberGenerator.GetBytes(256 * 1024)); // warm-up, through the payload store too
        await worker.WaitForOutputAsync(o => o.Contains("before "), TimeSpan.FromMinutes(2), "the worker ran its warm-up task");
        await BenchTasks.LargeAsync.Enqueue(client, RandomNumberGenerator.GetBytes(size));
        await worker.WaitForExitAsync(TimeSpan.FromMinutes(2));
        var lines = worker.Output.Split('\n').Select(l => l.Trim().Split(' ')).ToArray();
        return (long.Parse(lines.Single(l => l[0] == "before")[1]), long.Parse(lines.Single(l => l[0] == "peak")[1]));
    }

    /// <summary>The worker process: runs the warm-up task, says its resident set, runs the large task, says its peak, exits.</summary>
    public static async Task<int> WorkerProcessAsync(string connection)
    {
        var options = new TaskWorkerOptions { MaxConcurrency = 1, MinPollingInterval = TimeSpan.FromMilliseconds(5), MaxPollingInterval = TimeSpan.FromMilliseconds(20) };
        options.Queues.Add(BenchTasks.LargeAsync.Definition.Queue);
        await using var worker = new TaskWorker(new AzureQueueTransport(new AzureQueueOptions { ConnectionString = connection, QueuePrefix = "bench-" }), options);
        await worker.StartAsync();
        await WaitForRunsAsync(1);
        await Task.Delay(200);
        GC.Collect();
        Console.WriteLine($"before {Status("VmRSS")}");
        await WaitForRunsAsync(2);
        await Task.Delay(200); // its settling: the delete of its message and its blob
        Console.WriteLine($"peak {Status("VmHWM")}");
        return 0;
    }

    /// <summary>A size from /proc/self/status, in bytes.</summary>
    private static long Status(string key)
        => long.Parse(File.ReadLines("/proc/self/status").Single(l => l.StartsWith(key + ":", StringComparison.Ordinal)).Split(':')[1].Trim().Split(' ')[0]) * 1024;

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
}
