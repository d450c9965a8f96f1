using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tasks;
using Tasks.Azure;
using Tasks.Fixtures;

// worker  <connection string> <queue prefix> <record file> <max concurrency> <lease seconds>
// produce <connection string> <queue prefix> <record file> <first> <count> <producers> <task ms> <ignore token: 0|1> [retries]
//         an enqueue that fails transiently is tried again up to <retries> times (as a caller retries a 503), recording "retried n"
// unique  <connection string> <queue prefix> <record file> <key> <at: Unix ms>   enqueues FaultTasks.Unique(key) at that moment, records "id <id>"
// recorded <connection string> <queue prefix> <record file> <count> <ms>        enqueues FaultTasks.Record(n, ms) with records on, records "enqueued n id"
// chains  <connection string> <queue prefix> <record file> <count>                enqueues chains Step(n, 1) → Step(n, 2), records "chain n id1 id2"
// payload <connection string> <queue prefix> <record file> <count> <bytes>        enqueues FaultTasks.Digest(n, random bytes), records "payload n id sha256"
// limits  <connection string> <queue prefix> <record file> <task> <count> <ms>    enqueues <count> of LimitedTasks.<task> (invoice: 4 customers in turn;
//         crm; mail; hold) taking <ms> each, records "enqueued task n id"; their runs record "limited task key n start-ms end-ms attempt pid"
// prio    <connection string> <queue prefix> <record file> <high> <low> <ms>      enqueues PriorityTasks on fault-high and fault-low (interleaved);
//         their runs record "prio queue n start-ms end-ms pid"
// pause|resume <connection string> <queue prefix> <record file> <queue>         pauses or resumes a queue for every worker, records "paused|resumed queue at-ms"
// TASKS_FAULT_PRIORITY=weighted:queue=weight,...|strict:queue,... sets the worker's QueuePriority (and its Queues, in that order);
// TASKS_FAULT_BATCH sets its BatchSize.
// A worker with TASKS_FAULT_KILL_AT=holding kills itself (SIGKILL) as soon as a Hold run has its place, recording "holding n start-ms pid".
// A worker with TASKS_FAULT_KILL_AT=reading kills itself the first time it is downloading a payload.
// A worker with TASKS_FAULT_KILL_AT=sealed|sent kills itself (SIGKILL) the first time a release of continuations
// reaches that point, and leaves "killed-{pid}" beside the record file with the point and the parent.
// TASKS_FAULT_SHARDS=queue=count[,queue=count] shards queues (AzureQueueOptions.Shards); TASKS_FAULT_SHARD_ACCOUNTS
// holds more accounts' connection strings, separated by '|' (AzureQueueOptions.ShardAccounts). Both apply to every mode.
// Each line of the record file is written and flushed at once, so a SIGKILL loses at most the line being written.
var (mode, connection, prefix, file) = (args[0], args[1], args[2], args[3]);
using var record = new Record(file);
if (mode == "produce")
{
    var (first, count, producers) = (Int(4), Int(5), Int(6));
    var (taskMs, ignoreToken, retries) = (Int(7), args[8] == "1", args.Length > 9 ? Int(9) : 0);
    using var logging = LoggerFactory.Create(b => b.AddSimpleConsole(c => c.TimestampFormat = "HH:mm:ss.fff ").SetMinimumLevel(LogLevel.Warning)); // the transport's warnings: a shard that did not answer
    var client = new TaskClient(new AzureQueueTransport(Sharded(new AzureQueueOptions { ConnectionString = connection, QueuePrefix = prefix }), logging.CreateLogger<AzureQueueTransport>()));
    var next = first - 1;
    await Task.WhenAll(Enumerable.Range(0, producers).Select(_ => Task.Run(async () =>
    {
        for (var n = Interlocked.Increment(ref next); n < first + count; n = Interlocked.Increment(ref next))
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    var id = await FaultTasks.RecordAsync.Enqueue(client, n, taskMs, ignoreToken);
                    record.Line($"ok {n} {id}");
                    break;
                }
                catch (TaskEnqueueException ex) when (ex.IsTransient && attempt < retries)
                {
                    record.Line($"retried {n}"); // the failed try may have been sent all the same: a second copy is explained by it
                    Console.Error.WriteLine($"enqueue {n} failed, trying again: {ex.Message}");
                    await Task.Delay(TimeSpan.FromSeconds(2));
                }
                catch (TaskEnqueueException ex)
                {
                    record.Line($"failed {n} {ex.IsTransient} {ex.InnerException?.GetType().Name}");
                    Console.Error.WriteLine($"enqueue {n} failed: {ex}"); // for the test's message
                    break;
                }
            }
        }
    })));
    return 0;
}

