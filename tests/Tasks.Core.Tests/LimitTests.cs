using System.Collections.Concurrent;

namespace Tasks.Core.Tests;

public static partial class LimitedTasks
{
    public const string Queue = "limited";

    /// <summary>Every run: which task, its key, when it started and ended, its attempt, and which worker ran it.</summary>
    public static readonly ConcurrentQueue<(string Task, string Key, DateTime Start, DateTime End, int Attempt)> Runs = new();

    public static TimeSpan RunTime = TimeSpan.FromMilliseconds(40);

    [AsyncTask(Queue = Queue, MaxAttempts = 2), ConcurrencyLimit(1, Key = nameof(customer))]
    public static Task Invoice(CancellationToken cancellationToken, int customer, int number) => RecordAsync("invoice", customer.ToString(), cancellationToken);

    [AsyncTask(Queue = Queue, MaxAttempts = 2), ConcurrencyLimit(3, Name = "crm")]
    public static Task Crm(CancellationToken cancellationToken, int number) => RecordAsync("crm", "", cancellationToken);

    [AsyncTask(Queue = Queue, MaxAttempts = 2), RateLimit(5, "00:00:01", Name = "mail")]
    public static Task Mail(CancellationToken cancellationToken, int number) => RecordAsync("mail", "", cancellationToken);

    [AsyncTask(Queue = Queue, MaxAttempts = 2), ConcurrencyLimit(1, Name = "held", MaxWait = "00:00:01")]
    public static Task Impatient(CancellationToken cancellationToken) => RecordAsync("impatient", "", cancellationToken);

    private static async Task RecordAsync(string task, string key, CancellationToken cancellationToken)
    {
        var start = DateTime.UtcNow;
        await Task.Delay(RunTime, cancellationToken);
        Runs.Enqueue((task, key, start, DateTime.UtcNow, TaskContext.Current!.Attempt));
    }
}

/// <summary>
/// Limits across workers, in one process: three workers on one in-memory transport stand in for a fleet. A ledger of
/// every run's start and end shows what the limits allowed; the results show that waiting used no attempt.
/// </summary>
public sealed class LimitTests : IAsyncDisposable
{
    private readonly InMemoryTransport transport = new();
    private readonly List<TaskWorker> workers = new();
    private readonly ConcurrentQueue<TaskRunResult> results = new();

    public LimitTests()
    {
        LimitedTasks.Runs.Clear();
        LimitedTasks.RunTime = TimeSpan.FromMilliseconds(40);
    }

    private ITaskLimitStore Store => transport;

    [Fact]
    public async Task A_mutex_keyed_by_customer_never_runs_two_of_one_customer_at_once_and_waiting_uses_no_attempt()
    {
        await StartWorkersAsync(3);
        var client = new TaskClient(transport);
        for (var i = 0; i < 40; i++) await LimitedTasks.InvoiceAsync.Enqueue(client, i % 4, i);

        await Harness.WaitUntil(() => LimitedTasks.Runs.Count == 40, "40 invoices ran");
        foreach (var customer in LimitedTasks.Runs.GroupBy(r => r.Key))
        {
            var runs = customer.OrderBy(r => r.Start).ToArray();
            for (var i = 1; i < runs.Length; i++)
                Assert.True(runs[i].Start >= runs[i - 1].End, $"customer {customer.Key}: a run started at {runs[i].Start:HH:mm:ss.fff} before the one before it ended at {runs[i - 1].End:HH:mm:ss.fff}");
        }

        Assert.All(LimitedTasks.Runs, r => Assert.Equal(1, r.Attempt));
        Assert.Equal(40, results.Count(r => r.Outcome == TaskOutcome.Completed));
        Assert.Contains(results, r => r.Outcome == TaskOutcome.Deferred && r.Reason!.Contains("(key "));
        Assert.Empty(transport.DeadLetters);
    }

    [Fact]
    public async Task A_limit_of_three_never_has_a_fourth_run_and_is_used_up_to_three()
    {
        LimitedTasks.RunTime = TimeSpan.FromMilliseconds(100);
        await StartWorkersAsync(3);
        var client = new TaskClient(transport);
        for (var i = 0; i < 24; i++) await LimitedTasks.CrmAsync.Enqueue(client, i);

        await Harness.WaitUntil(() => LimitedTasks.Runs.Count == 24, "24 calls ran");
        var most = MostAtOnce(LimitedTasks.Runs.Select(r => (r.Start, r.End)));
        Assert.Equal(3, most);
        Assert.All(LimitedTasks.Runs, r => Assert.Equal(1, r.Attempt));
    }

