using System.Collections.Concurrent;
using System.Diagnostics;

namespace Tasks.Azure.Tests;

/// <summary>Tasks whose runs the hung-storage tests count, by what they did.</summary>
public static partial class HungTasks
{
    public const string Queue = "hung";

    public static readonly ConcurrentQueue<string> Ran = new();

    public static readonly ConcurrentQueue<string> Started = new();

    /// <summary>Runs that wait for the test before they end: a run ends when its key is released.</summary>
    public static readonly ConcurrentDictionary<string, TaskCompletionSource> Held = new();

    [AsyncTask(Queue = Queue, UniqueFor = "00:10:00")]
    public static Task Invoice(CancellationToken cancellationToken, string order)
    {
        Ran.Enqueue("invoice " + order);
        return Task.CompletedTask;
    }

    [AsyncTask(Queue = Queue, MaxAttempts = 5)]
    public static async Task Step(CancellationToken cancellationToken, string chain, string step)
    {
        Started.Enqueue(chain + " " + step);
        if (Held.TryGetValue(chain + " " + step, out var held)) await held.Task.WaitAsync(cancellationToken);
        Ran.Enqueue(chain + " " + step);
    }

    [AsyncTask(Queue = Queue)]
    public static Task Import(CancellationToken cancellationToken, string name, byte[] data)
    {
        Ran.Enqueue($"import {name} {data.Length}");
        return Task.CompletedTask;
    }

    public static int Count(string what) => Ran.Count(r => r == what);
}

