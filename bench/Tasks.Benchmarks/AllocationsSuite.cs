using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Tracing;

namespace Tasks.Benchmarks;

/// <summary>
/// Where the in-memory path's bytes per task go: the runtime's allocation samples (one per ~100 KB) by type over
/// 100,000 tasks, after 20,000 to warm up. A diagnosis for the <c>inmemory</c> suite's figure, printed, not kept.
/// </summary>
internal static class AllocationsSuite
{
    public static async Task RunAsync()
    {
        var transport = new InMemoryTransport(maxMessageBytes: int.MaxValue);
        var client = new TaskClient(transport);
        var options = new TaskWorkerOptions { MaxConcurrency = 4, MinPollingInterval = TimeSpan.FromMilliseconds(1), MaxPollingInterval = TimeSpan.FromMilliseconds(10) };
        options.Queues.Add(BenchTasks.CountAsync.Definition.Queue);
        await using var worker = new TaskWorker(transport, options);
        Interlocked.Exchange(ref BenchTasks.Completed, 0);
        await worker.StartAsync();
        for (var i = 0; i < 20000; i++) await BenchTasks.CountAsync.Enqueue(client);
        while (Interlocked.Read(ref BenchTasks.Completed) < 20000) await Task.Delay(1);
        Interlocked.Exchange(ref BenchTasks.Completed, 0);

        using var listener = new AllocListener();
        var before = GC.GetTotalAllocatedBytes(true);
        const int count = 100_000;
        for (var i = 0; i < count; i++) await BenchTasks.CountAsync.Enqueue(client);
        while (Interlocked.Read(ref BenchTasks.Completed) < count) await Task.Delay(1);
        var bytes = (GC.GetTotalAllocatedBytes(true) - before) / (double)count;
        Console.WriteLine($"allocations: {bytes:0} B per task, by type (sampled):");
        var total = listener.ByType.Values.Sum();
        foreach (var (type, amount) in listener.ByType.OrderByDescending(p => p.Value).Take(30))
            Console.WriteLine($"allocations: {amount * 100.0 / total,5:0.0}%  {bytes * amount / total,6:0} B/task  {type}");
    }

    private sealed class AllocListener : EventListener
    {
        public ConcurrentDictionary<string, long> ByType { get; } = new();

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.EventName != "GCAllocationTick_V4" && e.EventName != "GCAllocationTick_V3") return;
            var name = e.Payload![e.PayloadNames!.IndexOf("TypeName")] as string ?? "?";
            var amount = Convert.ToInt64(e.Payload[e.PayloadNames.IndexOf("AllocationAmount64")]);
            ByType.AddOrUpdate(name, amount, (_, a) => a + amount);
        }
    }
}
