using System.Diagnostics;
using Tasks.Azure;
using Tasks.Testing;

namespace Tasks.Benchmarks;

/// <summary>
/// What batch callbacks cost on Azurite (queues and tables, each its own process), at MaxConcurrency 32,
/// with records on for both sides: the storage calls per task of a batch of many tasks in packs, tracked
/// with a callback against the same batch untracked (each side on a fresh Azurite); and the delay from
/// the end of a batch's last task to its callback's start, against the delay from a plain Enqueue to
/// its task's start on the same worker.
/// </summary>
internal static class FlowsSuite
{
    private const int Concurrency = 32;
    private const int DelaySamples = 30;
    private const int DelayBatch = 1_000;

    public static async Task RunAsync(int count)
    {
        var report = new Report("flows");
        var untracked = await BatchCallsAsync(count, tracked: false);
        var tracked = await BatchCallsAsync(count, tracked: true);
        report.Figure($"untracked batch of {count:N0} in packs: storage calls per task", untracked.Queue + untracked.Table, $"queues {untracked.Queue:0.####}, tables {untracked.Table:0.####}");
        report.Figure($"tracked batch of {count:N0} with a callback: storage calls per task", tracked.Queue + tracked.Table, $"queues {tracked.Queue:0.####}, tables {tracked.Table:0.####}");
        var extra = tracked.Queue + tracked.Table - (untracked.Queue + untracked.Table);
        report.Ratio("extra storage calls per task for tracking a batch in packs and its callback", extra, "<= 0.05", extra <= 0.05);

        var (callback, continuation, plain) = await DelaysAsync();
        report.Figure($"batch of {DelayBatch:N0} in packs: last task's end to callback's start, p50 / p99 ({DelaySamples} batches)", callback.P50, $"ms / {callback.P99:0} ms");
        report.Figure($"continuation: its parent's end to its start, p50 / p99 ({DelaySamples} parents)", continuation.P50, $"ms / {continuation.P99:0} ms");
        report.Figure($"plain Enqueue to the task's start, p50 / p99 ({DelaySamples} tasks)", plain.P50, $"ms / {plain.P99:0} ms");
        report.Ratio("callback delay / plain Enqueue-to-start, p50", callback.P50 / plain.P50, "(reported)", true);
        report.Ratio("callback delay / plain Enqueue-to-start, p99", callback.P99 / plain.P99, "(reported)", true);
        report.Ratio("batch's last end to callback's start, p50 (ms)", callback.P50, "<= 250", callback.P50 <= 250);
        report.Ratio("continuation's parent end to its start, p50 (ms)", continuation.P50, "<= 250", continuation.P50 <= 250);
        report.Save();
    }

    /// <summary>A client and a worker with records on; the queues and the day's tables created by a warm-up outside what is measured.</summary>
    private static async Task<(TaskClient Client, TaskWorker Worker)> PartsAsync(AzuriteProcess azurite)
    {
        var account = new AzureQueueOptions { ConnectionString = azurite.ConnectionString, QueuePrefix = "bench-" };
        var transport = new AzureQueueTransport(account);
        var store = new AzureTableTaskRecordStore(account);
        var options = new TaskWorkerOptions { MaxConcurrency = Concurrency, MinPollingInterval = TimeSpan.FromMilliseconds(10), MaxPollingInterval = TimeSpan.FromMilliseconds(100) };
        options.Queues.Add(BenchTasks.MemberAsync.Definition.Queue);
        options.Queues.Add(BenchTasks.TimedAsync.Definition.Queue);
        var client = new TaskClient(transport, records: store);

        BatchClock.Reset(); // a callback of an earlier run must not stand for this warm-up's
        var warm = new TaskBatch { OnCompleted = BenchTasks.AllDoneAsync.Prepare() };
        BenchTasks.MemberAsync.AddTo(warm);
        await client.EnqueueBatchAsync(warm);
        await BenchTasks.TimedAsync.Enqueue(client, Stopwatch.GetTimestamp());
        await using (var warmUp = new TaskWorker(transport, options, records: store))
        {
            await warmUp.StartAsync();
            await BatchClock.Callback.WaitAsync(TimeSpan.FromMinutes(1));
            while (Latency.Count < 1) await Task.Delay(5);
        }

        if (client.RecordWriter is { } writer) await writer.FlushAsync(CancellationToken.None);
        BatchClock.Reset();
        Latency.TakeMilliseconds();
        await Task.Delay(500);
        return (client, new TaskWorker(transport, options, records: store));
    }