    [Fact]
    public async Task A_rate_of_five_a_second_never_starts_more_than_five_in_any_second()
    {
        LimitedTasks.RunTime = TimeSpan.Zero;
        await StartWorkersAsync(3);
        var client = new TaskClient(transport);
        for (var i = 0; i < 15; i++) await LimitedTasks.MailAsync.Enqueue(client, i);

        await Harness.WaitUntil(() => LimitedTasks.Runs.Count == 15, "15 mails sent");
        var starts = LimitedTasks.Runs.Select(r => r.Start).Order().ToArray();
        foreach (var start in starts)
        {
            var inWindow = starts.Count(s => s >= start && s < start.AddSeconds(1));
            Assert.True(inWindow <= 5, $"{inWindow} starts in the second from {start:HH:mm:ss.fff}");
        }

        Assert.True(starts[^1] - starts[0] >= TimeSpan.FromSeconds(2), "15 starts at 5 a second take more than two seconds");
    }

    [Fact]
    public async Task A_place_held_by_a_crashed_worker_frees_when_its_hold_lapses_and_the_waiting_task_then_runs()
    {
        await StartWorkersAsync(1);
        var lapses = DateTimeOffset.UtcNow.AddSeconds(1.5);
        var crashed = await Store.TryAcquireAsync(new LimitScope(TaskLimitKind.Concurrency, "Tasks.Core.Tests.LimitedTasks.Invoice", "99", 1), new LimitHolder("gone", "invoice", "crashed-worker", DateTimeOffset.UtcNow), DateTimeOffset.UtcNow, lapses, default);
        Assert.NotNull(crashed.Place);

        await LimitedTasks.InvoiceAsync.Enqueue(new TaskClient(transport), 99, 1);
        await Harness.WaitUntil(() => LimitedTasks.Runs.Count == 1, "the invoice ran");
        Assert.True(LimitedTasks.Runs.Single().Start >= lapses.UtcDateTime, "it ran while the crashed worker's place was held");
        Assert.Equal(1, LimitedTasks.Runs.Single().Attempt);
    }

    [Fact]
    public async Task A_run_longer_than_its_lease_keeps_its_place_by_renewals_and_frees_it_when_it_ends()
    {
        LimitedTasks.RunTime = TimeSpan.FromSeconds(3);
        var options = Options();
        options.LeaseDuration = TimeSpan.FromSeconds(1.5); // places renewed every half second: six renewals in one run
        var worker = new TaskWorker(transport, options);
        worker.TaskRan += results.Enqueue;
        workers.Add(worker);
        await worker.StartAsync();
        var client = new TaskClient(transport);
        await LimitedTasks.InvoiceAsync.Enqueue(client, 5, 1);
        await Harness.WaitUntil(() => Store.ListAsync(DateTimeOffset.UtcNow, default).AsTask().Result.Count == 1, "the first run holds its place");
        await LimitedTasks.InvoiceAsync.Enqueue(client, 5, 2);

        await Harness.WaitUntil(() => LimitedTasks.Runs.Count == 2, "both ran");
        var runs = LimitedTasks.Runs.OrderBy(r => r.Start).ToArray();
        Assert.True(runs[1].Start >= runs[0].End, "the second ran while the first, renewing its place, still ran");
        try
        {
            await Harness.WaitUntil(() => Store.ListAsync(DateTimeOffset.UtcNow, default).AsTask().Result.Count == 0, "the place to be freed when the runs ended");
        }
        catch (TimeoutException)
        {
            var left = await Store.ListAsync(DateTimeOffset.UtcNow, default);
            throw new Exception(string.Join("; ", left.Select(l => $"{l.Scope} held {l.Held.Count} ({string.Join(",", l.Held.Select(h => h.Holder.TaskId + " until " + h.Until.ToString("HH:mm:ss.fff")))}) waiters {l.Waiters.Count}")) + " now " + DateTimeOffset.UtcNow.ToString("HH:mm:ss.fff"));
        }
    }

