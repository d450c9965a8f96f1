using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;

namespace Tasks.Core.Tests;

public sealed class RecordTests
{
    [Fact]
    public async Task A_record_exists_when_Enqueue_returns_with_the_arguments_as_named_json()
    {
        await using var h = new RecordHarness();
        var script = Scripts.Add((_, _) => Task.CompletedTask);
        var id = await RecordedTasks.RunAsync.Enqueue(h.Client, script, number: 12);

        var record = await h.Store.GetAsync(id);
        Assert.NotNull(record);
        Assert.Equal(TaskState.Enqueued, record.State);
        Assert.Equal("Tasks.Core.Tests.RecordedTasks.Run", record.TaskName);
        Assert.Equal(RecordedTasks.Queue, record.Queue);
        Assert.Equal(2, record.MaxAttempts);
        Assert.Equal(0, record.Attempts);
        Assert.Empty(record.History);
        using var arguments = JsonDocument.Parse(record.ArgumentsJson!);
        Assert.Equal(script, arguments.RootElement.GetProperty("scriptId").GetString());
        Assert.Equal(12, arguments.RootElement.GetProperty("number").GetInt32());
    }

    [Fact]
    public async Task Your_types_show_in_the_arguments_json_as_objects_of_their_members()
    {
        var store = new InMemoryTaskRecordStore();
        var client = new TaskClient(new InMemoryTransport(), records: store);
        var order = new PlainOrder(Guid.Empty, [new OrderLine("A-1", 2, new Money(9.5m, Currency.Eur))]) { Note = "gift" };
        var id = await PlainTypeTasks.PlaceAsync.Enqueue(client, order, new ShippingAddress { Street = "1 Main St", Floors = [3] },
            new Dictionary<string, Money[]> { ["spring"] = [new Money(1, Currency.Usd)] }, null, new Category("toys", new Category("all", null)));

        using var json = JsonDocument.Parse((await store.GetAsync(id))!.ArgumentsJson!);
        var root = json.RootElement;
        var line = root.GetProperty("order").GetProperty("Lines")[0];
        Assert.Equal(("A-1", 2, "9.5", 0), (line.GetProperty("Sku").GetString(), line.GetProperty("Quantity").GetInt32(), line.GetProperty("Price").GetProperty("Amount").GetString(), line.GetProperty("Price").GetProperty("Currency").GetInt32()));
        Assert.Equal("gift", root.GetProperty("order").GetProperty("Note").GetString());
        Assert.Equal("1 Main St", root.GetProperty("shipTo").GetProperty("Street").GetString());
        Assert.Equal(3, root.GetProperty("shipTo").GetProperty("Floors")[0].GetInt32());
        Assert.Equal("1", root.GetProperty("discounts").GetProperty("spring")[0].GetProperty("Amount").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("rush").ValueKind);
        Assert.Equal("all", root.GetProperty("category").GetProperty("Parent").GetProperty("Name").GetString());
    }

    [Fact]
    public async Task A_failed_attempt_is_in_the_history_with_its_exception_and_the_retry_succeeds()
    {
        await using var h = new RecordHarness();
        var script = Scripts.Add((context, _) => context.Attempt == 1 ? throw new InvalidOperationException("flaky <b>dependency</b>") : Task.CompletedTask);
        var id = await RecordedTasks.RunAsync.Enqueue(h.Client, script);
        await h.Worker.StartAsync();

        var record = await h.WaitForStateAsync(id, TaskState.Succeeded);
        Assert.Equal(2, record.Attempts);
        Assert.NotNull(record.FinishedAt);
        Assert.Equal(h.Worker.Identity, record.Worker);
        Assert.Collection(record.History,
            first =>
            {
                Assert.Equal(1, first.Attempt);
                Assert.Equal(TaskOutcome.Retried, first.Outcome);
                Assert.Equal(typeof(InvalidOperationException).FullName, first.Exception!.Type);
                Assert.Equal("flaky <b>dependency</b>", first.Exception.Message);
                Assert.Contains(nameof(A_failed_attempt_is_in_the_history_with_its_exception_and_the_retry_succeeds), first.Exception.StackTrace);
                Assert.True(first.Duration >= TimeSpan.Zero);
            },
            second =>
            {
                Assert.Equal(2, second.Attempt);
                Assert.Equal(TaskOutcome.Completed, second.Outcome);
                Assert.Null(second.Exception);
                Assert.True(second.StartedAt >= record.History[0].FinishedAt);
            });
    }

