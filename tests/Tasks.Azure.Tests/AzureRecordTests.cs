using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using Azure.Data.Tables;
using Microsoft.Extensions.Time.Testing;

namespace Tasks.Azure.Tests;

[Collection(AzuriteCollection.Name)]
/// <summary>Task records in Azurite's table service, written by real clients and workers over its queues.</summary>
public sealed class AzureRecordTests(AzuriteFixture azurite)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task Each_state_the_history_of_a_failed_attempt_progress_and_the_arguments_as_json()
    {
        await using var h = new RecordedHarness(azurite);
        var proceed = new TaskCompletionSource();
        var script = Scripts.Add(async (context, ct) =>
        {
            if (context.Attempt == 1) throw new InvalidOperationException("the <i>ledger</i> is locked");
            await context.ReportProgressAsync(0.25, "a quarter");
            await proceed.Task.WaitAsync(ct);
            await context.ReportProgressAsync(1, "all");
        });
        var id = await AzureRecordedTasks.RunAsync.Enqueue(h.Client, script, new Payload("order", [1, 2, 3], null), new TaskEnqueueOptions { Delay = TimeSpan.FromSeconds(1) });

        Assert.Equal(TaskState.Scheduled, (await h.Store.GetAsync(id))!.State);
        await h.StartWorkerAsync();
        var retrying = await h.WaitForStateAsync(id, TaskState.Retrying);
        Assert.Equal("the <i>ledger</i> is locked", retrying.History.Single().Exception!.Message);
        var running = await h.WaitUntilAsync(id, r => r is { State: TaskState.Running, Progress.Fraction: 0.25 }, "the second attempt reports a quarter");
        Assert.Equal("a quarter", running.Progress!.Note);
        Assert.Equal(h.Workers[0].Identity, running.Worker);
        proceed.SetResult();

        var record = await h.WaitForStateAsync(id, TaskState.Succeeded);
        Assert.Equal((2, 2), (record.Attempts, record.MaxAttempts));
        Assert.Equal(1, record.Progress!.Fraction);
        Assert.Equal([TaskOutcome.Retried, TaskOutcome.Completed], record.History.Select(a => a.Outcome!.Value));
        Assert.Equal(typeof(InvalidOperationException).FullName, record.History[0].Exception!.Type);
        Assert.Contains("at ", record.History[0].Exception!.StackTrace);
        using var arguments = JsonDocument.Parse(record.ArgumentsJson!);
        Assert.Equal(script, arguments.RootElement.GetProperty("scriptId").GetString());
        Assert.Equal("order", arguments.RootElement.GetProperty("payload").GetProperty("Name").GetString());
        Assert.True(record.ScheduledFor > record.EnqueuedAt);
        Assert.True(record.FinishedAt >= record.StartedAt);
    }

    [Fact]
    public async Task A_dead_letter_moves_its_record_to_the_failed_table_and_a_requeue_brings_it_back_to_succeed()
    {
        await using var h = new RecordedHarness(azurite);
        var broken = true;
        var id = await AzureRecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => broken ? throw new PermanentTaskException("no stock") : Task.CompletedTask), new Payload("p", [], null));
        await h.StartWorkerAsync();
        var dead = await h.WaitForStateAsync(id, TaskState.DeadLettered);
        Assert.Contains("no stock", dead.Reason);
        Assert.Contains(h.TableNames(), t => t.StartsWith(h.TablePrefix + "tasksfailed", StringComparison.Ordinal));
        Assert.Equal(id, Assert.Single((await h.Store.ListAsync(new TaskRecordQuery { State = TaskState.DeadLettered })).Records).Id);

        broken = false;
        var requeued = await h.Transport.RequeueDeadLettersAsync(AzureRecordedTasks.Queue, new DeadLetterFilter { MessageId = id });
        await h.Store.MarkRequeuedAsync(requeued.Select(l => l.MessageId).ToArray());
        var record = await h.WaitForStateAsync(id, TaskState.Succeeded);
        Assert.Equal([TaskOutcome.DeadLettered, TaskOutcome.Completed], record.History.Select(a => a.Outcome!.Value));
        Assert.NotNull(record.ArgumentsJson);
        Assert.Empty((await h.Store.ListAsync(new TaskRecordQuery { State = TaskState.DeadLettered })).Records);
    }

    [Fact]
    public async Task Pages_by_continuation_token_and_counts_by_state_from_a_bulk_enqueue()
    {
        await using var h = new RecordedHarness(azurite);
        var script = Scripts.Add((context, _) => context.Attempt == 1 && context.MessageId.EndsWith('A') ? throw new TimeoutException("once") : Task.CompletedTask);
        var batch = new TaskBatch();
        for (var i = 0; i < 250; i++) AzureRecordedTasks.RunAsync.AddTo(batch, script, new Payload("p" + i, [i], null));
        var start = DateTimeOffset.UtcNow;
        var ids = await h.Client.EnqueueBatchAsync(batch);
        await h.StartWorkerAsync();
        foreach (var id in ids) await h.WaitForStateAsync(id, TaskState.Succeeded);

        var seen = new List<string>();
        string? token = null;
        var pages = 0;
        do
        {
            var page = await h.Store.ListAsync(new TaskRecordQuery { TaskName = AzureRecordedTasks.RunAsync.Definition.Name, State = TaskState.Succeeded, PageSize = 100, ContinuationToken = token });
            seen.AddRange(page.Records.Select(r => r.Id));
            token = page.ContinuationToken;
            pages++;
        }
        while (token is not null);
        Assert.Equal(3, pages);
        Assert.Equal(ids.Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));

        await h.StopWorkersAsync(); // the last counts go out
        await h.FlushClientAsync();
        var counts = await h.Store.CountAsync(start.AddHours(-1), start.AddHours(1));
        Assert.Equal((250, 250, 0), (counts.Enqueued, counts.Succeeded, counts.DeadLettered));
        Assert.Equal(250 + counts.Retried, counts.Started);
        var perMinute = await h.Store.CountPerMinuteAsync(start.AddMinutes(-5), start.AddMinutes(5));
        Assert.Equal(250, perMinute.Sum(m => m.Succeeded));
    }

    [Fact]
    public async Task Day_tables_past_their_retention_are_dropped_whole()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 2, 12, 0, 0, TimeSpan.Zero));
        await using var h = new RecordedHarness(azurite, time);
        var client = new TaskClient(h.Transport, time, records: h.Store);
        var succeeded = await AzureRecordedTasks.RunAsync.Enqueue(client, "s", new Payload("a", [], null));
        var failed = await AzureRecordedTasks.RunAsync.Enqueue(client, "s", new Payload("b", [], null));
        await h.Store.Writes.WriteAsync([new RecordWrite(succeeded) { State = TaskState.Succeeded, StateAt = time.GetUtcNow() }, new RecordWrite(failed) { State = TaskState.DeadLettered, StateAt = time.GetUtcNow() }], default);
        Assert.Contains(h.TablePrefix + "tasks20261102", h.TableNames());

        time.Advance(TimeSpan.FromDays(2));
        Assert.Equal(["tasks20261102"], await h.Store.ExpireAsync(default));
        Assert.DoesNotContain(h.TablePrefix + "tasks20261102", h.TableNames());
        Assert.Null(await h.Store.GetAsync(succeeded));
        Assert.Equal(TaskState.DeadLettered, (await h.Store.GetAsync(failed))!.State);

        time.Advance(TimeSpan.FromDays(13));
        Assert.Equal(["tasksfailed20261102"], await h.Store.ExpireAsync(default));
        Assert.Null(await h.Store.GetAsync(failed));
    }

    [Fact]
    public async Task Heartbeats_list_the_workers_and_a_task_left_running_by_a_gone_worker_is_not_running_forever()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = new RecordedHarness(azurite, time);
        var started = new TaskCompletionSource();
        var id = await AzureRecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add(async (_, ct) => { started.SetResult(); await Task.Delay(Timeout.Infinite, ct); }), new Payload("p", [], null));
        await h.StartWorkerAsync();
        await h.StartWorkerAsync();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await AzureHarness.WaitUntil(async () => (await h.Store.ListWorkersAsync()).Count(w => w.IsAlive) == 2 && (await h.Store.ListWorkersAsync()).Any(w => w.Running.Contains(id)), "both workers heartbeat, one with the task");
        Assert.All(await h.Store.ListWorkersAsync(), w => Assert.Equal([AzureRecordedTasks.Queue], w.Queues));
        await h.WaitForStateAsync(id, TaskState.Running);

        time.Advance(TimeSpan.FromMinutes(5)); // as if both workers had been killed
        Assert.All(await h.Store.ListWorkersAsync(), w => Assert.False(w.IsAlive));
        var orphan = await h.Store.GetAsync(id);
        Assert.Equal(TaskState.Enqueued, orphan!.State);
        Assert.Contains("lease ends", orphan.Note);
    }

    [Fact]
    public async Task Cancel_a_queued_task_and_a_running_one_whose_token_fires_within_the_bound()
    {
        await using var h = new RecordedHarness(azurite);
        var ran = 0;
        var queued = await AzureRecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => { Interlocked.Increment(ref ran); return Task.CompletedTask; }), new Payload("q", [], null), new TaskEnqueueOptions { Delay = TimeSpan.FromSeconds(2) });
        Assert.Equal(TaskCancelOutcome.Cancelled, (await h.Client.CancelAsync(queued)).Outcome);

        var started = new TaskCompletionSource();
        var fired = new TaskCompletionSource<long>();
        var running = await AzureRecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add(async (_, ct) =>
        {
            ct.Register(() => fired.TrySetResult(Stopwatch.GetTimestamp()));
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
        }), new Payload("r", [], null));
        await h.StartWorkerAsync();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await h.WaitForStateAsync(running, TaskState.Running);
        var asked = Stopwatch.GetTimestamp();
        Assert.Equal(TaskCancelOutcome.Requested, (await h.Client.CancelAsync(running)).Outcome);
        var waited = Stopwatch.GetElapsedTime(asked, await fired.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(waited < Bound, $"the token fired {waited.TotalMilliseconds:0} ms after the cancel (bound {Bound.TotalSeconds} s, poll every 1 s)");

        await h.WaitForStateAsync(running, TaskState.Cancelled);
        await AzureHarness.WaitUntil(() => h.Results.Any(r => r.MessageId == queued), "the cancelled task is received and settled", 30);
        Assert.Equal(0, ran);
        Assert.Equal(TaskState.Cancelled, (await h.Store.GetAsync(queued))!.State);
        Assert.Equal(TaskOutcome.Cancelled, h.Results.Single(r => r.MessageId == running).Outcome);
        await AzureHarness.WaitUntil(async () => (await h.Transport.GetDepthAsync(AzureRecordedTasks.Queue)).Messages == 0, "both messages are deleted");
        Assert.Empty(await h.Transport.ListDeadLettersAsync(AzureRecordedTasks.Queue));
    }

    [Fact]
    public async Task A_unique_task_enqueued_by_two_processes_at_once_is_sent_once_and_both_get_its_id()
    {
        await using var h = new RecordedHarness(azurite);
        var dll = typeof(AzureRecordTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "FaultWorker").Value!;
        var directory = Directory.CreateTempSubdirectory("tasks-unique-").FullName;
        var at = DateTimeOffset.UtcNow.AddSeconds(4).ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var files = new[] { Path.Combine(directory, "a.log"), Path.Combine(directory, "b.log") };
        var processes = files.Select(f => ChildProcess.Start("dotnet", [dll, "unique", azurite.ConnectionString, h.Prefix, f, "invoice-42", at], directory)).ToArray();
        try
        {
            foreach (var process in processes) await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
            var ids = files.Select(f => File.ReadAllText(f).Trim()).ToArray();
            Assert.All(ids, id => Assert.StartsWith("id ", id));
            Assert.Single(ids.Distinct());
            var depth = await h.Transport.GetDepthAsync("fault-unique");
            Assert.Equal(1, depth.Messages);
        }
        finally
        {
            foreach (var process in processes) process.Dispose();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_table_service_stopped_mid_run_stops_no_task_and_the_records_catch_up()
    {
        await using var azurite2 = await AzuriteProcess.StartAsync(tables: true);
        await using var h = new RecordedHarness(azurite2.ConnectionString);
        var runs = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var script = Scripts.Add((context, _) => { runs.AddOrUpdate(context.MessageId, 1, (_, n) => n + 1); return Task.CompletedTask; });
        var ids = new List<string>();
        for (var i = 0; i < 20; i++) ids.Add(await AzureRecordedTasks.RunAsync.Enqueue(h.Client, script, new Payload("before", [i], null)));
        await h.StartWorkerAsync();
        await AzureHarness.WaitUntil(() => runs.Count == 20, "the first tasks run");

        await azurite2.PauseTablesAsync();
        try
        {
            // Enqueues go on: each waits at most EnqueueWriteTimeout for its record, then leaves it to the background.
            var during = Stopwatch.StartNew();
            for (var i = 0; i < 20; i++) ids.Add(await AzureRecordedTasks.RunAsync.Enqueue(h.Client, script, new Payload("during", [i], null)));
            await AzureHarness.WaitUntil(() => runs.Count == 40, "the tasks enqueued during the outage run", 60);
            Assert.True(during.Elapsed < TimeSpan.FromSeconds(40), $"20 enqueues took {during.Elapsed} with the table service stopped");
            await Task.Delay(TimeSpan.FromSeconds(20));
        }
        finally
        {
            await azurite2.ResumeTablesAsync();
        }

        Assert.All(runs.Values, n => Assert.Equal(1, n));
        Assert.Equal(40, runs.Count);
        foreach (var id in ids) await h.WaitForStateAsync(id, TaskState.Succeeded, 120);
        // The client's writer, backing off after the failed flushes, may not have flushed yet when the worker's states show.
        await h.Client.RecordWriter!.FlushAsync(CancellationToken.None);
        Assert.All(await Task.WhenAll(ids.Select(id => h.Store.GetAsync(id).AsTask())), r => Assert.NotNull(r!.ArgumentsJson));
    }
}

/// <summary>A transport, a record store on the same account, a client and workers with short record intervals.</summary>
internal sealed class RecordedHarness : IAsyncDisposable
{
    private readonly string connectionString;
    private readonly List<TaskWorker> workers = new();
    private readonly List<TaskRunResult> results = new();

    public RecordedHarness(AzuriteFixture azurite, TimeProvider? storeTime = null) : this(azurite.ConnectionString, storeTime)
    {
    }

    public RecordedHarness(string connectionString, TimeProvider? storeTime = null)
    {
        this.connectionString = connectionString;
        Prefix = "r" + Guid.NewGuid().ToString("N")[..10] + "-";
        var options = new AzureQueueOptions { ConnectionString = connectionString, QueuePrefix = Prefix };
        Transport = new AzureQueueTransport(options);
        Store = new AzureTableTaskRecordStore(options, new TaskRecordOptions
        {
            FlushInterval = TimeSpan.FromMilliseconds(200),
            HeartbeatInterval = TimeSpan.FromMilliseconds(500),
            WorkerGoneAfter = TimeSpan.FromSeconds(5),
            EnqueueWriteTimeout = TimeSpan.FromMilliseconds(500),
        }, storeTime);
        Client = new TaskClient(Transport, records: Store);
    }

    public string Prefix { get; }

    public string TablePrefix => AzureTableTaskRecordStore.TablePrefix(Prefix);

    public AzureQueueTransport Transport { get; }

    public AzureTableTaskRecordStore Store { get; }

    public TaskClient Client { get; }

    public IReadOnlyList<TaskWorker> Workers => workers;

    public IReadOnlyList<TaskRunResult> Results
    {
        get { lock (results) return results.ToArray(); }
    }

    public async Task StartWorkerAsync()
    {
        var options = new TaskWorkerOptions
        {
            MinPollingInterval = TimeSpan.FromMilliseconds(20),
            MaxPollingInterval = TimeSpan.FromMilliseconds(200),
            LeaseDuration = TimeSpan.FromSeconds(10),
            DrainTimeout = TimeSpan.FromSeconds(1),
            Retry = { Jitter = 0 },
        };
        options.Queues.Add(AzureRecordedTasks.Queue);
        var worker = new TaskWorker(Transport, options, records: Store);
        worker.TaskRan += r =>
        {
            lock (results) results.Add(r);
        };
        workers.Add(worker);
        await worker.StartAsync();
    }

    public async Task StopWorkersAsync()
    {
        foreach (var worker in workers) await worker.StopAsync();
    }

    public Task FlushClientAsync() => Client.RecordWriter!.FlushAsync(CancellationToken.None);

    public IReadOnlyList<string> TableNames() => new TableServiceClient(connectionString).Query().Select(t => t.Name).ToArray();

    public Task<TaskRecord> WaitForStateAsync(string id, TaskState state, int seconds = 30)
        => WaitUntilAsync(id, r => r?.State == state, $"it is {state}", seconds);

    public async Task<TaskRecord> WaitUntilAsync(string id, Func<TaskRecord?, bool> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        TaskRecord? record = null;
        while (true)
        {
            try
            {
                record = await Store.GetAsync(id);
                if (condition(record)) return record!;
            }
            catch (TaskTransportException ex) when (ex.IsTransient)
            {
                // A table service coming back: reads fail at once until its probe finds it answering.
            }

            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Task {id} is {record?.State.ToString() ?? "not recorded"} after {seconds} s, waiting until {what}.");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in workers) await worker.DisposeAsync();
    }
}