    [Fact]
    public async Task A_task_that_waits_longer_than_its_MaxWait_is_dead_lettered_with_the_limit_named()
    {
        await StartWorkersAsync(1);
        var held = await Store.TryAcquireAsync(new LimitScope(TaskLimitKind.Concurrency, "held", "", 1), new LimitHolder("other", "other", "w", DateTimeOffset.UtcNow), DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddMinutes(1), default);
        Assert.NotNull(held.Place);
        var id = await LimitedTasks.ImpatientAsync.Enqueue(new TaskClient(transport));

        await Harness.WaitUntil(() => transport.DeadLetters.Count == 1, "the task gave up");
        var letter = transport.DeadLetters.Single();
        Assert.Equal(id, letter.MessageId);
        Assert.Matches(@"^Waited 00:00:0\d for a place in limit 'held' \(1 at once\), longer than its MaxWait of 00:00:01\.$", letter.Reason.Reason);
        Assert.Empty(LimitedTasks.Runs);
        Assert.Equal(1, letter.Reason.Attempt);
    }

    [Fact]
    public async Task A_waiting_task_says_in_its_record_which_limit_it_waits_for_and_runs_once_on_its_first_attempt()
    {
        var records = new InMemoryTaskRecordStore(new TaskRecordOptions { FlushInterval = TimeSpan.FromMilliseconds(50) });
        var worker = new TaskWorker(transport, Options(), records: records);
        workers.Add(worker);
        await worker.StartAsync();
        var scope = new LimitScope(TaskLimitKind.Concurrency, "Tasks.Core.Tests.LimitedTasks.Invoice", "7", 1);
        var held = (await Store.TryAcquireAsync(scope, new LimitHolder("other", "invoice", "w", DateTimeOffset.UtcNow), DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddMinutes(1), default)).Place!;
        var id = await LimitedTasks.InvoiceAsync.Enqueue(new TaskClient(transport, records: records), 7, 1);

        TaskRecord? record = null;
        await Harness.WaitUntil(() => (record = records.GetAsync(id).AsTask().Result) is { WaitingFor: not null }, "the record says it waits");
        Assert.Equal(TaskState.Scheduled, record!.State);
        Assert.StartsWith("Waiting for a place in limit 'Tasks.Core.Tests.LimitedTasks.Invoice' (key 7) (1 at once)", record.WaitingFor);
        var state = Assert.Single(await Store.ListAsync(DateTimeOffset.UtcNow, default));
        Assert.Equal((scope, "other", id), (state.Scope, state.Held.Single().Holder.TaskId, state.Waiters.Single().TaskId));

        await Store.ReleaseAsync(held, default);
        await Harness.WaitUntil(() => records.GetAsync(id).AsTask().Result is { State: TaskState.Succeeded }, "it ran");
        record = await records.GetAsync(id);
        Assert.Null(record!.WaitingFor);
        Assert.Equal(1, Assert.Single(record.History).Attempt);
        await Harness.WaitUntil(() => Store.ListAsync(DateTimeOffset.UtcNow, default).AsTask().Result.Count == 0, "the run's place to be freed (kept 100 ms for a next run), and the task to be no waiter");
    }

    [Fact]
    public async Task A_worker_whose_transport_keeps_no_limits_refuses_to_start_with_the_tasks_named()
    {
        await using var worker = new TaskWorker(new WrappedTransport(transport), Options());
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => worker.StartAsync());
        Assert.Contains("'Tasks.Core.Tests.LimitedTasks.Invoice'", refused.Message);
        Assert.Contains("keeps no limit places", refused.Message);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in workers) await worker.DisposeAsync();
    }

    private async Task StartWorkersAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var worker = new TaskWorker(transport, Options());
            worker.TaskRan += results.Enqueue;
            workers.Add(worker);
            await worker.StartAsync();
        }
    }

    private static TaskWorkerOptions Options()
    {
        var options = new TaskWorkerOptions { MaxConcurrency = 4, MinPollingInterval = TimeSpan.FromMilliseconds(5), MaxPollingInterval = TimeSpan.FromMilliseconds(20) };
        options.Queues.Add(LimitedTasks.Queue);
        return options;
    }

    private static int MostAtOnce(IEnumerable<(DateTime Start, DateTime End)> runs)
        => runs.SelectMany(r => new[] { (At: r.Start, Change: 1), (At: r.End, Change: -1) })
            .OrderBy(e => e.At).ThenBy(e => e.Change) // an end before a start at the same instant
            .Aggregate((Now: 0, Most: 0), (acc, e) => (acc.Now + e.Change, Math.Max(acc.Most, acc.Now + e.Change))).Most;
}
