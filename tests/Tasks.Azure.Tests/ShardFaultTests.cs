using Azure.Storage.Queues;
using Xunit.Abstractions;

namespace Tasks.Azure.Tests;

/// <summary>
/// Sharded queues under load, as processes (tests/Fixtures/Tasks.Fixtures.FaultWorker): the fault queue
/// over four shards in two "accounts", each a fresh Azurite process on its own ports. Every scenario
/// reports its figures and asserts that no acknowledged task is lost.
/// </summary>
[Collection(AzuriteCollection.Name)]
[Trait("Category", "Fault")]
public sealed class ShardFaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Four_shards_in_two_accounts_run_20000_tasks_exactly_once_with_three_workers()
    {
        await using var run = await FaultRun.StartAsync(accounts: 2);
        run.ShardFaultQueue(4);
        run.PatientCalls(30); // in the full suite Azurite answered some calls only after a minute under this load
        // Leases of 30 s, so a loaded machine seldom outlives one (a worker that does logs it, below).
        for (var i = 0; i < 3; i++) run.StartWorker(maxConcurrency: 32, leaseSeconds: 30);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // A caller tries a failed enqueue again, as a web API's client retries a 503: on 2 cores shared by a dozen
        // processes, every shard once stayed silent longer than a send waits (CI, stop 27), and that enqueue failed; in the full suite of this stop an account answered the producer nothing for 88 s: it retries for five minutes.
        var producer = await run.ProduceAsync(first: 1, count: 20_000, producers: 4, retries: 150);
        await run.WaitAsync(r => r.DistinctRan >= 20_000, "20,000 tasks ran", TimeSpan.FromMinutes(8));
        var elapsed = clock.Elapsed;

        // Spread in turn: each shard was sent a quarter, and the transport counts them as one queue. A shard that
        // did not answer a send in time rests (sends skip it for a while), so the spread is even only where none did.
        var transport = Transport(run, shards: 4);
        var name = transport.QueueName("fault");
        var sends = new[] { run.Azurite.SendsTo(name), run.MoreAccounts[0].SendsTo(name + "-1"), run.Azurite.SendsTo(name + "-2"), run.MoreAccounts[0].SendsTo(name + "-3") };
        var rests = CountOf(producer.Output, "sends go to the other shards, and try that account's shards last");
        if (rests == 0) Assert.All(sends, count => Assert.InRange(count, sends.Average() * 0.9, sends.Average() * 1.1));
        else Assert.All(sends, count => Assert.True(count >= sends.Sum() / 8, $"a shard was sent {count} of {sends.Sum()}: after a rest it takes its turn again ({string.Join(" / ", sends)})"));
        var resent = sends.Sum() - 20_000; // a send the service was slow to answer goes again, to the next shard (and a failed enqueue may have been sent)
        var listed = await transport.ListQueuesAsync();
        Assert.Contains("fault", listed);
        Assert.DoesNotContain(listed, q => System.Text.RegularExpressions.Regex.IsMatch(q, @"^fault-\d+$"));

        var records = run.Read();
        var unsettled = run.Unsettled();
        FaultRun.Report(output, "4 shards in 2 accounts, 3 workers", records, 20_000, $"sent per shard {string.Join(" / ", sends)} ({rests} rests of a shard, {resent} sent again after no answer in time, {records.Retried} enqueues tried again by the caller, {unsettled.Count} not settled in time); {20_000 / elapsed.TotalSeconds:0} tasks/s end to end");
        Assert.Equal(0, records.Lost);

        // A task runs twice where its message was sent twice, or where a worker could not delete it in time (it
        // logs that): at least once, never silently more.
        var unexplained = records.Ran.GroupBy(r => r.Id).Count(g => g.Count() > 1 && !unsettled.Contains(g.Key));
        Assert.True(unexplained <= resent, $"{unexplained} tasks ran twice with no worker losing their lease, but only {resent} messages were sent twice: a message was delivered twice");
        await AzureHarness.WaitUntil(async () => (await transport.GetDepthAsync("fault")).Messages == 0, "the copies sent twice and the messages not settled in time are run and deleted", seconds: 90);
    }

    [Fact]
    public async Task One_accounts_Azurite_paused_for_20_s_loses_nothing_and_the_other_shards_keep_flowing()
    {
        await using var run = await FaultRun.StartAsync(accounts: 2);
        run.ShardFaultQueue(4);
        run.StartWorker(maxConcurrency: 32);
        run.StartWorker(maxConcurrency: 32);
        var producing = run.StartProducer(first: 1, count: 6_000, producers: 4, retries: 30); // a caller retries a transient failure: in the full suite both Azurite accounts went silent for up to 20 s under load, and every call has a deadline
        await run.WaitAsync(r => r.DistinctRan >= 500, "500 tasks ran before the pause");

        await run.MoreAccounts[0].PauseAsync();
        var atPause = run.Read().DistinctRan;
        await Task.Delay(TimeSpan.FromSeconds(20));
        var duringPause = run.Read().DistinctRan - atPause;
        await run.MoreAccounts[0].ResumeAsync();

        await producing.WaitForExitAsync(FaultRun.Patience);
        var acknowledged = run.Read().Acknowledged.Count;
        await run.WaitAsync(r => r.Lost == 0, "every acknowledged task ran after the pause");

        var records = run.Read();
        FaultRun.Report(output, "1 of 2 accounts paused 20 s (shards 1 and 3)", records, acknowledged, $"{duringPause} tasks ran during the pause; {records.Failed} enqueue(s) failed");
        Assert.Equal(6_000, records.Acknowledged.Count + records.Failed);
        // A send to a silent shard goes to another. Since every call has a deadline (RequestTimeout), a caller can be told
        // an enqueue failed after its retries while this 2-core machine runs 6,000 tasks over three Azurite processes
        // (twice in 6,000 in one run of this stop, cause not yet found): told, never lost (asserted above and below).
        Assert.True(records.Failed <= 3, $"{records.Failed} enqueues failed after their retries");
        Assert.True(duringPause >= 500, $"only {duringPause} tasks ran in the 20 s the second account was paused: the shards of the first should have kept flowing");
        Assert.Equal(0, records.Lost);
    }

    [Fact]
    public async Task Changing_the_count_from_4_to_2_mid_run_loses_nothing()
    {
        await using var run = await FaultRun.StartAsync(accounts: 2);
        run.ShardFaultQueue(4);
        run.PatientCalls(30);
        var before = run.StartWorker(maxConcurrency: 1);
        await run.ProduceAsync(first: 1, count: 4_000, producers: 4, retries: 30);
        await run.WaitAsync(r => r.DistinctRan >= 300, "300 tasks ran with the count at 4");

        // A new release with half the shards: the old worker stops, new ones write 2 shards and drain all 4.
        await before.SignalAsync("TERM");
        await before.WaitForExitAsync(TimeSpan.FromSeconds(30));
        var ranAtFour = run.Read().DistinctRan;
        var transport = Transport(run, shards: 2);
        var waiting = await ShardCountsAsync(run, transport, 4);
        Assert.True(waiting[2] > 0 && waiting[3] > 0, $"shards 2 and 3 should still hold tasks when the count changes: {string.Join(" / ", waiting)}");
        run.ShardFaultQueue(2);
        var after = new[] { run.StartWorker(maxConcurrency: 32), run.StartWorker(maxConcurrency: 32) };
        await run.StartProducer(first: 4_001, count: 2_000, producers: 4, retries: 30).WaitForExitAsync(FaultRun.Patience);
        Assert.Equal(6_000, run.Read().Acknowledged.Count);
        await run.WaitAsync(r => r.DistinctRan >= 6_000, "every task of both counts ran");

        var records = run.Read();
        FaultRun.Report(output, "shard count 4 → 2 mid-run", records, 6_000, $"{ranAtFour} ran before the change, shards then held {string.Join(" / ", waiting)}");
        Assert.Equal(0, records.Lost);
        Assert.Contains(after, worker => worker.Output.Contains("from 4 shard(s)", StringComparison.Ordinal)); // logged when it found them
        await AzureHarness.WaitUntil(async () => (await transport.GetDepthAsync("fault")).Messages == 0, "the copies sent twice and the messages not settled in time are run and deleted", seconds: 90);
        var left = await ShardCountsAsync(run, transport, 4);
        Assert.Equal(new[] { 0, 0, 0, 0 }, left);
    }

    private static int CountOf(string text, string part) => text.Split(part).Length - 1;

    /// <summary>The test's own view of the queues, for its checks: a new transport has seen no answer to tell a busy Azurite from a hung one, so it waits up to 30 s a call.</summary>
    private static AzureQueueTransport Transport(FaultRun run, int shards) => new(new AzureQueueOptions
    {
        ConnectionString = run.Azurite.ConnectionString,
        QueuePrefix = run.Prefix,
        Shards = { ["fault"] = shards },
        ShardAccounts = [.. run.MoreAccounts.Select(a => a.ConnectionString)],
        RequestTimeout = TimeSpan.FromSeconds(30),
    });

    private static async Task<int[]> ShardCountsAsync(FaultRun run, AzureQueueTransport transport, int count)
    {
        var counts = new int[count];
        for (var k = 0; k < count; k++)
        {
            var account = k % 2 == 0 ? run.Azurite : run.MoreAccounts[0];
            counts[k] = (await new QueueClient(account.ConnectionString, transport.QueueName("fault") + (k == 0 ? "" : $"-{k}")).GetPropertiesAsync()).Value.ApproximateMessagesCount;
        }

        return counts;
    }
}
