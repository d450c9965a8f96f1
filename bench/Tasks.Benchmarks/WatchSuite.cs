using System.Collections.Concurrent;
using System.Diagnostics;
using Tasks.Azure;
using Tasks.Testing;

namespace Tasks.Benchmarks;

/// <summary>
/// Watching tasks (TaskWatcher): the delay from an event to a watcher seeing it, in the process that enqueues and runs
/// (in memory: the record writes themselves), and in another process (Azurite: a store of its own, the record tables
/// alone, read every WatchInterval); then what a watcher costs in table calls per hour, for a query and for one task.
/// </summary>
internal static class WatchSuite
{
    public static async Task RunAsync()
    {
        var report = new Report("watch");
        {
            var store = new InMemoryTaskRecordStore();
            var transport = new InMemoryTransport();
            var (p50, p99, events) = await DelaysAsync(store.Watcher, new TaskClient(transport, records: store), transport, store, 1_000, perSecond: 200);
            report.Figure("in process (in memory): event delay p50 / p99", p50, $"ms / {p99:0.0} ms ({events:N0} events of 1,000 tasks)");
        }

        await using var azurite = await AzuriteProcess.StartAsync(tables: true);
        var account = new AzureQueueOptions { ConnectionString = azurite.ConnectionString, QueuePrefix = "bench-" };
        {
            var store = new AzureTableTaskRecordStore(account);
            var transport = new AzureQueueTransport(account);
            var elsewhere = new AzureTableTaskRecordStore(account); // another process's view: the tables alone
            var (p50, p99, events) = await DelaysAsync(elsewhere.Watcher, new TaskClient(transport, records: store), transport, store, 300, perSecond: 50);
            report.Figure("across processes (Azurite, WatchInterval 1 s, worker FlushInterval 1 s): event delay p50 / p99", p50, $"ms / {p99:0} ms ({events:N0} events of 300 tasks)");
            report.Ratio("across processes: event delay p99 / (FlushInterval + WatchInterval)", p99 / 2_000, "<= 1", p99 <= 2_000);
        }

        foreach (var (what, filter) in new[] { ("a query (a queue)", new TaskWatchFilter { Queue = "bench-azure" }), ("one task", new TaskWatchFilter { TaskId = TaskHeaders.NewMessageId() }) })
        {
            var watcher = new AzureTableTaskRecordStore(account).Watcher;
            using var stop = new CancellationTokenSource();
            var watch = Task.Run(async () =>
            {
                await foreach (var _ in watcher.WatchAsync(filter, stop.Token))
                {
                }
            });
            await Task.Delay(TimeSpan.FromSeconds(2));
            var start = azurite.TableRequestCount();
            await Task.Delay(TimeSpan.FromSeconds(20));
            var calls = azurite.TableRequestCount() - start;
            await stop.CancelAsync();
            await watch.ContinueWith(_ => { });
            report.Figure($"table calls per watcher-hour, {what}", calls * 180.0, $"(measured over 20 s: {calls}; shared by every watch of it in a process)");
        }

        report.Save();
    }

    private static async Task<(double P50, double P99, int Events)> DelaysAsync(TaskWatcher watcher, TaskClient client, ITaskTransport transport, TaskRecordStore records, int count, int perSecond)
    {
        var delays = new ConcurrentBag<double>();
        var ended = 0;
        using var stop = new CancellationTokenSource();
        var watch = Task.Run(async () =>
        {
            await foreach (var e in watcher.WatchAsync(new TaskWatchFilter { Queue = "bench-azure" }, stop.Token))
            {
                delays.Add((DateTimeOffset.UtcNow - e.At).TotalMilliseconds);
                if (e.IsFinal) Interlocked.Increment(ref ended);
            }
        });
        var options = new TaskWorkerOptions { MaxConcurrency = 16, MinPollingInterval = TimeSpan.FromMilliseconds(10), MaxPollingInterval = TimeSpan.FromMilliseconds(100) };
        options.Queues.Add("bench-azure");
        await using var worker = new TaskWorker(transport, options, records: records);
        await BenchTasks.TimedAsync.Enqueue(client, Stopwatch.GetTimestamp()); // creates the queue and tables; its events are counted too
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // the watch's first look
        await worker.StartAsync();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            var due = TimeSpan.FromSeconds((double)i / perSecond);
            if (clock.Elapsed < due) await Task.Delay(due - clock.Elapsed);
            await BenchTasks.TimedAsync.Enqueue(client, Stopwatch.GetTimestamp());
        }

        while (Volatile.Read(ref ended) < count) await Task.Delay(50);
        await stop.CancelAsync();
        await watch.ContinueWith(_ => { });
        var sorted = delays.Order().ToArray();
        return (sorted[sorted.Length / 2], sorted[(int)(sorted.Length * 0.99)], sorted.Length);
    }
}
