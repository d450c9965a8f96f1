using System.Collections.Concurrent;

namespace Tasks.Azure.Tests;

[Collection(AzuriteCollection.Name)]
/// <summary>Continuations and batches on Azurite: queues and tables, real workers racing.</summary>
public sealed class AzureFlowTests(AzuriteFixture azurite)
{
    private static Payload P(string name) => new(name, [], null);

    [Fact]
    public async Task A_chain_of_three_runs_in_order_and_a_dead_lettered_parent_holds_its_continuation_until_requeued()
    {
        await using var h = new RecordedHarness(azurite);
        var ran = new ConcurrentQueue<string>();
        string Step(string name) => Scripts.Add((context, arguments, _) => { ran.Enqueue($"{name} {((Payload)arguments[0]!).Name}"); return Task.CompletedTask; });
        var chain = await h.Client.EnqueueChainAsync(AzureRecordedTasks.RunAsync.Prepare(Step("charge"), P("a")), AzureRecordedTasks.RunAsync.Prepare(Step("ship"), P("b")), AzureRecordedTasks.RunAsync.Prepare(Step("mail"), P("c")));
        var broken = true;
        var parent = await AzureRecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => broken ? throw new PermanentTaskException("the ledger is closed") : Task.CompletedTask), P("p"), new TaskEnqueueOptions { AllowContinuations = true });
        var held = await AzureRecordedTasks.RunAsync.Enqueue(h.Client, Step("held"), P("h"), new TaskEnqueueOptions { After = parent });
        await h.StartWorkerAsync();
        await h.StartWorkerAsync();

        await h.WaitForStateAsync(chain[2], TaskState.Succeeded);
        Assert.Equal(["charge a", "ship b", "mail c"], ran.Where(s => !s.StartsWith("held")).ToArray()); // in order, each with its own arguments
        await h.WaitForStateAsync(parent, TaskState.DeadLettered);
        Assert.Equal(TaskState.AwaitingParent, (await h.Store.GetAsync(held))!.State);

        broken = false;
        await h.Transport.RequeueDeadLettersAsync(AzureRecordedTasks.Queue, new DeadLetterFilter { MessageId = parent });
        await h.Store.MarkRequeuedAsync([parent]);
        await h.WaitForStateAsync(held, TaskState.Succeeded);
        Assert.Single(ran, s => s == "held h");
    }

    [Fact]
    public async Task A_cancelled_parent_cancels_its_continuations()
    {
        await using var h = new RecordedHarness(azurite);
        var chain = await h.Client.EnqueueChainAsync(AzureRecordedTasks.RunAsync.Prepare("never", P("a")), AzureRecordedTasks.RunAsync.Prepare("never", P("b")), AzureRecordedTasks.RunAsync.Prepare("never", P("c")));
        Assert.Equal(TaskCancelOutcome.Cancelled, (await h.Client.CancelAsync(chain[0])).Outcome);
        foreach (var id in chain) await h.WaitForStateAsync(id, TaskState.Cancelled);
    }

    [Theory]
    [InlineData(1000, false)] // packs of many tasks each
    [InlineData(200, true)]   // one task per message
    public async Task A_batch_fires_its_callback_exactly_once_with_four_workers_racing(int tasks, bool onePerMessage)
    {
        await using var h = new RecordedHarness(azurite);
        var callbacks = new ConcurrentQueue<string>();
        var batch = new TaskBatch { OnCompleted = AzureRecordedTasks.RunAsync.Prepare(Scripts.Add((context, _) => { callbacks.Enqueue(context.MessageId); return Task.CompletedTask; }), P("album")) };
        var work = Scripts.Add((_, _) => Task.CompletedTask);
        var payload = P(onePerMessage ? new string('x', 30_000) : "photo");
        for (var i = 0; i < tasks; i++) AzureRecordedTasks.RunAsync.AddTo(batch, work, payload);
        await h.Client.EnqueueBatchAsync(batch);
        var depth = (await h.Transport.GetDepthAsync(AzureRecordedTasks.Queue)).Messages;
        Assert.True(onePerMessage ? depth == tasks : depth < 20, $"{depth} messages for {tasks} tasks");

        for (var i = 0; i < 4; i++) await h.StartWorkerAsync();
        await AzureHarness.WaitUntil(() => !callbacks.IsEmpty, "the callback runs", 120);
        await Task.Delay(3000); // a second callback would run now
        Assert.Single(callbacks);
        var record = (await h.Store.GetBatchAsync(batch.Id!))!;
        Assert.Equal((tasks, tasks, 0), (record.Total, record.Succeeded, record.Pending));
        Assert.Equal(record.CallbackId, callbacks.Single());
    }
}