if (mode == "unique")
{
    var options = new AzureQueueOptions { ConnectionString = connection, QueuePrefix = prefix };
    var client = new TaskClient(new AzureQueueTransport(options), records: new AzureTableTaskRecordStore(options));
    var at = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(args[5], CultureInfo.InvariantCulture));
    if (at > DateTimeOffset.UtcNow) await Task.Delay(at - DateTimeOffset.UtcNow);
    record.Line($"id {await FaultTasks.UniqueAsync.Enqueue(client, args[4])}");
    return 0;
}

if (mode == "recorded")
{
    var options = new AzureQueueOptions { ConnectionString = connection, QueuePrefix = prefix };
    var client = new TaskClient(new AzureQueueTransport(options), records: new AzureTableTaskRecordStore(options));
    for (var n = 0; n < Int(4); n++) record.Line($"enqueued {n} {await FaultTasks.RecordAsync.Enqueue(client, n, Int(5), false)}");
    await client.RecordWriter!.DisposeAsync(); // records written in the background go out before the exit
    return 0;
}

if (mode == "chains")
{
    var options = new AzureQueueOptions { ConnectionString = connection, QueuePrefix = prefix };
    var client = new TaskClient(new AzureQueueTransport(options), records: new AzureTableTaskRecordStore(options));
    for (var n = 0; n < Int(4); n++)
    {
        var ids = await client.EnqueueChainAsync(FaultTasks.StepAsync.Prepare(n, 1), FaultTasks.StepAsync.Prepare(n, 2));
        record.Line($"chain {n} {ids[0]} {ids[1]}");
    }

    return 0;
}

if (mode == "payload")
{
    var client = new TaskClient(new AzureQueueTransport(new AzureQueueOptions { ConnectionString = connection, QueuePrefix = prefix }));
    for (var n = 0; n < Int(4); n++)
    {
        var data = new byte[Int(5)];
        Random.Shared.NextBytes(data);
        record.Line($"payload {n} {await FaultTasks.DigestAsync.Enqueue(client, n, data)} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(data))}");
    }

    return 0;
}

if (mode == "limits")
{
    var client = new TaskClient(new AzureQueueTransport(new AzureQueueOptions { ConnectionString = connection, QueuePrefix = prefix }));
    var (task, ms) = (args[4], Int(6));
    for (var n = 0; n < Int(5); n++)
    {
        var id = task switch
        {
            "invoice" => await LimitedTasks.InvoiceAsync.Enqueue(client, n % 4, n, ms),
            "crm" => await LimitedTasks.CrmAsync.Enqueue(client, n, ms),
            "mail" => await LimitedTasks.MailAsync.Enqueue(client, n, ms),
            _ => await LimitedTasks.HoldAsync.Enqueue(client, n, ms),
        };
        record.Line($"enqueued {task} {n} {id}");
    }

    return 0;
}

if (mode == "prio")
{
    var client = new TaskClient(new AzureQueueTransport(new AzureQueueOptions { ConnectionString = connection, QueuePrefix = prefix }));
    for (var n = 0; n < Math.Max(Int(4), Int(5)); n++)
    {
        if (n < Int(4)) await PriorityTasks.HighAsync.Enqueue(client, n, Int(6));
        if (n < Int(5)) await PriorityTasks.LowAsync.Enqueue(client, n, Int(6));
    }

    return 0;
}

if (mode is "pause" or "resume")
{
    var transport = new AzureQueueTransport(new AzureQueueOptions { ConnectionString = connection, QueuePrefix = prefix });
    if (mode == "pause") await transport.PauseAsync(args[4]);
    else await transport.ResumeAsync(args[4]);
    record.Line($"{mode}d {args[4]} {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}");
    return 0;
}

