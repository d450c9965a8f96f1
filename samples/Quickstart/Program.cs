using Quickstart;
using Tasks;
using Tasks.Azure;
using Tasks.Transports;

// In memory by default: no setup, and real queue semantics (leases, delays, dead-letter).
// With a connection string (--azure "<connection string>" or TASKS_AZURE_CONNECTION_STRING),
// the same tasks go through Azure Storage Queues, or a local Azurite ("UseDevelopmentStorage=true").
var connectionString = args.SkipWhile(a => a != "--azure").Skip(1).FirstOrDefault()
    ?? Environment.GetEnvironmentVariable("TASKS_AZURE_CONNECTION_STRING");
ITaskTransport transport = string.IsNullOrWhiteSpace(connectionString)
    ? new InMemoryTransport()
    : new AzureQueueTransport(new AzureQueueOptions { ConnectionString = connectionString, QueuePrefix = "quickstart-" });
Console.WriteLine($"Transport: {(transport is InMemoryTransport ? "in memory" : "Azure Storage Queues")}");
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
    if (result.Outcome is TaskOutcome.Completed or TaskOutcome.DeadLettered && Interlocked.Increment(ref finished) == 7)
        allDone.TrySetResult();
};

await worker.StartAsync();
Console.WriteLine($"Worker listening on: {string.Join(", ", worker.Queues)}");

await DemoTasks.GreetAsync.Enqueue("Ada", times: 3);
await DemoTasks.BuildReportAsync.Enqueue(new Report("Q3", [120, 80, 42]));
await DemoTasks.ChargeAsync.Enqueue(Guid.NewGuid(), 19.99m);

// Many tasks at once: one message carries them all, and each still runs, retries and dead-letters on its own.
var batch = new TaskBatch();
foreach (var name in new[] { "Grace", "Edsger", "Barbara", "Donald" }) DemoTasks.GreetAsync.AddTo(batch, name, times: 1);
await TaskClient.Ambient.EnqueueBatchAsync(batch);
Console.WriteLine($"Enqueued 3 tasks, and a batch of {batch.Count} in one message.");

var outcome = await Task.WhenAny(allDone.Task, Task.Delay(TimeSpan.FromSeconds(30)));
await worker.StopAsync();

Console.WriteLine();
switch (transport)
{
    case InMemoryTransport memory:
        Console.WriteLine($"Dead letters: {memory.DeadLetters.Count}");
        foreach (var dead in memory.DeadLetters)
            Console.WriteLine($"  {dead.MessageId} on '{dead.Queue}': {dead.Reason.Reason}");
        break;
    case AzureQueueTransport azure:
        Console.WriteLine($"Dead letters are in the queue '{azure.PoisonQueueName(DemoTasks.ChargeAsync.Definition.Queue)}', as JSON with the reason.");
        break;
}

if (outcome != allDone.Task)
{
    Console.Error.WriteLine("Timed out waiting for the tasks to finish.");
    return 1;
}

Console.WriteLine("Done.");
return 0;