    [Fact]
    public async Task A_retrying_task_says_when_it_runs_again()
    {
        await using var h = new RecordHarness(worker: o => o.Retry.BaseDelay = TimeSpan.FromSeconds(30));
        var script = Scripts.Add((_, _) => throw new TimeoutException("slow"));
        var id = await RecordedTasks.RunAsync.Enqueue(h.Client, script);
        await h.Worker.StartAsync();

        var record = await h.WaitForStateAsync(id, TaskState.Retrying);
        Assert.NotNull(record.NextAttemptAt);
        Assert.InRange(record.NextAttemptAt!.Value - record.History[0].FinishedAt!.Value, TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(250)); // the task's own RetryDelay
    }

    [Fact]
    public async Task A_dead_lettered_task_keeps_its_reason_and_moves_to_the_failed_record_table()
    {
        await using var h = new RecordHarness();
        var script = Scripts.Add((_, _) => throw new PermanentTaskException("card declined"));
        var id = await RecordedTasks.RunAsync.Enqueue(h.Client, script);
        await h.Worker.StartAsync();

        var record = await h.WaitForStateAsync(id, TaskState.DeadLettered);
        Assert.Contains("card declined", record.Reason);
        Assert.NotNull(record.ArgumentsJson); // carried over from the live table
        Assert.Single(record.History);
        Assert.Contains(h.Store.Tables, t => t.StartsWith("tasksfailed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_delayed_task_is_scheduled_until_its_time()
    {
        await using var h = new RecordHarness();
        var id = await RecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => Task.CompletedTask), options: new TaskEnqueueOptions { Delay = TimeSpan.FromHours(1) });

        var record = await h.Store.GetAsync(id);
        Assert.Equal(TaskState.Scheduled, record!.State);
        Assert.InRange(record.ScheduledFor!.Value - record.EnqueuedAt!.Value, TimeSpan.FromHours(1) - TimeSpan.FromSeconds(1), TimeSpan.FromHours(1));
    }

    [Fact]
    public async Task Progress_is_readable_while_the_task_runs_and_the_last_value_is_kept()
    {
        await using var h = new RecordHarness();
        var half = new TaskCompletionSource();
        var finish = new TaskCompletionSource();
        var script = Scripts.Add(async (context, ct) =>
        {
            for (var i = 0; i <= 50; i++) await context.ReportProgressAsync(i / 100.0, $"row {i}");
            half.SetResult();
            await finish.Task.WaitAsync(ct);
            await context.ReportProgressAsync(1, "done");
        });
        var id = await RecordedTasks.RunAsync.Enqueue(h.Client, script);
        await h.Worker.StartAsync();
        await half.Task.WaitAsync(TimeSpan.FromSeconds(20));

        var running = await h.WaitForStateAsync(id, TaskState.Running);
        await Harness.WaitUntil(() => h.Store.GetAsync(id).AsTask().Result?.Progress?.Fraction == 0.5, "the progress reaches the record");
        Assert.Equal("row 50", (await h.Store.GetAsync(id))!.Progress!.Note);
        Assert.Equal(TaskState.Running, running.State);

        finish.SetResult();
        var done = await h.WaitForStateAsync(id, TaskState.Succeeded);
        Assert.Equal(1, done.Progress!.Fraction);
        Assert.Equal("done", done.Progress.Note);
    }

    [Fact]
    public async Task Progress_from_a_tight_loop_costs_about_one_write_per_flush()
    {
        await using var h = new RecordHarness(o => (o.FlushInterval, o.Heartbeats, o.Cancellation) = (TimeSpan.FromMilliseconds(200), false, false));
        var reports = 0;
        var script = Scripts.Add(async (context, ct) =>
        {
            var clock = Stopwatch.StartNew();
            for (; clock.Elapsed < TimeSpan.FromSeconds(1); reports++) await context.ReportProgressAsync(Math.Min(1, reports / 1e7));
        });
        var before = h.Store.Operations;
        var id = await RecordedTasks.RunAsync.Enqueue(h.Client, script);
        await h.Worker.StartAsync();
        await Harness.WaitUntil(() => h.Results.Any(r => r.MessageId == id), "the task runs for a second");
        await h.Worker.StopAsync();

        // The insert at enqueue, about one merge per 200 ms flush and the counters: not one write per report.
        Assert.True(reports > 10_000, $"{reports} reports");
        Assert.InRange(h.Store.Operations - before, 3, 30);
        Assert.Equal(TaskState.Succeeded, (await h.Store.GetAsync(id))!.State);
    }

    [Fact]
    public async Task A_queued_task_cancelled_by_id_never_runs()
    {
        await using var h = new RecordHarness();
        var ran = 0;
        var id = await RecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => { Interlocked.Increment(ref ran); return Task.CompletedTask; }),
            options: new TaskEnqueueOptions { Delay = TimeSpan.FromMilliseconds(700) });