if (Environment.GetEnvironmentVariable("TASKS_FAULT_KILL_AT") == "reading")
{
    var marker = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file))!, $"killed-{Environment.ProcessId}");
    AzureQueueTransport.PayloadPoint = point =>
    {
        File.WriteAllText(marker, point);
        System.Diagnostics.Process.GetCurrentProcess().Kill();
    };
}
else if (Environment.GetEnvironmentVariable("TASKS_FAULT_KILL_AT") is { Length: > 0 } killAt)
{
    var marker = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file))!, $"killed-{Environment.ProcessId}");
    TaskRecordStore.ReleasePoint = (point, parent) =>
    {
        if (point != killAt) return;
        lock (marker) // releases run side by side: the first one here writes the marker whole and kills
        {
            File.WriteAllText(marker, $"{point} {parent}");
            System.Diagnostics.Process.GetCurrentProcess().Kill(); // SIGKILL: nothing after this point runs
        }
    };
}

FaultTasks.Output = record;
LimitedTasks.KillWhenHolding = Environment.GetEnvironmentVariable("TASKS_FAULT_KILL_AT") == "holding";
var builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning).AddFilter("Tasks", LogLevel.Information);
builder.Services.AddAsyncTaskWorker(o =>
{
    o.MaxConcurrency = Int(4);
    o.LeaseDuration = TimeSpan.FromSeconds(Int(5));
    o.MinPollingInterval = TimeSpan.FromMilliseconds(20);
    o.MaxPollingInterval = TimeSpan.FromMilliseconds(500);
    o.Retry.BaseDelay = TimeSpan.FromSeconds(1);
    o.DrainTimeout = TimeSpan.FromSeconds(2);
    o.StopGrace = TimeSpan.FromSeconds(2);
    if (Environment.GetEnvironmentVariable("TASKS_FAULT_BATCH") is { Length: > 0 } batch) o.BatchSize = int.Parse(batch, CultureInfo.InvariantCulture);
    if (Environment.GetEnvironmentVariable("TASKS_FAULT_PRIORITY") is { Length: > 0 } priority)
    {
        var (kind, queues) = (priority.Split(':')[0], priority.Split(':')[1].Split(','));
        o.QueuePriority = kind == "strict" ? QueuePriority.Strict : QueuePriority.Weighted;
        foreach (var queue in queues)
        {
            o.Queues.Add(queue.Split('=')[0]);
            if (queue.Contains('=')) o.QueueWeights[queue.Split('=')[0]] = int.Parse(queue.Split('=')[1], CultureInfo.InvariantCulture);
        }
    }
}).UseAzureQueues(o =>
{
    o.ConnectionString = connection;
    o.QueuePrefix = prefix;
    Sharded(o);
});
await builder.Build().RunAsync();
return 0;

int Int(int index) => int.Parse(args[index], CultureInfo.InvariantCulture);

