using System.Diagnostics;
using AotWorker;
using Tasks;
using Tasks.Azure;
using Tasks.Transports;

// A worker as a native binary: in memory by default, Azure Storage Queues (or Azurite) with
// TASKS_AZURE_CONNECTION_STRING. It enqueues N invoices (first argument, default 100) with record,
// list, dictionary, array and enum arguments and one that is refused (dead-lettered), runs them,
// and prints what it measured. Exit code 0 if every task ended as expected.
var count = args.Length > 0 && int.TryParse(args[0], out var n) ? n : 100;
var connectionString = Environment.GetEnvironmentVariable("TASKS_AZURE_CONNECTION_STRING");
ITaskTransport transport = string.IsNullOrWhiteSpace(connectionString)
    ? new InMemoryTransport()
    : new AzureQueueTransport(new AzureQueueOptions { ConnectionString = connectionString, QueuePrefix = "aot-" + Guid.NewGuid().ToString("N")[..8] + "-" });
var client = new TaskClient(transport);
await using var worker = new TaskWorker(transport, new TaskWorkerOptions { MinPollingInterval = TimeSpan.FromMilliseconds(10), MaxPollingInterval = TimeSpan.FromMilliseconds(50) });

var failures = 0;
var deadLettered = 0;
var finished = new TaskCompletionSource();
var ended = 0;
worker.TaskRan += result =>
{
    if (result.Outcome == TaskOutcome.DeadLettered && result.TaskName == InvoiceTasks.RefuseAsync.Definition.Name)
    {
        Interlocked.Increment(ref deadLettered);
    }
    else if (result.Outcome != TaskOutcome.Completed)
    {
        Interlocked.Increment(ref failures);
        Console.Error.WriteLine($"{result.TaskName}: {result.Outcome} {result.Reason} {result.Exception}");
    }

    if (Interlocked.Increment(ref ended) == count + 1) finished.TrySetResult();
};
await worker.StartAsync();

for (var i = 0; i < count; i++)
{
    var invoice = new Invoice(Guid.NewGuid(), $"customer {i}", [new("book", 2, 12.5m), new("pen", i, 1.2m)], i % 2 == 0 ? Priority.High : Priority.Low);
    await InvoiceTasks.SendAsync.Enqueue(client, invoice, new Dictionary<string, string> { ["lang"] = "en" }, [1, i]);
}

await InvoiceTasks.RefuseAsync.Enqueue(client, new Invoice(Guid.NewGuid(), "nobody", [], Priority.Low));

var inTime = await Task.WhenAny(finished.Task, Task.Delay(TimeSpan.FromSeconds(60))) == finished.Task;
await worker.StopAsync();

// What every worker reads at start, natively: the paused queues and the limits in use (on Azure, in Table storage).
var paused = await ((ITaskQueuePauses)transport).ListPausedAsync(CancellationToken.None);
var limits = await ((ITaskLimitStore)transport).ListAsync(DateTimeOffset.UtcNow, CancellationToken.None);
Console.WriteLine($"Paused queues: {paused.Count}; limits in use: {limits.Count}");

Console.WriteLine(InvoiceTasks.Done.TryPeek(out var first) ? $"First: {first}" : "No task ran.");
Console.WriteLine($"Transport: {(transport is InMemoryTransport ? "in memory" : "Azure Storage Queues")}; " +
                  $"runtime: {(File.Exists(Path.Combine(AppContext.BaseDirectory, "AotWorker.dll")) ? "JIT" : "native AOT")}");
var sinceStart = DateTime.Now - Process.GetCurrentProcess().StartTime;
var peakKb = File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1] : null;
Console.WriteLine($"Ran {InvoiceTasks.Done.Count} of {count} task(s), {failures} failure(s), {deadLettered} dead-lettered as expected, through the run filter {CopiesFilter.Runs} time(s); {sinceStart.TotalMilliseconds:0} ms since the process started; peak RSS {peakKb ?? "?"} kB");
return inTime && failures == 0 && deadLettered == 1 && InvoiceTasks.Done.Count == count && CopiesFilter.Runs == count ? 0 : 1;
