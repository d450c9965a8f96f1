using System.Reflection;
using System.Text.Json;
using Tasks.Testing;

namespace Tasks.Azure.Tests;

/// <summary>The operator CLI (src/Tasks.Cli) as a process against Azurite: output, exit codes, and what it never prints.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class CliTests(AzuriteFixture azurite)
{
    internal static readonly string CliDll = typeof(CliTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "Cli").Value!;

    [Fact]
    public async Task Empty_and_missing_queues_and_refused_credentials_get_a_clear_answer_and_an_exit_code_with_no_stack_trace_or_secret()
    {
        var prefix = "cli" + Guid.NewGuid().ToString("N")[..8] + "-";

        Assert.Equal((0, $"No task queues with the prefix '{prefix}'."), await RunAsync(azurite.ConnectionString, "queues", "--prefix", prefix));
        Assert.Equal((0, "[]"), await RunAsync(azurite.ConnectionString, "queues", "--prefix", prefix, "--json"));
        var (code, output) = await RunAsync(azurite.ConnectionString, "peek", "orders", "--prefix", prefix);
        Assert.Equal((3, "error: there is no queue 'orders' (no task was ever sent to it; check --prefix)."), (code, output));

        var key = AzureStartupTests.AccountKeyOf(azurite.ConnectionString);
        (code, output) = await RunAsync(azurite.ConnectionString.Replace(key, AzureStartupTests.WrongKey), "queues");
        Assert.Equal(1, code);
        Assert.Contains("refused the credentials", output);
        Assert.DoesNotContain(AzureStartupTests.WrongKey, output);
        Assert.DoesNotContain(" at ", output.Replace(" at http", "")); // no stack frame

        (code, output) = await RunAsync(null, "queues");
        Assert.Equal(2, code);
        Assert.Contains("TASKS_AZURE_CONNECTION_STRING", output);

        (code, output) = await RunAsync(null, "queues", "--service-uri", "not a uri?sv=2024&sig=SECRET");
        Assert.Equal((2, "error: --service-uri must be an absolute URI, such as https://<account>.queue.core.windows.net."), (code, output));
        Assert.Equal((3, "error: there is no queue 'orders' (no task was ever sent to it; check --prefix)."), await RunAsync(azurite.ConnectionString, "dead", "list", "orders", "--prefix", prefix));
        Assert.Equal((2, "error: --count must be a whole number from 1 to 32, not '0'."), await RunAsync(azurite.ConnectionString, "peek", "orders", "-n", "0"));
        Assert.Equal((2, "error: --from must be a time in ISO 8601, such as 2026-11-23T07:00:00Z, not 'yesterday'."), await RunAsync(azurite.ConnectionString, "dead", "list", "orders", "--from", "yesterday"));
        Assert.Equal((2, "error: unknown option '--bogus'. Run 'tasks queues --help'."), await RunAsync(azurite.ConnectionString, "queues", "--bogus"));

        // The records' table service down, or not in the connection string: one line, no stack.
        var noTables = string.Join(';', azurite.ConnectionString.Split(';').Where(p => !p.StartsWith("TableEndpoint=", StringComparison.Ordinal)));
        (code, output) = await RunAsync(noTables.TrimEnd(';') + ";TableEndpoint=http://127.0.0.1:1/devstoreaccount1;", "list", "--since", "1h");
        Assert.Equal(1, code);
        Assert.StartsWith("error: Azure Table service at http://127.0.0.1:1/devstoreaccount1 (task records): the service did not answer", output);
        Assert.DoesNotContain("Unhandled", output);
        (code, output) = await RunAsync(noTables, "show", "some-id");
        Assert.Equal(2, code);
        Assert.Contains("names a QueueEndpoint but no TableEndpoint", output);
    }

    [Fact]
    public async Task An_operator_sees_depths_lists_and_shows_a_dead_letter_and_requeues_it_with_its_id()
    {
        await using var h = new AzureHarness(azurite);
        var broken = true;
        var ran = new List<string>();
        var flaky = Scripts.Add((context, _) =>
        {
            if (broken) throw new PermanentTaskException("customer not found");
            lock (ran) ran.Add(context.MessageId);
            return Task.CompletedTask;
        });
        var id = await AzureTasks.RunAsync.Enqueue(h.Client, flaky);
        await h.NewWorker().RunOnceAsync();

        var (code, output) = await RunAsync(azurite.ConnectionString, "queues", "--prefix", h.Prefix, "--json");
        Assert.Equal(0, code);
        var depth = Assert.Single(JsonDocument.Parse(output).RootElement.EnumerateArray());
        Assert.Equal((AzureTasks.Queue, 0, 1), (depth.GetProperty("queue").GetString(), depth.GetProperty("messages").GetInt32(), depth.GetProperty("deadLetters").GetInt32()));

        (code, output) = await RunAsync(azurite.ConnectionString, "dead", "list", AzureTasks.Queue, "--prefix", h.Prefix);
        Assert.Equal(0, code);
        Assert.Matches($@"MESSAGE ID\s+TASK\s+ATTEMPT\s+DEAD-LETTERED AT\s+REASON\n{id}\s+{AzureTasks.RunAsync.Definition.Name}\s+1\s+\S+ \S+\s+Task '.*' failed permanently on attempt 1: customer not found", output);

        (code, output) = await RunAsync(azurite.ConnectionString, "dead", "show", AzureTasks.Queue, "--id", id, "--prefix", h.Prefix, "--json");
        Assert.Equal(0, code);
        Assert.Equal(flaky, JsonDocument.Parse(output).RootElement.GetProperty("arguments")[0].GetString());
        Assert.Equal(0, (await RunAsync(azurite.ConnectionString, "dead", "show", AzureTasks.Queue, id, "--prefix", h.Prefix)).Code); // the id by position too

        Assert.Equal((2, "error: say which dead letters to requeue (--id, --task, --reason, --from, --to), or --all, not both."), await RunAsync(azurite.ConnectionString, "dead", "requeue", AzureTasks.Queue, "--prefix", h.Prefix));
        Assert.Equal((3, $"error: no dead letter 'nope' in '{AzureTasks.Queue}'."), await RunAsync(azurite.ConnectionString, "dead", "requeue", AzureTasks.Queue, "--id", "nope", "--prefix", h.Prefix));
        broken = false;
        Assert.Equal((0, $"Requeued 1 dead letter(s) of '{AzureTasks.Queue}':\n  {id}"), await RunAsync(azurite.ConnectionString, "dead", "requeue", AzureTasks.Queue, "--id", id, "--prefix", h.Prefix));
        await h.NewWorker().RunOnceAsync();
        Assert.Equal([id], ran);
        Assert.Equal((0, $"No dead letters in '{AzureTasks.Queue}'."), await RunAsync(azurite.ConnectionString, "dead", "list", AzureTasks.Queue, "--prefix", h.Prefix));
    }

    [Fact]
    public async Task An_operator_shows_lists_cancels_and_deletes_tasks_by_id_and_sees_the_workers()
    {
        await using var h = new RecordedHarness(azurite);
        var name = AzureRecordedTasks.RunAsync.Definition.Name;
        var dead = await AzureRecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => throw new PermanentTaskException("customer <42> not found")), new Payload("p", [1], null));
        var later = await AzureRecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => Task.CompletedTask), new Payload("later", [], null), new TaskEnqueueOptions { Delay = TimeSpan.FromHours(1) });
        await h.StartWorkerAsync();
        await h.WaitForStateAsync(dead, TaskState.DeadLettered);
        await AzureHarness.WaitUntil(async () => (await h.Store.ListWorkersAsync()).Count == 1, "the worker's heartbeat");
        string[] At(params string[] arguments) => [.. arguments, "--prefix", h.Prefix];

        var (code, output) = await RunAsync(azurite.ConnectionString, At("show", dead));
        Assert.Equal(0, code);
        Assert.Matches(@"state\s+DeadLettered", output);
        Assert.Matches(@"reason\s+Task '.*' failed permanently on attempt 1: customer <42> not found", output);
        Assert.Matches($@"ATTEMPT .*\n1\s+\S+ \S+\s+\d+\.\d+ s\s+DeadLettered\s+\S+/{Environment.ProcessId}\s+Tasks.PermanentTaskException: customer <42> not found", output);
        (code, output) = await RunAsync(azurite.ConnectionString, At("show", dead, "--json"));
        var json = JsonDocument.Parse(output).RootElement;
        Assert.Equal(("DeadLettered", "later"), (json.GetProperty("state").GetString(), JsonDocument.Parse((await RunAsync(azurite.ConnectionString, At("show", later, "--json"))).Output).RootElement.GetProperty("arguments").GetProperty("payload").GetProperty("Name").GetString()));
        Assert.Equal("customer <42> not found", json.GetProperty("history")[0].GetProperty("exception").GetProperty("message").GetString());
        Assert.Equal((3, $"error: there is no record of task 'nope' (never enqueued with records on, or expired; check --prefix)."), await RunAsync(azurite.ConnectionString, At("show", "nope")));

        (code, output) = await RunAsync(azurite.ConnectionString, At("list", "--state", "failed", "--task", name, "--since", "1h"));
        Assert.Equal(0, code);
        Assert.Matches($@"ID\s+TASK\s+STATE\s+ATTEMPTS\s+DUE\s+FINISHED\n{dead}\s+{name}\s+DeadLettered\s+1/2", output);
        var first = JsonDocument.Parse((await RunAsync(azurite.ConnectionString, At("list", "--json", "-n", "1"))).Output).RootElement;
        Assert.Equal(later, first.GetProperty("records")[0].GetProperty("id").GetString()); // due in an hour: the newest
        var second = JsonDocument.Parse((await RunAsync(azurite.ConnectionString, At("list", "--json", "-n", "1", "--continue", first.GetProperty("continuationToken").GetString()!))).Output).RootElement;
        Assert.Equal(dead, second.GetProperty("records")[0].GetProperty("id").GetString());
        Assert.Equal((2, "error: --state must be one of scheduled, enqueued, running, retrying, succeeded, failed, cancelled; not 'lost'."), await RunAsync(azurite.ConnectionString, At("list", "--state", "lost")));

        Assert.Equal((0, $"Task {later} is cancelled: it will not run."), await RunAsync(azurite.ConnectionString, At("cancel", later)));
        Assert.Equal(TaskState.Cancelled, (await h.Store.GetAsync(later))!.State);
        Assert.Equal((4, $"Task {dead} has already finished (DeadLettered); nothing was changed."), await RunAsync(azurite.ConnectionString, At("cancel", dead)));
        Assert.Equal(3, (await RunAsync(azurite.ConnectionString, At("cancel", TaskHeaders.NewMessageId()))).Code);
        Assert.Equal((0, $"Task {later} is deleted."), await RunAsync(azurite.ConnectionString, At("delete", later)));
        Assert.Null(await h.Store.GetAsync(later));
        Assert.Equal((3, $"There was nothing of task {later} to delete."), await RunAsync(azurite.ConnectionString, At("delete", later)));

        (code, output) = await RunAsync(azurite.ConnectionString, At("workers"));
        Assert.Equal(0, code);
        Assert.Matches($@"MACHINE\s+PROCESS\s+ALIVE\s+LAST SEEN\s+QUEUES\s+RUNNING\n\S+\s+{Environment.ProcessId}\s+yes\s+\S+ \S+\s+{AzureRecordedTasks.Queue}", output);

        // A requeue from the CLI tells the records: the task reads Enqueued until it runs again.
        Assert.Equal(0, (await RunAsync(azurite.ConnectionString, At("dead", "requeue", AzureRecordedTasks.Queue, "--id", dead))).Code);
        Assert.NotEqual(TaskState.DeadLettered, (await h.Store.GetAsync(dead))!.State);
    }

    [Fact]
    public async Task An_operator_pauses_and_resumes_a_queue_and_sees_the_limits_in_use()
    {
        await using var h = new AzureHarness(azurite);
        await AzureTasks.RunAsync.Enqueue(h.Client, "x"); // the queue exists
        string[] At(params string[] arguments) => [.. arguments, "--prefix", h.Prefix];

        Assert.Equal((0, $"Queue '{AzureTasks.Queue}' is paused: every worker stops receiving from it within 5 s (its PauseCheckInterval); its messages wait untouched. 'tasks resume {AzureTasks.Queue}' restarts it."), await RunAsync(azurite.ConnectionString, At("pause", AzureTasks.Queue)));
        Assert.Equal([AzureTasks.Queue], (await h.Transport.ListPausedAsync()).Select(p => p.Queue));
        var (code, output) = await RunAsync(azurite.ConnectionString, At("queues"));
        Assert.Equal(0, code);
        Assert.Matches($@"QUEUE\s+MESSAGES\s+DEAD LETTERS\s+PAUSED\n{AzureTasks.Queue}\s+1\s+0\s+since \S+ \S+", output);
        Assert.Equal((3, "error: there is no queue 'nope' (no task was ever sent to it; check --prefix)."), await RunAsync(azurite.ConnectionString, At("pause", "nope")));
        Assert.Equal((0, $"Queue '{AzureTasks.Queue}' is resumed: every worker receives from it again within 5 s."), await RunAsync(azurite.ConnectionString, At("resume", AzureTasks.Queue)));
        Assert.Empty(await h.Transport.ListPausedAsync());
        Assert.Equal((0, $"Queue '{AzureTasks.Queue}' was not paused; nothing changed."), await RunAsync(azurite.ConnectionString, At("resume", AzureTasks.Queue)));

        Assert.Equal((0, "No limit has a place held or a task waiting."), await RunAsync(azurite.ConnectionString, At("limits")));
        ITaskLimitStore limits = h.Transport;
        var scope = new LimitScope(TaskLimitKind.Concurrency, "invoices", "42", 1);
        var now = DateTimeOffset.UtcNow;
        Assert.NotNull((await limits.TryAcquireAsync(scope, new LimitHolder("task-a", "Shop.Invoice", "worker-1", now), now, now.AddMinutes(1), default)).Place);
        Assert.Null((await limits.TryAcquireAsync(scope, new LimitHolder("task-b", "Shop.Invoice", "worker-2", now), now, now.AddMinutes(1), default)).Place);
        await limits.NoteWaiterAsync(scope, new LimitWaiter("task-b", "Shop.Invoice", now, now.AddSeconds(5)), default);
        (code, output) = await RunAsync(azurite.ConnectionString, At("limits"));
        Assert.Equal(0, code);
        Assert.Matches(@"LIMIT\s+KEY\s+KIND\s+HELD\s+HOLDERS\s+WAITING\s+WAITING SINCE\ninvoices\s+42\s+concurrency\s+1/1\s+task-a on worker-1\s+1\s+\S+ \S+", output);
        var json = JsonDocument.Parse((await RunAsync(azurite.ConnectionString, At("limits", "--json"))).Output).RootElement.EnumerateArray().Single();
        Assert.Equal(("task-a", "task-b"), (json.GetProperty("held")[0].GetProperty("taskId").GetString(), json.GetProperty("waiting")[0].GetProperty("taskId").GetString()));
    }

    [Fact]
    public async Task An_operator_sees_a_continuation_wait_for_its_parent_and_a_batch_progress()
    {
        await using var h = new RecordedHarness(azurite);
        string[] At(params string[] arguments) => [.. arguments, "--prefix", h.Prefix];
        var chain = await h.Client.EnqueueChainAsync(AzureRecordedTasks.RunAsync.Prepare("never", new Payload("charge", [], null)), AzureRecordedTasks.RunAsync.Prepare("never", new Payload("ship", [], null)));
        var (code, output) = await RunAsync(azurite.ConnectionString, At("show", chain[1]));
        Assert.Equal(0, code);
        Assert.Matches(@"state\s+AwaitingParent", output);
        Assert.Matches($@"after\s+{chain[0]} \(waiting for it\)", output);
        Assert.Matches($@"continuations\s+{chain[1]}", (await RunAsync(azurite.ConnectionString, At("show", chain[0]))).Output);

        var done = Scripts.Add((_, _) => Task.CompletedTask);
        var batch = new TaskBatch { OnCompleted = AzureRecordedTasks.RunAsync.Prepare(done, new Payload("album", [], null)) };
        for (var i = 0; i < 3; i++) AzureRecordedTasks.RunAsync.AddTo(batch, done, new Payload("photo", [], null));
        await h.Client.EnqueueBatchAsync(batch);
        (code, output) = await RunAsync(azurite.ConnectionString, At("batch", batch.Id!));
        Assert.Equal(0, code);
        Assert.Matches(@"progress\s+0 of 3 finished \(0%\)", output);
        Assert.Matches(@"pending\s+3", output);
        Assert.Matches(@"callback\s+\S+ \(not yet enqueued\)", output);

        await h.StartWorkerAsync();
        await AzureHarness.WaitUntil(async () => (await h.Store.GetBatchAsync(batch.Id!))?.CallbackSentAt is not null, "the batch's callback");
        var json = JsonDocument.Parse((await RunAsync(azurite.ConnectionString, At("batch", batch.Id!, "--json"))).Output).RootElement;
        Assert.Equal((3, 3, 0), (json.GetProperty("total").GetInt32(), json.GetProperty("succeeded").GetInt32(), json.GetProperty("pending").GetInt32()));
        Assert.Equal(3, (await RunAsync(azurite.ConnectionString, At("batch", TaskHeaders.NewMessageId()))).Code);
        Assert.Equal((3, $"error: '{batch.Id}' is a batch, not a task: tasks batch {batch.Id}"), await RunAsync(azurite.ConnectionString, At("show", batch.Id!)));
    }

    [Fact]
    public async Task Watch_of_a_task_prints_its_events_one_per_line_and_ends_with_its_last()
    {
        await using var h = new AzureHarness(azurite);
        var store = new AzureTableTaskRecordStore(h.TransportOptions);
        var id = await AzureTasks.RunAsync.Enqueue(new TaskClient(h.Transport, records: store), Scripts.Add((_, _) => Task.CompletedTask));
        var options = new TaskWorkerOptions();
        options.Queues.Add(AzureTasks.Queue);
        await using (var worker = new TaskWorker(h.Transport, options, records: store)) await worker.RunOnceAsync(); // its records written as it is disposed

        var (code, output) = await RunAsync(azurite.ConnectionString, "watch", "--id", id, "--prefix", h.Prefix, "--json");
        Assert.Equal(0, code);
        var events = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(["Enqueued", "Started", "Succeeded"], events.Select(e => e.GetProperty("kind").GetString()));
        Assert.All(events, e => Assert.Equal(id, e.GetProperty("taskId").GetString()));
        Assert.Equal(1, events[1].GetProperty("attempt").GetInt32());
        Assert.True(events[2].GetProperty("isFinal").GetBoolean());
        Assert.Equal((3, "error: there is no record of task 'nope' (never enqueued with records on, or expired; check --prefix)."), await RunAsync(azurite.ConnectionString, "watch", "--id", "nope", "--prefix", h.Prefix));

        (code, output) = await RunAsync(azurite.ConnectionString, "watch", "--id", id, "--prefix", h.Prefix);
        Assert.Equal(0, code);
        Assert.Matches($@"Watching task {id} until it ends \(Ctrl-C to stop\)\.\n\S+ \S+  {id}  {AzureTasks.RunAsync.Definition.Name}\s+Enqueued\n.*Started\s+attempt 1\n.*Succeeded\s+attempt 1$", output);
    }

    internal static async Task<(int Code, string Output)> RunAsync(string? connectionString, params string[] arguments)
    {
        var environment = new Dictionary<string, string> { ["TASKS_AZURE_CONNECTION_STRING"] = connectionString ?? "" };
        using var cli = ChildProcess.Start("dotnet", [CliDll, .. arguments], Path.GetTempPath(), environment);
        await cli.WaitForExitAsync(TimeSpan.FromMinutes(1));
        return (cli.ExitCode, cli.Output.Trim());
    }
}