static AzureQueueOptions Sharded(AzureQueueOptions options)
{
    foreach (var entry in (Environment.GetEnvironmentVariable("TASKS_FAULT_SHARDS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        options.Shards[entry.Split('=')[0]] = int.Parse(entry.Split('=')[1], CultureInfo.InvariantCulture);
    options.ShardAccounts.AddRange((Environment.GetEnvironmentVariable("TASKS_FAULT_SHARD_ACCOUNTS") ?? "").Split('|', StringSplitOptions.RemoveEmptyEntries));
    if (Environment.GetEnvironmentVariable("TASKS_FAULT_REQUEST_TIMEOUT") is { Length: > 0 } seconds)
        options.RequestTimeout = TimeSpan.FromSeconds(int.Parse(seconds, CultureInfo.InvariantCulture));
    return options;
}

namespace Tasks.Fixtures
{
    public static partial class FaultTasks
    {
        internal static Record? Output;

        /// <summary>Takes <paramref name="ms"/>, then records "ran n id attempt latency-ms".</summary>
        [AsyncTask(Queue = "fault", MaxAttempts = 20)]
        public static async Task Record(CancellationToken cancellationToken, int n, int ms, bool ignoreToken)
        {
            var context = TaskContext.Current!;
            var enqueuedAt = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(context.Headers[TaskHeaders.EnqueuedAt], CultureInfo.InvariantCulture));
            var latency = (DateTimeOffset.UtcNow - enqueuedAt).TotalMilliseconds;
            if (ms > 0) await Task.Delay(ms, ignoreToken ? CancellationToken.None : cancellationToken);
            Output!.Line($"ran {n} {context.MessageId} {context.Attempt} {latency:0}");
        }

        /// <summary>A step of a chain: records "step n step id attempt".</summary>
        [AsyncTask(Queue = "fault-chain", MaxAttempts = 50)]
        public static Task Step(CancellationToken cancellationToken, int n, int step)
        {
            var context = TaskContext.Current!;
            Output!.Line($"step {n} {step} {context.MessageId} {context.Attempt}");
            return Task.CompletedTask;
        }

        /// <summary>Records "digest n id attempt sha256" of the bytes it was given.</summary>
        [AsyncTask(Queue = "fault-payload", MaxAttempts = 10)]
        public static Task Digest(CancellationToken cancellationToken, int n, byte[] data)
        {
            var context = TaskContext.Current!;
            Output!.Line($"digest {n} {context.MessageId} {context.Attempt} {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(data))}");
            return Task.CompletedTask;
        }

        /// <summary>Unique by its key for ten minutes: enqueued by two processes at once, it is sent once.</summary>
        [AsyncTask(Queue = "fault-unique", UniqueFor = "00:10:00")]
        public static Task Unique(CancellationToken cancellationToken, string key) => Task.CompletedTask;
    }

    /// <summary>Tasks under limits across the fleet: each run records its start and end, so the test can see what ran at once.</summary>
    public static partial class LimitedTasks
    {
        internal static bool KillWhenHolding;

        [AsyncTask(Queue = "fault-limits", MaxAttempts = 3), ConcurrencyLimit(1, Key = nameof(customer))]
        public static Task Invoice(CancellationToken cancellationToken, int customer, int n, int ms) => RunAsync("invoice", customer.ToString(CultureInfo.InvariantCulture), n, ms, cancellationToken);

        [AsyncTask(Queue = "fault-limits", MaxAttempts = 3), ConcurrencyLimit(3, Name = "fault-crm")]
        public static Task Crm(CancellationToken cancellationToken, int n, int ms) => RunAsync("crm", "-", n, ms, cancellationToken);

        [AsyncTask(Queue = "fault-limits", MaxAttempts = 3), RateLimit(20, "00:00:10", Name = "fault-mail")]
        public static Task Mail(CancellationToken cancellationToken, int n, int ms) => RunAsync("mail", "-", n, ms, cancellationToken);

        [AsyncTask(Queue = "fault-limits", MaxAttempts = 3), ConcurrencyLimit(1, Name = "fault-hold")]
        public static Task Hold(CancellationToken cancellationToken, int n, int ms)
        {
            if (!KillWhenHolding) return RunAsync("hold", "-", n, ms, cancellationToken);
            FaultTasks.Output!.Line($"holding {n} {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()} {Environment.ProcessId}");
            System.Diagnostics.Process.GetCurrentProcess().Kill(); // SIGKILL with its place held: nothing frees it but its lapse
            return Task.CompletedTask;
        }

        private static async Task RunAsync(string task, string key, int n, int ms, CancellationToken cancellationToken)
        {
            var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            if (ms > 0) await Task.Delay(ms, cancellationToken);
            FaultTasks.Output!.Line($"limited {task} {key} {n} {start} {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()} {TaskContext.Current!.Attempt} {Environment.ProcessId}");
        }
    }

    /// <summary>Tasks on two queues, for priorities and pauses: each run records its queue, start and end.</summary>
    public static partial class PriorityTasks
    {
        [AsyncTask(Queue = "fault-high")]
        public static Task High(CancellationToken cancellationToken, int n, int ms) => RunAsync("fault-high", n, ms, cancellationToken);

        [AsyncTask(Queue = "fault-low")]
        public static Task Low(CancellationToken cancellationToken, int n, int ms) => RunAsync("fault-low", n, ms, cancellationToken);

        private static async Task RunAsync(string queue, int n, int ms, CancellationToken cancellationToken)
        {
            var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            if (ms > 0) await Task.Delay(ms, cancellationToken);
            FaultTasks.Output!.Line($"prio {queue} {n} {start} {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()} {Environment.ProcessId}");
        }
    }

    internal sealed class Record(string path) : IDisposable
    {
        private readonly StreamWriter writer = new(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };

        public void Line(string text)
        {
            lock (writer) writer.WriteLine(text);
        }

        public void Dispose() => writer.Dispose();
    }
}
