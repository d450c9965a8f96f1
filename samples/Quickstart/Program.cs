using Quickstart;
using Tasks;

// The in-memory transport needs no setup; it keeps real queue semantics (leases, delays, dead-letter).
var transport = new InMemoryTransport();
TaskClient.Ambient = new TaskClient(transport);

var options = new TaskWorkerOptions
{
    MinPollingInterval = TimeSpan.FromMilliseconds(20),
    MaxPollingInterval = TimeSpan.FromMilliseconds(200),
    Retry = { BaseDelay = TimeSpan.FromMilliseconds(250), Jitter = 0 },
};
await using var worker = new TaskWorker(transport, options);

var finished = 0;
var allDone = new TaskCompletionSource();
worker.TaskRan += result =>
{
    var detail = result.Outcome switch
    {
        TaskOutcome.Retried => $"failed ({result.Exception?.Message}); retry in {result.RetryDelay?.TotalMilliseconds} ms",
        TaskOutcome.DeadLettered => $"dead-lettered: {result.Reason}",
        _ => "",
    };
    Console.WriteLine($"[{result.Queue}] {result.TaskName} attempt {result.Attempt}: {result.Outcome} {detail}");
    if (result.Outcome is TaskOutcome.Completed or TaskOutcome.DeadLettered && Interlocked.Increment(ref finished) == 3)
        allDone.TrySetResult();
};

await worker.StartAsync();
Console.WriteLine($"Worker listening on: {string.Join(", ", worker.Queues)}");

await DemoTasks.GreetAsync.Enqueue("Ada", times: 3);
await DemoTasks.BuildReportAsync.Enqueue(new Report("Q3", [120, 80, 42]));
await DemoTasks.ChargeAsync.Enqueue(Guid.NewGuid(), 19.99m);
Console.WriteLine("Enqueued 3 tasks.");

var outcome = await Task.WhenAny(allDone.Task, Task.Delay(TimeSpan.FromSeconds(30)));
await worker.StopAsync();

Console.WriteLine();
Console.WriteLine($"Dead letters: {transport.DeadLetters.Count}");
foreach (var dead in transport.DeadLetters)
    Console.WriteLine($"  {dead.MessageId} on '{dead.Queue}': {dead.Reason.Reason}");
if (outcome != allDone.Task)
{
    Console.Error.WriteLine("Timed out waiting for the tasks to finish.");
    return 1;
}

Console.WriteLine("Done.");
return 0;