[Collection(AzuriteCollection.Name)]
/// <summary>A worker killed (SIGKILL) at the release point of a continuation, twenty times: nothing lost, nothing run twice.</summary>
public sealed class ReleaseFaultTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task A_worker_killed_at_the_release_point_twenty_times_loses_no_continuation_and_runs_none_twice()
    {
        const int Kills = 20, Chains = 40;
        using var workers = new FaultWorkers(azurite, "release");
        await workers.Start("chains", "chains.log", [Chains.ToString()]).WaitForExitAsync(TimeSpan.FromMinutes(2));
        var chains = workers.Lines("chains.log").Where(l => l[0] == "chain").ToDictionary(l => int.Parse(l[1]), l => (Parent: l[2], Child: l[3]));
        Assert.Equal(Chains, chains.Count);

        // One worker at a time, each killed the first time a release reaches its point:
        // half of them just after the parent's seal, half just after sending a continuation.
        for (var kill = 0; kill < Kills; kill++)
        {
            var worker = workers.Start("worker", $"worker{kill}.log", ["1", "2"], kill % 2 == 0 ? "sealed" : "sent");
            try
            {
                await worker.WaitForExitAsync(TimeSpan.FromMinutes(1));
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"Worker {kill} was not killed at its release point within a minute:\n{worker.Output}");
            }

            Assert.Equal(137, worker.ExitCode); // SIGKILL
        }

        var points = workers.Kills().Select(k => k.Split(' ')[0]).ToList();
        Assert.Equal((Kills / 2, Kills / 2), (points.Count(p => p == "sealed"), points.Count(p => p == "sent")));
        var last = workers.Start("worker", "last.log", ["4", "2"]);
        await FaultWorkers.WaitAsync(() => Steps(workers).Select(s => (s.N, s.Step)).Distinct().Count() == 2 * Chains, TimeSpan.FromMinutes(2), () => last.Output);
        await Task.Delay(TimeSpan.FromSeconds(6)); // a second copy would run by now (leases of 2 s)

        // A continuation sent twice is a second message that starts at attempt 1 and must not run;
        // a run cut short by a kill comes back as the same message on a later attempt, and may.
        var steps = Steps(workers);
        foreach (var (n, (parent, child)) in chains)
        {
            Assert.All(steps.Where(s => s.N == n), s => Assert.Equal(s.Step == 1 ? parent : child, s.Id));
            Assert.Contains(steps, s => s.N == n && s.Step == 1);
            Assert.Contains(steps, s => s.N == n && s.Step == 2);
            Assert.True(steps.Count(s => s.N == n && s.Step == 2 && s.Attempt == 1) <= 1, $"The continuation of chain {n} ran twice on attempt 1: sent twice, and both copies ran.");
        }
    }

    private static List<(int N, int Step, string Id, int Attempt)> Steps(FaultWorkers workers)
        => Directory.EnumerateFiles(workers.Directory, "*.log").SelectMany(f => workers.Lines(Path.GetFileName(f)))
            .Where(l => l is ["step", _, _, _, _]).Select(l => (int.Parse(l[1]), int.Parse(l[2]), l[3], int.Parse(l[4]))).ToList();
}
