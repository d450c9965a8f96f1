using System.Diagnostics;
using Hangfire;
using Hangfire.InMemory;

namespace Tasks.Benchmarks;

/// <summary>Enqueue → complete of no-op tasks in one process: Tasks' in-memory transport and worker against Hangfire.InMemory.</summary>
internal static class InMemorySuite
{
    public static async Task RunAsync(int count)
    {
        var report = new Report("inmemory");
        var workers = Environment.ProcessorCount * 2;

        // A warm-up round each (a tenth of the count), so both are measured with JIT-compiled, tiered-up code.
        await TasksAsync(count / 10, workers);
        Hangfire(count / 10, workers);

        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var ours = await TasksAsync(count, workers);
        var oursBytes = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / (double)count;
        report.Figure($"Tasks: {count:N0} tasks, {workers} concurrent", ours.TotalSeconds, "s");
        report.Figure("Tasks allocated per task (enqueue to complete, whole process)", oursBytes, "B");
        report.Figure("Tasks throughput", count / ours.TotalSeconds, "tasks/s");

        allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var hangfire = Hangfire(count, workers);
        report.Figure("Hangfire.InMemory allocated per job", (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / (double)count, "B");
        report.Figure($"Hangfire.InMemory: {count:N0} jobs, {workers} workers", hangfire.TotalSeconds, "s");
        report.Figure("Hangfire.InMemory throughput", count / hangfire.TotalSeconds, "jobs/s");

        var ratio = hangfire.TotalSeconds / ours.TotalSeconds;
        report.Ratio("Tasks / Hangfire.InMemory (throughput)", ratio, ">= 20", ratio >= 20);
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
