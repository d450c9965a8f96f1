using System.Diagnostics;
using Tasks.Azure;
using Tasks.Testing;

namespace Tasks.Benchmarks;

/// <summary>
/// What limits across workers cost on Azurite (queues and tables, each its own process), at MaxConcurrency 32: the same
/// tasks with a concurrency limit they never reach against none (alternating, each side on a fresh Azurite), sent at 200
/// a second: storage calls per admitted task and enqueue-to-start latency; then a mutex over 100 tasks, for the calls
/// per deferral.
/// </summary>
internal static class LimitsSuite
{
    private const int Concurrency = 32;
    private const double Rate = 200; // tasks a second: well below what a worker does on Azurite (500-650)
    private const int Repetitions = 3;

    public static async Task RunAsync(int count)
    {
        var report = new Report("limits");
        var (free, wide) = (new List<Side>(), new List<Side>());
        for (var i = 0; i < Repetitions; i++)
        {
            free.Add(await MeasuredAsync(count, BenchTasks.FreeAsync.Definition));
            wide.Add(await MeasuredAsync(count, BenchTasks.WideAsync.Definition));
            report.Figure($"run {i + 1}: enqueue to start p50, no limit / a limit never reached", free[^1].P50, $"ms / {wide[^1].P50:0.0} ms (p99 {free[^1].P99:0} / {wide[^1].P99:0} ms)");
        }

        var (unlimited, limited) = (Median(free), Median(wide));
        foreach (var (name, side) in new[] { ("no limit", unlimited), ("a limit never reached", limited) })
        {
            report.Figure($"{name}: enqueue to start p50 / p99", side.P50, $"ms / {side.P99:0.0} ms");
            report.Figure($"{name}: storage calls per task", side.QueueCalls + side.TableCalls, $"queues {side.QueueCalls:0.###}, tables {side.TableCalls:0.###}");
        }

        report.Figure("table calls per admitted task (a limit never reached)", limited.TableCalls - unlimited.TableCalls, "calls: its place taken, then freed");
        var p50 = limited.P50 / unlimited.P50;
        var p99 = limited.P99 / unlimited.P99;
        report.Ratio($"enqueue-to-start p50, a limit never reached / none (median of {Repetitions} alternating runs)", p50, "<= 1.2", p50 <= 1.2);
        report.Ratio("enqueue-to-start p99, a limit never reached / none", p99, "<= 1.2", p99 <= 1.2);

        var mutex = await MeasuredAsync(100, BenchTasks.OneAtATimeAsync.Definition);
        report.Figure("a mutex over 100 tasks of 20 ms: deferrals", mutex.Deferrals, $"(and 100 runs, in {100 / mutex.Throughput:0.0} s)");
        var baseline = unlimited.QueueCalls * 100;
        report.Figure("per deferral: queue calls", (mutex.QueueCalls * 100 - baseline) / mutex.Deferrals, "(its message rewritten in place, and received again)");
        report.Figure("per deferral: table calls", (mutex.TableCalls * 100 - 2 * 100) / mutex.Deferrals, "(after the 2 of each admitted run: refused takes, reads, waiter rows)");
        report.Save();
    }

    private sealed record Side(double Throughput, double P50, double P99, double QueueCalls, double TableCalls, int Deferrals);

    private static Side Median(List<Side> sides) => sides.OrderBy(s => s.P50).ElementAt(sides.Count / 2);

    private static async Task<Side> MeasuredAsync(int count, TaskDefinition<BenchTasks.FreeAsync.Arguments> task)
        => await MeasuredAsync(count, (client, sentAt, ct) => client.EnqueueAsync(task, new BenchTasks.FreeAsync.Arguments(sentAt), null, ct));

    private static async Task<Side> MeasuredAsync(int count, TaskDefinition<BenchTasks.WideAsync.Arguments> task)
        => await MeasuredAsync(count, (client, sentAt, ct) => client.EnqueueAsync(task, new BenchTasks.WideAsync.Arguments(sentAt), null, ct));

    private static async Task<Side> MeasuredAsync(int count, TaskDefinition<BenchTasks.OneAtATimeAsync.Arguments> task)
        => await MeasuredAsync(count, (client, sentAt, ct) => client.EnqueueAsync(task, new BenchTasks.OneAtATimeAsync.Arguments(sentAt), null, ct));

    private static async Task<Side> MeasuredAsync(int count, Func<TaskClient, long, CancellationToken, ValueTask<string>> enqueue)
    {
        await using var azurite = await AzuriteProcess.StartAsync(tables: true);
        var account = new AzureQueueOptions { ConnectionString = azurite.ConnectionString, QueuePrefix = "bench-" };
        var transport = new AzureQueueTransport(account);
        var client = new TaskClient(transport); // records off: only the limits' own calls are in the tables' count
        var options = new TaskWorkerOptions { MaxConcurrency = Concurrency, MinPollingInterval = TimeSpan.FromMilliseconds(10), MaxPollingInterval = TimeSpan.FromMilliseconds(100) };
        options.Queues.Add("bench-limits");
        await using var worker = new TaskWorker(transport, options);
        var deferrals = 0;
        worker.TaskRan += r =>
        {
            if (r.Outcome == TaskOutcome.Deferred) Interlocked.Increment(ref deferrals);
        };
        await enqueue(client, Stopwatch.GetTimestamp(), CancellationToken.None); // creates the queue and the limits' table; not measured
        await worker.RunOnceAsync();
        Latency.TakeMilliseconds();
        deferrals = 0;
        await Task.Delay(500);
        var (queueBefore, tableBefore) = (azurite.RequestCounts().Values.Sum(), azurite.TableRequestCount());
        await worker.StartAsync();

        // Sent at a steady rate the worker keeps up with, so the latency is the path's, not a backlog's.
        var clock = Stopwatch.StartNew();
        var sends = new List<Task>(count);
        for (var i = 0; i < count; i++)
        {
            var due = TimeSpan.FromSeconds(i / Rate);
            if (due > clock.Elapsed) await Task.Delay(due - clock.Elapsed);
            sends.Add(enqueue(client, Stopwatch.GetTimestamp(), CancellationToken.None).AsTask());
        }

        await Task.WhenAll(sends);
        while (Latency.Count < count) await Task.Delay(5);
        var elapsed = clock.Elapsed;
        await worker.StopAsync();
        var (p50, p99) = Latency.TakeMilliseconds();
        await Task.Delay(1000); // the access logs of the last requests
        var queueCalls = azurite.RequestCounts().Values.Sum() - queueBefore;
        var tableCalls = azurite.TableRequestCount() - tableBefore;
        return new Side(count / elapsed.TotalSeconds, p50, p99, (double)queueCalls / count, (double)tableCalls / count, deferrals);
    }
}
