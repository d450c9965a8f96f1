using System.Diagnostics;
using Hangfire;
using Hangfire.InMemory;

namespace Tasks.Benchmarks;

/// <summary>Enqueue → complete of no-op tasks in one process: Tasks' in-memory transport and worker against Hangfire.InMemory.</summary>
internal static class InMemorySuite
{
    private const int Repetitions = 5;

    public static async Task RunAsync(int count)
    {
        var report = new Report("inmemory");
        var workers = Environment.ProcessorCount * 2;

        // A warm-up round each at the full count, so both are measured with tiered-up code and a settled heap: after a
        // short warm-up (a tenth of the count) Tasks' first two repetitions ran at a third of the speed of the others.
        await TasksAsync(count, workers);
        Hangfire(count, workers);

        // Alternating repetitions, the median reported: Hangfire.InMemory's own rate moves 2× between runs.
        var ours = new List<double>();
        var theirs = new List<double>();
        var ratios = new List<double>();
        for (var rep = 0; rep < Repetitions; rep++)
        {
            var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            var tasks = await TasksAsync(count, workers);
            var oursBytes = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / (double)count;
            allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            var hangfire = Hangfire(count, workers);
            var theirBytes = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / (double)count;
            ours.Add(count / tasks.TotalSeconds);
            theirs.Add(count / hangfire.TotalSeconds);
            ratios.Add(hangfire.TotalSeconds / tasks.TotalSeconds);
            report.Figure($"run {rep + 1}: Tasks {count:N0} tasks, {workers} concurrent / Hangfire.InMemory {workers} workers", ours[^1], $"tasks/s against {theirs[^1]:N0} jobs/s ({ratios[^1]:0.0}×); allocated {oursBytes:N0} B per task against {theirBytes:N0} B per job");
        }

        report.Figure($"Tasks throughput, median of {Repetitions}", Report.Median(ours), "tasks/s");
        report.Figure($"Hangfire.InMemory throughput, median of {Repetitions}", Report.Median(theirs), "jobs/s");
        var ratio = Report.Median(ratios);
        report.Ratio($"Tasks / Hangfire.InMemory (throughput), median of {Repetitions} alternating runs", ratio, ">= 20", ratio >= 20);
        report.Save();
    }

    private static async Task<TimeSpan> TasksAsync(int count, int concurrency)
    {
        var transport = new InMemoryTransport(maxMessageBytes: int.MaxValue);
        var client = new TaskClient(transport);
        var options = new TaskWorkerOptions { MaxConcurrency = concurrency, MinPollingInterval = TimeSpan.FromMilliseconds(1), MaxPollingInterval = TimeSpan.FromMilliseconds(10) };
        options.Queues.Add(BenchTasks.CountAsync.Definition.Queue);
        await using var worker = new TaskWorker(transport, options);
        Interlocked.Exchange(ref BenchTasks.Completed, 0);
        await worker.StartAsync();

        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++) await BenchTasks.CountAsync.Enqueue(client);
        while (Interlocked.Read(ref BenchTasks.Completed) < count) await Task.Delay(1);
        var elapsed = clock.Elapsed;
        await worker.StopAsync();
        return elapsed;
    }

    private static TimeSpan Hangfire(int count, int workers)
    {
        using var storage = new InMemoryStorage();
        var client = new BackgroundJobClient(storage);
        Interlocked.Exchange(ref BenchTasks.Completed, 0);
        using var server = new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = workers }, storage);

        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++) client.Enqueue(() => BenchTasks.CountHangfire());
        while (Interlocked.Read(ref BenchTasks.Completed) < count) Thread.Sleep(1);
        return clock.Elapsed;
    }
}