/// <summary>
/// One storage service of three (Azurite's queues, blobs and tables, each its own process) hung by SIGSTOP for
/// longer than a lease, the others serving: nothing acknowledged is lost, nothing runs twice, and every call
/// answers within its deadline (docs/reliability.md, "A hung storage service").
/// </summary>
[Trait("Category", "Fault")]
public sealed class HungStorageTests : IAsyncLifetime
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(6);
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(10); // longer than a lease
    private AzuriteProcess azurite = null!;

    public async Task InitializeAsync() => azurite = await AzuriteProcess.StartAsync(blobs: true, tables: true);

    public async Task DisposeAsync() => await azurite.DisposeAsync();

    [Fact]
    public async Task Unique_enqueues_while_tables_hang_send_what_they_acknowledge_and_leave_no_lock_on_a_task_that_does_not_exist()
    {
        await using var h = await HungHarness.StartAsync(azurite, Lease);
        var (o1, o2) = (Order(), Order());
        await azurite.PauseTablesAsync();
        var hung = Stopwatch.StartNew();
        // Five clicks at once on one order, and five on another a second apart.
        var atOnce = Enumerable.Range(0, 5).Select(_ => Click(h, o1)).ToArray();
        var o3 = Order();
        var o3Clicked = Click(h, o3); // its lock insert reaches the hung service, and lands when it wakes
        var apart = new List<(string? Id, TimeSpan Took)>();
        for (var i = 0; i < 5; i++)
        {
            apart.Add(await Click(h, o2));
            await Task.Delay(1000);
        }

        var o3Click = await o3Clicked;
        var clicks = (await Task.WhenAll(atOnce)).Concat(apart).ToArray();
        Assert.All(clicks, c => Assert.True(c.Took < h.Options.RequestTimeout + TimeSpan.FromSeconds(2), $"an enqueue took {c.Took}"));
        Assert.True(apart.Skip(1).All(c => c.Took < TimeSpan.FromMilliseconds(500)), "later calls fail at once while the tables are silent: " + string.Join(", ", apart.Select(c => c.Took)));
        if (hung.Elapsed < Hang) await Task.Delay(Hang - hung.Elapsed);
        await azurite.ResumeTablesAsync();

        // At once after the hang (the lock inserts given up land now), a click on an order whose click failed while
        // hung gets an id that runs, never the id of the claim whose caller was told it failed.
        Assert.Null(o3Click.Id);
        var recovered = await ClickUntilAcceptedAsync(h, o3);
        await h.WaitForStateAsync(recovered, TaskState.Succeeded);
        Assert.Equal(1, HungTasks.Count("invoice " + o3));

        // Every id a caller got runs, once; an order no caller got an id for never runs.
        foreach (var (order, results) in new[] { (o1, clicks[..5]), (o2, clicks[5..]) })
        {
            var ids = results.Select(r => r.Id).OfType<string>().Distinct().ToArray();
            Assert.True(ids.Length <= 1, $"one id per order, got {string.Join(", ", ids)}");
            if (ids.Length == 1) await h.WaitForStateAsync(ids[0], TaskState.Succeeded);
            await Task.Delay(2000); // a second run would show now
            Assert.Equal(ids.Length, HungTasks.Count("invoice " + order));
        }

        // After recovery a click sends (no lock is left on a task that does not exist, nor on one that ended).
        var (again, _) = await Click(h, o1);
        Assert.NotNull(again);
        await h.WaitForStateAsync(again!, TaskState.Succeeded);
    }

    [Fact]
    public async Task Unique_enqueues_while_queues_hang_never_answer_with_an_id_that_does_not_run()
    {
        await using var h = await HungHarness.StartAsync(azurite, Lease);
        await Click(h, Order()); // the queue exists
        await azurite.PauseAsync();
        var order = Order();
        var clicks = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => Click(h, order)));
        var second = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => Click(h, order))); // the circuit open now
        await Task.Delay(Hang);
        await azurite.ResumeAsync();

        // While the queues hang no send succeeds, so no caller may get an id: the first claim's send failed, and the
        // callers that found its lock waited for that, then took the lock over and failed too.
        Assert.All(clicks.Concat(second), c => Assert.Null(c.Id));
        Assert.All(clicks.Concat(second), c => Assert.True(c.Took < h.Options.RequestTimeout + UniqueLocksClaimWait, $"a click took {c.Took}"));
        var id = await ClickUntilAcceptedAsync(h, order);
        await h.WaitForStateAsync(id, TaskState.Succeeded);
        await Task.Delay(2000); // a send given up that arrived after all would run now: its worker finds the lock taken over
        Assert.Equal(1, HungTasks.Count("invoice " + order));
    }

    [Fact]
    public async Task Chains_enqueued_while_tables_hang_are_refused_whole_or_run_each_step_once_in_order()
    {
        await using var h = await HungHarness.StartAsync(azurite, Lease);
        await azurite.PauseTablesAsync();
        var chains = Enumerable.Range(0, 3).Select(_ => Order()).ToArray();
        var outcomes = await Task.WhenAll(chains.Select(async chain =>
        {
            try
            {
                return (chain, await h.Client.EnqueueChainAsync(HungTasks.StepAsync.Prepare(chain, "charge"), HungTasks.StepAsync.Prepare(chain, "ship"), HungTasks.StepAsync.Prepare(chain, "mail")), (Exception?)null);
            }
            catch (Exception ex)
            {
                return (chain, (IReadOnlyList<string>?)null, ex);
            }
        }));
        await Task.Delay(Hang);
        await azurite.ResumeTablesAsync();

        foreach (var (chain, ids, failure) in outcomes)
        {
            if (ids is null)
            {
                Assert.IsType<TaskEnqueueException>(failure); // refused as an enqueue that failed, never an ArgumentException
                continue;
            }

            await h.WaitForStateAsync(ids[2], TaskState.Succeeded, 60);
        }

        await Task.Delay(2000);
        foreach (var (chain, ids, _) in outcomes)
        {
            var ran = HungTasks.Ran.Where(r => r.StartsWith(chain, StringComparison.Ordinal)).ToArray();
            Assert.Equal(ids is null ? [] : [chain + " charge", chain + " ship", chain + " mail"], ran);
        }
    }

    [Fact]
    public async Task A_parent_that_ends_while_tables_hang_runs_once_and_releases_its_continuations_when_they_answer()
    {
        await using var h = await HungHarness.StartAsync(azurite, Lease);
        var chains = Enumerable.Range(0, 3).Select(_ => Order()).ToArray();
        var gate = new TaskCompletionSource();
        foreach (var chain in chains)
        {
            HungTasks.Held[chain + " charge"] = gate;
            await h.Client.EnqueueChainAsync(HungTasks.StepAsync.Prepare(chain, "charge"), HungTasks.StepAsync.Prepare(chain, "ship"), HungTasks.StepAsync.Prepare(chain, "mail"));
        }

        await h.WaitUntilAsync(() => chains.All(c => HungTasks.Started.Contains(c + " charge")), "the charges run");
        await azurite.PauseTablesAsync();
        gate.SetResult(); // the charges end while the tables hang: their continuations cannot be released
        await Task.Delay(Hang);
        await azurite.ResumeTablesAsync();

        await h.WaitUntilAsync(() => chains.All(c => HungTasks.Count(c + " mail") == 1), "every chain ends", 60);
        await Task.Delay(2000);
        foreach (var chain in chains)
            Assert.Equal([chain + " charge", chain + " ship", chain + " mail"], HungTasks.Ran.Where(r => r.StartsWith(chain, StringComparison.Ordinal)).ToArray());
    }

    [Fact]
    public async Task A_payload_fetched_while_blobs_hang_runs_once_and_its_record_ends_succeeded()
    {
        await using var h = await HungHarness.StartAsync(azurite, Lease, startWorker: false);
        var name = Order();
        var id = await HungTasks.ImportAsync.Enqueue(h.Client, name, new byte[2 * 1024 * 1024]); // through a blob
        await azurite.PauseBlobsAsync();
        await h.StartWorkerAsync();
        await Task.Delay(Hang); // the worker's fetch waits; its lease must not run out meanwhile
        await azurite.ResumeBlobsAsync();

        await h.WaitForStateAsync(id, TaskState.Succeeded, 90);
        await Task.Delay(Lease + TimeSpan.FromSeconds(2)); // a second copy would come back and run, or dead-letter the record, now
        Assert.Equal(1, HungTasks.Count($"import {name} {2 * 1024 * 1024}"));
        Assert.Equal(TaskState.Succeeded, (await h.Store.GetAsync(id))!.State);
        Assert.Empty(await h.Transport.ListDeadLettersAsync(HungTasks.Queue, new DeadLetterFilter()));
    }

    [Fact]
    public async Task Enqueues_while_queues_hang_fail_within_the_deadline_then_at_once_and_recover_after_the_hang()
    {
        await using var h = await HungHarness.StartAsync(azurite, Lease, startWorker: false);
        await Click(h, Order()); // the queue exists, and the client knows it
        await azurite.PauseAsync();
        var tries = new List<(string? Id, TimeSpan Took)>();
        for (var i = 0; i < 10; i++) tries.Add(await Plain(h, Order()));
        Assert.All(tries, t => Assert.Null(t.Id));
        Assert.True(tries[0].Took < h.Options.RequestTimeout + TimeSpan.FromSeconds(1), $"the first enqueue took {tries[0].Took}");
        Assert.True(tries.Skip(1).All(t => t.Took < TimeSpan.FromMilliseconds(50)), "later enqueues fail at once: " + string.Join(", ", tries.Select(t => t.Took.TotalMilliseconds)));

        await azurite.ResumeAsync();
        var resumed = Stopwatch.StartNew();
        string? id = null;
        while (id is null && resumed.Elapsed < TimeSpan.FromSeconds(30)) (id, _) = await Plain(h, Order());
        Assert.NotNull(id);
        Assert.True(resumed.Elapsed < h.Options.ProbeInterval + h.Options.RequestTimeout, $"enqueues worked again {resumed.Elapsed} after the queues did");
    }

    [Fact]
    public async Task Tasks_that_end_while_queues_hang_for_longer_than_a_lease_run_once_and_their_copies_are_dropped()
    {
        await using var h = await HungHarness.StartAsync(azurite, Lease);
        var batch = Order();
        var gate = new TaskCompletionSource();
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            HungTasks.Held[$"{batch} {i}"] = gate;
            ids.Add(await HungTasks.StepAsync.Enqueue(h.Client, batch, i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        await h.WaitUntilAsync(() => Enumerable.Range(0, 5).All(i => HungTasks.Started.Contains($"{batch} {i}")), "the tasks run");
        await azurite.PauseAsync();
        gate.SetResult(); // they end while their messages cannot be deleted, and their leases run out
        await Task.Delay(Hang);
        await azurite.ResumeAsync();

        // Their messages come back (attempt 2): the records say they succeeded, so the copies are deleted without running.
        foreach (var id in ids) await h.WaitForStateAsync(id, TaskState.Succeeded, 60);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await DepthAsync() is not 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the copies are deleted within 60 s");
            await Task.Delay(200);
        }

        Assert.All(Enumerable.Range(0, 5), i => Assert.Equal(1, HungTasks.Count($"{batch} {i}")));

        async Task<long?> DepthAsync()
        {
            try
            {
                return (await h.Transport.GetDepthAsync(HungTasks.Queue)).Messages;
            }
            catch (TaskTransportException ex) when (ex.IsTransient)
            {
                return null; // the queues coming back: calls fail at once until the probe finds them answering
            }
        }
    }

    [Fact]
    public async Task Enqueues_while_tables_hang_answer_at_once_and_their_records_catch_up()
    {
        await using var h = await HungHarness.StartAsync(azurite, Lease);
        await azurite.PauseTablesAsync();
        var tries = new List<(string? Id, TimeSpan Took)>();
        for (var i = 0; i < 10; i++) tries.Add(await Plain(h, Order()));
        await Task.Delay(Hang);
        await azurite.ResumeTablesAsync();

        Assert.All(tries, t => Assert.NotNull(t.Id));
        // Each waits at most EnqueueWriteTimeout for its record (the median, so that one send slowed by a busy machine
        // does not decide it), never the store's deadline (before the fix: 2 s each).
        var took = tries.Skip(1).Select(t => t.Took).Order().ToArray();
        var told = "enqueues do not wait for a silent record store: " + string.Join(", ", tries.Select(t => t.Took.TotalMilliseconds));
        Assert.True(took[took.Length / 2] < h.Store.Options.EnqueueWriteTimeout + TimeSpan.FromMilliseconds(150), told);
        Assert.True(took[^1] < h.Options.RequestTimeout, told);
        foreach (var (id, _) in tries) await h.WaitForStateAsync(id!, TaskState.Succeeded, 60);
    }

    [Fact]
    public async Task A_second_hang_is_found_within_the_deadline_as_the_first_was()
    {
        await using var h = await HungHarness.StartAsync(azurite, Lease, startWorker: false);
        await Click(h, Order()); // the tables and a lock exist
        foreach (var hang in new[] { 1, 2 })
        {
            // Longer than the deadline and the probe's interval: the probe that finds the tables back was sent into the hang.
            await azurite.PauseTablesAsync();
            var clicks = new List<TimeSpan>();
            for (var i = 0; i < 3; i++) clicks.Add((await Click(h, Order())).Took);
            await Task.Delay(TimeSpan.FromSeconds(12));
            await azurite.ResumeTablesAsync();

            Assert.True(clicks[0] < h.Options.RequestTimeout + TimeSpan.FromSeconds(2), $"hang {hang}: the first click took {clicks[0]}");
            Assert.True(clicks.Skip(1).All(c => c < TimeSpan.FromSeconds(1)), $"hang {hang}: later clicks fail at once: {string.Join(", ", clicks)}");
            await ClickUntilAcceptedAsync(h, Order()); // the probe finds the tables back
        }
    }

    [Fact]
    public async Task The_cli_answers_within_the_deadline_of_a_hung_service_and_names_it()
    {
        await using var h = await HungHarness.StartAsync(azurite, Lease, startWorker: false);
        await Plain(h, Order()); // a queue and a record to find
        foreach (var (pause, resume, command, service) in new (Func<Task>, Func<Task>, string[], string)[]
        {
            (azurite.PauseTablesAsync, azurite.ResumeTablesAsync, ["list", "--prefix", h.Options.QueuePrefix!], "Azure Table service at"),
            (azurite.PauseAsync, azurite.ResumeAsync, ["queues", "--prefix", h.Options.QueuePrefix!], "Azure Queue service at"),
        })
        {
            var (_, warm) = await Timed(() => CliTests.RunAsync(azurite.ConnectionString, command)); // the CLI's own start, for the bound
            await pause();
            try
            {
                var ((code, output), took) = await Timed(() => CliTests.RunAsync(azurite.ConnectionString, command));
                Assert.Equal(1, code);
                Assert.Contains(service, output);
                Assert.True(took < warm + TimeSpan.FromSeconds(6), $"'tasks {command[0]}' took {took} with the service hung ({warm} when it answers)");
            }
            finally
            {
                await resume();
            }
        }
    }

    private static async Task<(T Result, TimeSpan Took)> Timed<T>(Func<Task<T>> call)
    {
        var clock = Stopwatch.StartNew();
        var result = await call();
        return (result, clock.Elapsed);
    }

    private static readonly TimeSpan UniqueLocksClaimWait = TimeSpan.FromSeconds(5);

    /// <summary>Clicks until a click is accepted (a caller retrying a 503), for at most 20 s.</summary>
    private static async Task<string> ClickUntilAcceptedAsync(HungHarness h, string order)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if ((await Click(h, order)).Id is { } id) return id;
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "a click is accepted within 20 s of the service answering again");
            await Task.Delay(250);
        }
    }

    private static string Order() => Guid.NewGuid().ToString("N")[..12];

    private static async Task<(string? Id, TimeSpan Took)> Click(HungHarness h, string order)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            return (await HungTasks.InvoiceAsync.Enqueue(h.Client, order), clock.Elapsed);
        }
        catch (TaskEnqueueException)
        {
            return (null, clock.Elapsed);
        }
    }

    private static async Task<(string? Id, TimeSpan Took)> Plain(HungHarness h, string name)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            return (await HungTasks.StepAsync.Enqueue(h.Client, name, "plain"), clock.Elapsed);
        }
        catch (TaskEnqueueException)
        {
            return (null, clock.Elapsed);
        }
    }
}