        var result = await h.Client.CancelAsync(id);
        Assert.Equal(TaskCancelOutcome.Cancelled, result.Outcome);
        Assert.Equal(TaskState.Cancelled, (await h.Store.GetAsync(id))!.State);

        await h.Worker.StartAsync();
        await Harness.WaitUntil(() => h.Results.Any(r => r.MessageId == id), "the worker receives the cancelled task");
        Assert.Equal(TaskOutcome.Cancelled, h.Results.Single(r => r.MessageId == id).Outcome);
        Assert.Equal(0, ran);
        Assert.Empty(h.Transport.Peek(RecordedTasks.Queue));
        Assert.Equal(TaskState.Cancelled, (await h.Store.GetAsync(id))!.State);
    }

    [Fact]
    public async Task A_task_cancelled_while_no_worker_ran_never_runs_when_one_starts()
    {
        await using var h = new RecordHarness();
        var ran = 0;
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await RecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => { Interlocked.Increment(ref ran); return Task.CompletedTask; })));
            await h.Client.CancelAsync(ids[^1]);
        }

        await h.Worker.StartAsync(); // the messages are visible at once: the worker must know the cancels before it receives
        await Harness.WaitUntil(() => h.Results.Count == 5, "the worker settles the five cancelled tasks");
        Assert.All(h.Results, r => Assert.Equal(TaskOutcome.Cancelled, r.Outcome));
        Assert.Equal(0, ran);
        foreach (var id in ids) Assert.Empty((await h.WaitForStateAsync(id, TaskState.Cancelled)).History);
    }

    [Fact]
    public async Task A_running_task_cancelled_by_id_has_its_token_fire_and_ends_cancelled_not_retried()
    {
        await using var h = new RecordHarness();
        var started = new TaskCompletionSource();
        var fired = new TaskCompletionSource<long>();
        var script = Scripts.Add(async (_, ct) =>
        {
            ct.Register(() => fired.TrySetResult(Stopwatch.GetTimestamp()));
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        var id = await RecordedTasks.RunAsync.Enqueue(h.Client, script);
        await h.Worker.StartAsync();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await h.WaitForStateAsync(id, TaskState.Running);

        var asked = Stopwatch.GetTimestamp();
        var result = await h.Client.CancelAsync(id);
        Assert.Equal(TaskCancelOutcome.Requested, result.Outcome);
        var firedAt = await fired.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(Stopwatch.GetElapsedTime(asked, firedAt) < TimeSpan.FromSeconds(2), $"the token fired {Stopwatch.GetElapsedTime(asked, firedAt)} after the cancel (poll interval 100 ms)");

        var record = await h.WaitForStateAsync(id, TaskState.Cancelled);
        Assert.NotNull(record.CancelRequestedAt);
        Assert.Equal(TaskOutcome.Cancelled, record.History.Single().Outcome);
        await Harness.WaitUntil(() => h.Results.Any(r => r.MessageId == id), "the run settles");
        Assert.Equal(TaskOutcome.Cancelled, h.Results.Single(r => r.MessageId == id).Outcome);
        Assert.Empty(h.Transport.Peek(RecordedTasks.Queue));
        Assert.Empty(h.Transport.DeadLetters);
    }

    [Fact]
    public async Task Cancelling_a_finished_or_an_unknown_task_says_so_and_changes_nothing()
    {
        await using var h = new RecordHarness();
        var id = await RecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => Task.CompletedTask));
        await h.Worker.StartAsync();
        await h.WaitForStateAsync(id, TaskState.Succeeded);

        var finished = await h.Client.CancelAsync(id);
        Assert.Equal(new TaskCancelResult(TaskCancelOutcome.AlreadyFinished, TaskState.Succeeded), finished);
        Assert.Contains("already finished", finished.Describe(id));
        Assert.Equal(TaskState.Succeeded, (await h.Store.GetAsync(id))!.State);
        Assert.Equal(TaskCancelOutcome.NotFound, (await h.Client.CancelAsync(TaskHeaders.NewMessageId())).Outcome);
        Assert.Equal(TaskCancelOutcome.NotFound, (await h.Client.CancelAsync("not-an-id")).Outcome);
    }

    [Fact]
    public async Task A_unique_task_enqueued_twice_at_once_sends_one_message_and_both_get_its_id()
    {
        await using var h = new RecordHarness();
        var ran = 0;
        var script = Scripts.Add((_, _) => { Interlocked.Increment(ref ran); return Task.CompletedTask; });
        var clients = Enumerable.Range(0, 8).Select(_ => new TaskClient(h.Transport, records: h.Store)).ToArray();
        var ids = await Task.WhenAll(clients.Select(c => RecordedTasks.OnceAsync.Enqueue(c, script, "INV-1").AsTask()));

        Assert.Single(ids.Distinct());
        Assert.Single(h.Transport.Peek(RecordedTasks.Queue));
        var other = await RecordedTasks.OnceAsync.Enqueue(h.Client, script, "INV-2");
        Assert.NotEqual(ids[0], other);
        var byKey = await RecordedTasks.OnceAsync.Enqueue(h.Client, script, "INV-3", new TaskEnqueueOptions { UniqueKey = "invoice-1" });
        Assert.Equal(byKey, await RecordedTasks.OnceAsync.Enqueue(h.Client, script, "INV-4", new TaskEnqueueOptions { UniqueKey = "invoice-1" }));
        Assert.NotNull(await h.Store.GetAsync(ids[0]));

        // Once it has settled, the lock is free again.
        await h.Worker.StartAsync();
        await h.WaitForStateAsync(ids[0], TaskState.Succeeded);
        await Harness.WaitUntil(() => h.Store.GetAsync(ids[0]).AsTask().Result is not null && ran == 3, "the three tasks run");
        string again = "";
        await Harness.WaitUntil(() => (again = RecordedTasks.OnceAsync.Enqueue(h.Client, script, "INV-1").AsTask().Result) != ids[0], "the settled task's lock is released");
        Assert.NotEqual(ids[0], again);
    }

    [Fact]
    public async Task A_unique_task_needs_a_record_store()
    {
        var client = new TaskClient(new InMemoryTransport());
        var ex = await Assert.ThrowsAsync<TaskEnqueueException>(() => RecordedTasks.OnceAsync.Enqueue(client, "s", "INV-1").AsTask());
        Assert.Contains("record store", ex.Message);
        var key = await Assert.ThrowsAsync<ArgumentException>(() => RecordedTasks.RunAsync.Enqueue(new TaskClient(new InMemoryTransport(), records: new InMemoryTaskRecordStore()), "s", options: new TaskEnqueueOptions { UniqueKey = "k" }).AsTask());
        Assert.Contains("UniqueFor", key.Message);
    }

    [Fact]
    public async Task Personal_data_is_never_recorded()
    {
        await using var h = new RecordHarness();
        var id = await RecordedTasks.PersonalAsync.Enqueue(h.Client, Scripts.Add((_, _) => Task.CompletedTask), "ada@example.com");
        var record = await h.Store.GetAsync(id);
        Assert.Null(record!.ArgumentsJson);
        Assert.Contains("personal data", record.ArgumentsNote);

        await using var off = new RecordHarness(o => o.RecordArguments = false);
        var hidden = await off.Store.GetAsync(await RecordedTasks.RunAsync.Enqueue(off.Client, "x"));
        Assert.Null(hidden!.ArgumentsJson);
        Assert.Contains("RecordArguments", hidden.ArgumentsNote);
    }

    [Fact]
    public async Task Every_task_of_a_bulk_enqueue_has_its_record_when_it_returns()
    {
        await using var h = new RecordHarness();
        var batch = new TaskBatch();
        var script = Scripts.Add((_, _) => Task.CompletedTask);
        for (var i = 0; i < 300; i++) RecordedTasks.RunAsync.AddTo(batch, script, i);
        var ids = await h.Client.EnqueueBatchAsync(batch);

        Assert.True(h.Transport.Peek(RecordedTasks.Queue).Count < 10, "the batch went out in packs");
        foreach (var id in ids) Assert.Equal(TaskState.Enqueued, (await h.Store.GetAsync(id))!.State);
        await h.Worker.StartAsync();
        foreach (var id in ids) await h.WaitForStateAsync(id, TaskState.Succeeded);
    }

    [Fact]
    public async Task A_batch_keeps_its_records_in_a_row_per_group_and_every_read_sees_each_task()
    {
        await using var h = new RecordHarness();
        var script = Scripts.Add((_, arguments, _) => arguments is [5, ..] ? throw new PermanentTaskException("card declined") : Task.CompletedTask);
        var batch = new TaskBatch();
        for (var i = 0; i < 250; i++) RecordedTasks.RunAsync.AddTo(batch, script, i); // two groups: 200 and 50
        RecordedTasks.PersonalAsync.AddTo(batch, script, "x@example.com"); // a task of its own
        for (var i = 250; i < 253; i++) RecordedTasks.RunAsync.AddTo(batch, script, i); // a third group
        var ids = await h.Client.EnqueueBatchAsync(batch);

        Assert.Equal(4, await RowCountAsync(h.Store, RecordFormat.LiveTable(DateTimeOffset.UtcNow)));
        var run = ids.Where((_, i) => i != 250).ToArray();
        for (var i = 0; i < run.Length; i++)
        {
            var record = (await h.Store.GetAsync(run[i]))!;
            Assert.Equal((TaskState.Enqueued, "Tasks.Core.Tests.RecordedTasks.Run", RecordedTasks.Queue), (record.State, record.TaskName, record.Queue));
            Assert.Equal(i, Number(record));
        }

        // Pages of 7 walk every task once, across the groups' edges, by the service's filter and the client's.
        async Task<List<TaskRecord>> ListAllAsync(TaskRecordQuery query)
        {
            var all = new List<TaskRecord>();
            string? token = null;
            do
            {
                var page = await h.Store.ListAsync(new TaskRecordQuery { TaskName = query.TaskName, State = query.State, PageSize = 7, ContinuationToken = token });
                all.AddRange(page.Records);
                token = page.ContinuationToken;
            }
            while (token is not null);
            return all;
        }

        var listed = await ListAllAsync(new TaskRecordQuery { TaskName = "Tasks.Core.Tests.RecordedTasks.Run" });
        Assert.Equal(run.Order(StringComparer.Ordinal), listed.Select(r => r.Id).Order(StringComparer.Ordinal));
        Assert.Equal(listed.Select(r => r.Id).Order(StringComparer.Ordinal), listed.Select(r => r.Id)); // newest first: one due time, so by id
        Assert.Equal(254, (await ListAllAsync(new TaskRecordQuery { State = TaskState.Enqueued })).Count);

        await h.Worker.StartAsync();
        var dead = await h.WaitForStateAsync(run[5], TaskState.DeadLettered);
        Assert.Equal(5, Number(dead)); // its group's part moved with it to the failed-record table
        foreach (var id in ids.Where(id => id != run[5])) await h.WaitForStateAsync(id, TaskState.Succeeded);
        await h.Worker.StopAsync();
        Assert.Equal(253, (await ListAllAsync(new TaskRecordQuery { State = TaskState.Succeeded })).Count);
        var whole = await h.Store.ListAsync(new TaskRecordQuery { PageSize = 254 });
        Assert.Equal((254, null), (whole.Records.Count, whole.ContinuationToken)); // no empty page after the last
        Assert.Equal(run[5], Assert.Single(await ListAllAsync(new TaskRecordQuery { State = TaskState.DeadLettered })).Id);
        var succeeded = (await h.Store.GetAsync(run[7]))!;
        Assert.Equal(7, Number(succeeded));
        Assert.Equal(TaskOutcome.Completed, Assert.Single(succeeded.History).Outcome);

        // A group's own id names no task: nothing reads, cancels or deletes through it.
        var operations = new TaskOperations(h.Client, h.Transport, h.Store);
        var groupId = TaskHeaders.GroupOf(run[0])!.Value.GroupId;
        Assert.Null(await h.Store.GetAsync(groupId));
        Assert.Equal(TaskCancelOutcome.NotFound, (await h.Store.CancelAsync(groupId)).Outcome);
        Assert.False(await operations.DeleteAsync(groupId));
        Assert.Equal(253, (await ListAllAsync(new TaskRecordQuery { State = TaskState.Succeeded })).Count);
        Assert.Equal(0, Number((await h.Store.GetAsync(run[0]))!));

        Assert.True(await operations.DeleteAsync(run[7]));
        Assert.True(await operations.DeleteAsync(run[5]));
        Assert.Null(await h.Store.GetAsync(run[7]));
        Assert.Null(await h.Store.GetAsync(run[5]));
        Assert.Equal(252, (await ListAllAsync(new TaskRecordQuery())).Count);
    }

    private static int Number(TaskRecord record)
    {
        using var arguments = JsonDocument.Parse(record.ArgumentsJson!);
        return arguments.RootElement.GetProperty("number").GetInt32();
    }

    private static async Task<int> RowCountAsync(IRecordTables tables, string table)
    {
        var count = 0;
        foreach (var partition in RecordFormat.RecordPartitions()) count += (await tables.QueryAsync(table, new RecordQuery(partition), default)).Count;
        return count;
    }

    [Fact]
    public async Task Lists_page_newest_first_by_continuation_token_and_filter_by_state_task_and_queue()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new InMemoryTaskRecordStore(timeProvider: time);
        var client = new TaskClient(new InMemoryTransport(time), time, records: store);
        var ids = new List<string>();
        for (var i = 0; i < 25; i++)
        {
            ids.Add(await RecordedTasks.RunAsync.Enqueue(client, "s", i));
            time.Advance(TimeSpan.FromMinutes(1));
        }

        var personal = await RecordedTasks.PersonalAsync.Enqueue(client, "s", "x@example.com");
        var pages = new List<TaskRecordPage>();
        string? token = null;
        do
        {
            var page = await store.ListAsync(new TaskRecordQuery { TaskName = "Tasks.Core.Tests.RecordedTasks.Run", PageSize = 10, ContinuationToken = token });
            pages.Add(page);
            token = page.ContinuationToken;
        }
        while (token is not null);

        Assert.Equal([10, 10, 5], pages.Select(p => p.Records.Count));
        Assert.Equal(Enumerable.Reverse(ids), pages.SelectMany(p => p.Records).Select(r => r.Id));
        Assert.Equal(26, (await store.ListAsync(new TaskRecordQuery { PageSize = 100 })).Records.Count);
        Assert.Equal(personal, Assert.Single((await store.ListAsync(new TaskRecordQuery { TaskName = "Tasks.Core.Tests.RecordedTasks.Personal" })).Records).Id);
        Assert.Empty((await store.ListAsync(new TaskRecordQuery { Queue = "elsewhere" })).Records);
        Assert.Empty((await store.ListAsync(new TaskRecordQuery { State = TaskState.Succeeded })).Records);
        Assert.Equal(26, (await store.ListAsync(new TaskRecordQuery { State = TaskState.Enqueued, PageSize = 1000 })).Records.Count);
        var window = await store.ListAsync(new TaskRecordQuery { From = time.GetUtcNow() - TimeSpan.FromMinutes(5.5), To = time.GetUtcNow() - TimeSpan.FromMinutes(1.5) });
        Assert.Equal(ids.Skip(20).Take(4).Reverse(), window.Records.Select(r => r.Id));
    }

    [Fact]
    public async Task Counts_by_state_cost_the_same_with_ten_tasks_as_with_a_thousand()
    {
        var start = DateTimeOffset.UtcNow;
        async Task<(TaskStateCounts Counts, long Operations)> CountAfter(int tasks)
        {
            await using var h = new RecordHarness();
            var script = Scripts.Add((context, _) => context.Attempt == 1 && context.MessageId.EndsWith('A') ? throw new InvalidOperationException("once") : Task.CompletedTask);
            var batch = new TaskBatch();
            for (var i = 0; i < tasks; i++) RecordedTasks.RunAsync.AddTo(batch, script, i);
            var ids = await h.Client.EnqueueBatchAsync(batch);
            await h.Worker.StartAsync();
            foreach (var id in ids) await h.WaitForStateAsync(id, TaskState.Succeeded);
            await h.Worker.StopAsync();
            var before = h.Store.Operations;
            var counts = await h.Store.CountAsync(start.AddHours(-1), start.AddHours(1));
            return (counts, h.Store.Operations - before);
        }

        var (few, fewOperations) = await CountAfter(10);
        var (many, manyOperations) = await CountAfter(1000);
        Assert.Equal((10, 10), (few.Enqueued, few.Succeeded));
        Assert.Equal((1000, 1000), (many.Enqueued, many.Succeeded));
        Assert.True(many.Retried > 0 && many.Started == 1000 + many.Retried, $"{many.Started} started, {many.Retried} retried");
        Assert.Equal(fewOperations, manyOperations);

        var perMinute = await new InMemoryTaskRecordStore().CountPerMinuteAsync(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow);
        Assert.Equal(60, perMinute.Count);
    }

    [Fact]
    public async Task Counts_of_a_window_that_ends_at_midnight_or_crosses_it_include_the_days_last_hour()
    {
        // The hour and minute rows of 23:00 sort before midnight's "00": a window ending at the day's end read none of them.
        var store = new InMemoryTaskRecordStore();
        var at = new DateTimeOffset(2026, 12, 7, 23, 20, 0, TimeSpan.Zero);
        var midnight = new DateTimeOffset(2026, 12, 8, 0, 0, 0, TimeSpan.Zero);
        var counters = new ProcessCounters(store, "w1", TimeProvider.System);
        counters.Add(ProcessCounters.EnqueuedField, at, 3);
        counters.Add(ProcessCounters.EnqueuedField, at.AddHours(-2), 2);
        counters.Add(ProcessCounters.EnqueuedField, midnight.AddMinutes(10), 4);
        await counters.WriteAsync(default);

        Assert.Equal(5, (await store.CountAsync(at.AddHours(-3), midnight)).Enqueued); // whole hours up to midnight
        Assert.Equal(3, (await store.CountAsync(at.AddMinutes(-5), midnight)).Enqueued); // minutes up to midnight
        Assert.Equal(9, (await store.CountAsync(at.AddHours(-3), at.AddHours(1))).Enqueued); // across it
        Assert.Equal(7, (await store.CountAsync(at, midnight.AddMinutes(30))).Enqueued);
    }

    [Fact]
    public async Task A_not_sent_write_that_lands_after_its_late_copy_ran_leaves_the_record_as_the_worker_wrote_it()
    {
        // Enqueue gave up on a hung queue service at its deadline and wrote "not sent" with its next flush; the
        // message arrived all the same and ran, and its worker's writes landed first, as the store woke.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = new RecordHarness(storeTime: time);
        var client = new TaskClient(h.Transport, time, records: h.Store);
        var id = await RecordedTasks.RunAsync.Enqueue(client, "s");
        var givenUpAt = time.GetUtcNow();
        time.Advance(TimeSpan.FromSeconds(16));
        var ran = new TaskAttempt(1, time.GetUtcNow(), time.GetUtcNow().AddMilliseconds(200), TaskOutcome.Completed, null, null);
        var succeeded = new RecordWrite(id) { State = TaskState.Succeeded, StateAt = time.GetUtcNow(), Attempt = 1 };
        succeeded.AddAttempt(ran);
        await h.Store.Writes.WriteAsync([succeeded], default);
        await h.Store.Writes.WriteAsync([new RecordWrite(id) { State = TaskState.Cancelled, StateAt = givenUpAt, FinishedAt = givenUpAt, Reason = EnqueueRecords.NotSentReason }], default);

        var record = (await h.Store.GetAsync(id))!;
        Assert.Equal(TaskState.Succeeded, record.State);
        Assert.Null(record.Reason);
        Assert.Equal(["tasks" + givenUpAt.ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture)], h.Store.Tables);
    }

    [Fact]
    public async Task Records_expire_by_dropping_day_tables_whole_succeeded_after_a_day_failed_after_fourteen()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero));
        await using var h = new RecordHarness(storeTime: time);
        var client = new TaskClient(h.Transport, time, records: h.Store);
        var succeeded = await RecordedTasks.RunAsync.Enqueue(client, "s");
        var failed = await RecordedTasks.RunAsync.Enqueue(client, "s");
        await h.Store.Writes.WriteAsync([new RecordWrite(succeeded) { State = TaskState.Succeeded, StateAt = time.GetUtcNow() }, new RecordWrite(failed) { State = TaskState.DeadLettered, StateAt = time.GetUtcNow() }], default);
        Assert.Equal(["tasks20261201", "tasksfailed20261201"], h.Store.Tables);

        time.Advance(TimeSpan.FromHours(37)); // 2 Dec 23:00: within a day of the end of 1 Dec
        Assert.Empty(await h.Store.ExpireAsync(default));
        time.Advance(TimeSpan.FromHours(1.5)); // 3 Dec 00:30
        Assert.Equal(["tasks20261201"], await h.Store.ExpireAsync(default));
        Assert.Null(await h.Store.GetAsync(succeeded));
        Assert.Equal(TaskState.DeadLettered, (await h.Store.GetAsync(failed))!.State);

        time.Advance(TimeSpan.FromDays(13)); // 16 Dec 00:30: fourteen days after the end of 1 Dec
        Assert.Equal(["tasksfailed20261201"], await h.Store.ExpireAsync(default));
        Assert.Null(await h.Store.GetAsync(failed));
    }

    [Fact]
    public async Task Workers_heartbeat_and_a_task_left_running_by_a_gone_worker_reads_as_enqueued()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = new RecordHarness(storeTime: time);
        var started = new TaskCompletionSource();
        var id = await RecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add(async (_, ct) => { started.SetResult(); await Task.Delay(Timeout.Infinite, ct); }));
        await h.Worker.StartAsync();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await h.WaitForStateAsync(id, TaskState.Running);
        await Harness.WaitUntil(() => h.Store.ListWorkersAsync().AsTask().Result.Any(w => w.Running.Contains(id)), "the heartbeat lists the running task");

        var worker = Assert.Single(await h.Store.ListWorkersAsync());
        Assert.True(worker.IsAlive);
        Assert.Equal([RecordedTasks.Queue], worker.Queues);
        Assert.Equal(Environment.ProcessId, worker.Worker.ProcessId);

        time.Advance(TimeSpan.FromMinutes(1)); // the worker falls silent, as a killed one does
        Assert.False(Assert.Single(await h.Store.ListWorkersAsync()).IsAlive);
        var orphan = await h.Store.GetAsync(id);
        Assert.Equal(TaskState.Enqueued, orphan!.State);
        Assert.Contains("runs again when its message's lease ends", orphan.Note);
        Assert.Contains(orphan, (await h.Store.ListAsync(new TaskRecordQuery { State = TaskState.Enqueued })).Records, new IdComparer());
    }

    [Fact]
    public async Task A_record_store_that_is_down_stops_no_task_and_its_records_catch_up()
    {
        await using var h = new RecordHarness(o => o.EnqueueWriteTimeout = TimeSpan.FromMilliseconds(200));
        h.Store.Fault = () => new TimeoutException("the table service does not answer");
        var ids = new List<string>();
        var script = Scripts.Add((_, _) => Task.CompletedTask);
        for (var i = 0; i < 20; i++) ids.Add(await RecordedTasks.RunAsync.Enqueue(h.Client, script, i));
        await h.Worker.StartAsync();
        await Harness.WaitUntil(() => h.Results.Count(r => r.Outcome == TaskOutcome.Completed) == 20, "every task runs while the store is down");

        h.Store.Fault = null;
        foreach (var id in ids) await h.WaitForStateAsync(id, TaskState.Succeeded);
        Assert.All(await Task.WhenAll(ids.Select(id => h.Store.GetAsync(id).AsTask())), r => Assert.Single(r!.History));
    }

    private sealed class IdComparer : IEqualityComparer<TaskRecord>
    {
        public bool Equals(TaskRecord? x, TaskRecord? y) => x?.Id == y?.Id;

        public int GetHashCode(TaskRecord obj) => obj.Id.GetHashCode();
    }
}
