using Quickstart;
using Tasks;
using Tasks.Azure;
using Tasks.Transports;

// In memory by default: no setup, and real queue semantics (leases, delays, dead-letter).
// With a connection string (--azure "<connection string>" or TASKS_AZURE_CONNECTION_STRING),
// the same tasks go through Azure Storage Queues, or a local Azurite ("UseDevelopmentStorage=true").
var connectionString = args.SkipWhile(a => a != "--azure").Skip(1).FirstOrDefault()
    ?? Environment.GetEnvironmentVariable("TASKS_AZURE_CONNECTION_STRING");
// Every task also leaves a record (state, arguments, attempts, exceptions): in memory, or in the
// account's Table storage beside the queues.
var account = new AzureQueueOptions { ConnectionString = connectionString, QueuePrefix = "quickstart-" };
ITaskTransport transport = string.IsNullOrWhiteSpace(connectionString) ? new InMemoryTransport() : new AzureQueueTransport(account);
TaskRecordStore records = string.IsNullOrWhiteSpace(connectionString) ? new InMemoryTaskRecordStore() : new AzureTableTaskRecordStore(account);
Console.WriteLine($"Transport: {(transport is InMemoryTransport ? "in memory" : "Azure Storage Queues")}; records: {records.Describe()}");
TaskClient.Ambient = new TaskClient(transport, records: records);

var options = new TaskWorkerOptions
{
    MinPollingInterval = TimeSpan.FromMilliseconds(20),
    MaxPollingInterval = TimeSpan.FromMilliseconds(200),
    Retry = { BaseDelay = TimeSpan.FromMilliseconds(250), Jitter = 0 },
};
await using var worker = new TaskWorker(transport, options, records: records);

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

var greeting = await DemoTasks.GreetAsync.Enqueue("Ada", times: 3);
var report = await DemoTasks.BuildReportAsync.Enqueue(new Report("Q3", [120, 80, 42]));
var charge = await DemoTasks.ChargeAsync.Enqueue(Guid.NewGuid(), 19.99m);

// A task enqueued by mistake, cancelled by its id before it runs: it never runs.
var mistake = await DemoTasks.GreetAsync.Enqueue("nobody", times: 1, new TaskEnqueueOptions { Delay = TimeSpan.FromSeconds(1) });
Console.WriteLine($"Cancel {mistake}: {(await TaskClient.Ambient.CancelAsync(mistake)).Describe(mistake)}");

// Many tasks at once: one message carries them all, and each still runs, retries and dead-letters on its own.
var batch = new TaskBatch();
foreach (var name in new[] { "Grace", "Edsger", "Barbara", "Donald" }) DemoTasks.GreetAsync.AddTo(batch, name, times: 1);
await TaskClient.Ambient.EnqueueBatchAsync(batch);
Console.WriteLine($"Enqueued 3 tasks, and a batch of {batch.Count} in one message.");

var outcome = await Task.WhenAny(allDone.Task, Task.Delay(TimeSpan.FromSeconds(30)));
await worker.StopAsync();

// What happened, as the records tell it (the CLI's `tasks show <id>` prints the same on Azure).
Console.WriteLine();
Console.WriteLine("Records:");
foreach (var id in new[] { greeting, report, charge, mistake })
{
    var record = await records.GetAsync(id);
    Console.WriteLine($"  {id} {record?.TaskName}: {record?.State} after {record?.Attempts} attempt(s), arguments {record?.ArgumentsJson}");
    foreach (var attempt in record?.History ?? [])
        Console.WriteLine($"    attempt {attempt.Attempt}: {attempt.Outcome} in {attempt.Duration?.TotalMilliseconds:0} ms{(attempt.Exception is { } x ? $" ({x.Type}: {x.Message})" : "")}");
}

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