/// <summary>A client, a record store and a worker on queues of their own, over an Azurite of three processes.</summary>
internal sealed class HungHarness : IAsyncDisposable
{
    private readonly TimeSpan lease;
    private TaskWorker? worker;

    private HungHarness(AzuriteProcess azurite, TimeSpan lease)
    {
        this.lease = lease;
        Options = new AzureQueueOptions { ConnectionString = azurite.ConnectionString, QueuePrefix = "h" + Guid.NewGuid().ToString("N")[..10] + "-" };
        Transport = new AzureQueueTransport(Options);
        Store = new AzureTableTaskRecordStore(Options, new TaskRecordOptions { FlushInterval = TimeSpan.FromMilliseconds(200), EnqueueWriteTimeout = TimeSpan.FromMilliseconds(200) });
        Client = new TaskClient(Transport, records: Store);
    }

    public AzureQueueOptions Options { get; }

    public AzureQueueTransport Transport { get; }

    public AzureTableTaskRecordStore Store { get; }

    public TaskClient Client { get; }

    public TaskWorker Worker => worker ?? throw new InvalidOperationException("No worker was started.");

    public static async Task<HungHarness> StartAsync(AzuriteProcess azurite, TimeSpan lease, bool startWorker = true)
    {
        var harness = new HungHarness(azurite, lease);
        if (startWorker) await harness.StartWorkerAsync();
        return harness;
    }

    public async Task StartWorkerAsync()
    {
        var options = new TaskWorkerOptions
        {
            MinPollingInterval = TimeSpan.FromMilliseconds(20),
            MaxPollingInterval = TimeSpan.FromMilliseconds(500),
            LeaseDuration = lease,
            DrainTimeout = TimeSpan.FromSeconds(1),
            Retry = { BaseDelay = TimeSpan.FromSeconds(1), Jitter = 0 },
        };
        options.Queues.Add(HungTasks.Queue);
        worker = new TaskWorker(Transport, options, records: Store);
        await worker.StartAsync();
    }

    public async Task WaitForStateAsync(string id, TaskState state, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        TaskRecord? record = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                record = await Store.GetAsync(id);
                if (record?.State == state) return;
            }
            catch (TaskTransportException)
            {
                // The store is still coming back.
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"Task {id} is {record?.State.ToString() ?? "not recorded"} after {seconds} s, waiting until it is {state}.");
    }

    public async Task WaitUntilAsync(Func<bool> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Waited {seconds} s until {what}; ran: {string.Join(", ", HungTasks.Ran)}");
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (worker is not null) await worker.DisposeAsync();
    }
}
