using System.Diagnostics;
using System.Globalization;
using Azure.Storage.Queues;
using Microsoft.Azure.WebJobs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Tasks.Benchmarks;

/// <summary>
/// The peer an Azure team would pick instead of Tasks: an Azure WebJobs host with a QueueTrigger
/// (Microsoft.Azure.WebJobs 3.0 + Extensions.Storage 4.0, on the Storage SDK 11), same messages.
/// </summary>
internal static class WebJobsPeer
{
    public const string Queue = "bench-webjobs";

    /// <summary>Sends <paramref name="count"/> timestamps and waits until the trigger has run each: (elapsed, p50, p99, consumer CPU seconds).</summary>
    public static async Task<(TimeSpan Elapsed, double P50, double P99)> RunAsync(string connectionString, int count, int batchSize, int senders)
    {
        var queue = new QueueClient(connectionString, Queue, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 });
        await queue.CreateIfNotExistsAsync();
        using var host = new HostBuilder()
            .ConfigureAppConfiguration(c => c.AddInMemoryCollection(new Dictionary<string, string?> { ["AzureWebJobsStorage"] = connectionString }))
            .ConfigureLogging(l => l.SetMinimumLevel(LogLevel.Warning))
            .ConfigureWebJobs(b => b.AddAzureStorage(o =>
            {
                o.BatchSize = batchSize;
                o.NewBatchThreshold = batchSize / 2;
                o.MaxPollingInterval = TimeSpan.FromMilliseconds(100);
            }))
            .Build();
        await host.StartAsync();
        await queue.SendMessageAsync(Stopwatch.GetTimestamp().ToString(CultureInfo.InvariantCulture)); // warms the trigger; not measured
        while (Latency.Count < 1) await Task.Delay(5);
        Latency.TakeMilliseconds();

        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = senders }, async (_, ct) =>
            await queue.SendMessageAsync(Stopwatch.GetTimestamp().ToString(CultureInfo.InvariantCulture), ct));
        while (Latency.Count < count) await Task.Delay(5);
        var elapsed = clock.Elapsed;
        await host.StopAsync();
        var (p50, p99) = Latency.TakeMilliseconds();
        return (elapsed, p50, p99);
    }
}

/// <summary>The function WebJobs finds in this assembly: records the latency, like Tasks' TimedAsync.</summary>
public static class WebJobsFunctions
{
    public static void Run([QueueTrigger(WebJobsPeer.Queue)] string message)
        => Latency.Record(long.Parse(message, CultureInfo.InvariantCulture));
}