    /// <summary>Queue and table calls per task, from the first enqueue to the callback's run (or the last task's, untracked).</summary>
    private static async Task<(double Queue, double Table)> BatchCallsAsync(int count, bool tracked)
    {
        await using var azurite = await AzuriteProcess.StartAsync(tables: true);
        var (client, worker) = await PartsAsync(azurite);
        var (queueBefore, tableBefore) = (azurite.RequestCounts().Values.Sum(), azurite.TableRequestCount());
        await worker.StartAsync();

        var batch = new TaskBatch { OnCompleted = tracked ? BenchTasks.AllDoneAsync.Prepare() : null };
        for (var i = 0; i < count; i++) BenchTasks.MemberAsync.AddTo(batch);
        await client.EnqueueBatchAsync(batch);
        if (tracked) await BatchClock.Callback.WaitAsync(TimeSpan.FromMinutes(5));
        else while (BatchClock.EndedCount < count) await Task.Delay(5);

        await worker.DisposeAsync(); // the worker's last record writes go out
        if (client.RecordWriter is { } writer) await writer.DisposeAsync();
        await Task.Delay(1000); // the access logs of the last requests
        return ((double)(azurite.RequestCounts().Values.Sum() - queueBefore) / count, (double)(azurite.TableRequestCount() - tableBefore) / count);
    }

    /// <summary>One batch at a time, each waited for; then a parent and its continuation; then a plain task.</summary>
    private static async Task<((double P50, double P99) Callback, (double P50, double P99) Continuation, (double P50, double P99) Plain)> DelaysAsync()
    {
        await using var azurite = await AzuriteProcess.StartAsync(tables: true);
        var (client, worker) = await PartsAsync(azurite);
        await worker.StartAsync();
        var callbacksBefore = BatchClock.Callbacks;
        var delays = new List<double>();
        var continuations = new List<double>();
        for (var sample = 0; sample < DelaySamples; sample++)
        {
            var batch = new TaskBatch { OnCompleted = BenchTasks.AllDoneAsync.Prepare() };
            for (var i = 0; i < DelayBatch; i++) BenchTasks.MemberAsync.AddTo(batch);
            await client.EnqueueBatchAsync(batch);
            var started = await BatchClock.Callback.WaitAsync(TimeSpan.FromMinutes(2));
            delays.Add(Stopwatch.GetElapsedTime(BatchClock.LastEnd, started).TotalMilliseconds);
            BatchClock.Reset();

            // The parent waits a moment in its queue, so its continuation is registered before it runs (the path measured).
            var parent = await BenchTasks.ParentAsync.Enqueue(client, new TaskEnqueueOptions { AllowContinuations = true, Delay = TimeSpan.FromSeconds(1) });
            await BenchTasks.ChildAsync.Enqueue(client, new TaskEnqueueOptions { After = parent });
            var childStarted = await StepClock.Child.WaitAsync(TimeSpan.FromMinutes(2));
            continuations.Add(Stopwatch.GetElapsedTime(StepClock.ParentEnd, childStarted).TotalMilliseconds);
            StepClock.Reset();

            await BenchTasks.TimedAsync.Enqueue(client, Stopwatch.GetTimestamp());
            while (Latency.Count < sample + 1) await Task.Delay(5);
        }

        await worker.DisposeAsync();
        if (BatchClock.Callbacks - callbacksBefore != DelaySamples) throw new InvalidOperationException($"{BatchClock.Callbacks - callbacksBefore} callbacks ran for {DelaySamples} batches.");
        delays.Sort();
        continuations.Sort();
        return ((At(delays, 0.5), At(delays, 0.99)), (At(continuations, 0.5), At(continuations, 0.99)), Latency.TakeMilliseconds());
    }

    private static double At(List<double> sorted, double q) => sorted[(int)Math.Min(sorted.Count - 1, Math.Round(q * (sorted.Count - 1)))];
}
