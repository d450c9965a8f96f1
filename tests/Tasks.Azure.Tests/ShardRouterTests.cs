using System.Collections.Concurrent;
using System.Diagnostics;
using Azure.Storage.Queues;
using Microsoft.Extensions.Logging.Abstractions;

namespace Tasks.Azure.Tests;

/// <summary>
/// The shard router over four shards in two accounts (two Azurite processes of this class's own): when one account stops
/// answering (SIGSTOP: connections open, no answer), sends go to the other account's shards and every shard of the silent
/// account is tried last; a receive skips them; once the account answers and their rest is over, they are used again.
/// A send given up there and sent again elsewhere may still land when the account wakes: that copy is dropped by the
/// worker. The same failover under load, as processes, is in <see cref="ShardFaultTests"/>.
/// </summary>
public sealed class ShardRouterTests : IAsyncLifetime
{
    private const string Queue = AzureTasks.Queue;
    private AzuriteProcess main = null!;
    private AzuriteProcess other = null!;

    public async Task InitializeAsync() => (main, other) = (await AzuriteProcess.StartAsync(tables: true), await AzuriteProcess.StartAsync());

    public async Task DisposeAsync()
    {
        await other.ResumeAsync();
        await other.DisposeAsync();
        await main.DisposeAsync();
    }

    /// <summary>Whichever deadline runs out first, the shard's own or its account's, the account's shards are rested together.</summary>
    [Theory]
    [InlineData(2, 5)]
    [InlineData(4, 2)]
    public async Task A_silent_account_is_tried_last_and_its_shards_are_used_again_once_it_answers(int shardTimeoutSeconds, int requestTimeoutSeconds)
    {
        var shardTimeout = TimeSpan.FromSeconds(shardTimeoutSeconds);
        var options = Options("r" + Guid.NewGuid().ToString("N")[..8] + "-", o => (o.ShardTimeout, o.RequestTimeout) = (shardTimeout, TimeSpan.FromSeconds(requestTimeoutSeconds)));
        var clients = new AzureClients(options, null);
        ShardAccount[] accounts = [new(0, clients.MainQueues()), new(1, clients.ShardQueues(0))];
        var router = new ShardRouter(accounts, options, q => options.QueuePrefix + q, new QueueCallGuard(accounts[0].Endpoint), (_, _, _) => Task.CompletedTask, NullLogger.Instance, TimeProvider.System);
        await router.CheckAsync(Queue, CancellationToken.None);
        var shards = Enumerable.Range(0, 4).Select(k => accounts[k % 2].Service.GetQueueClient(options.QueuePrefix + Queue + (k == 0 ? "" : $"-{k}"))).ToArray();

        // Both accounts answer: the shards in turn.
        for (var n = 0; n < 8; n++) await SendAsync(router, n);
        Assert.Equal(new[] { 2, 2, 2, 2 }, await CountsAsync(shards));

        // The other account (shards 1 and 3) hangs: one send waits out a deadline, then both its shards rest and every
        // later send goes to the account that answers, at once.
        await other.PauseAsync();
        var took = new List<TimeSpan>();
        for (var n = 8; n < 20; n++) took.Add(await SendAsync(router, n));
        var waited = took.Count(t => t >= TimeSpan.FromSeconds(Math.Min(shardTimeoutSeconds, requestTimeoutSeconds)) * 0.9);
        Assert.True(waited == 1, $"one send waits out a deadline, not one per silent shard: {string.Join(", ", took.Select(t => t.TotalMilliseconds.ToString("0")))} ms");
        Assert.Equal(4 + 12, (await CountsAsync(shards[0], shards[2])).Sum());

        // A receive from a silent shard fails within its account's deadline, and the account is known to be silent.
        var silentShard = $"{shards[1].Name} at {accounts[1].Endpoint}";
        await Assert.ThrowsAsync<TaskTransportException>(() => router.ReceiveAsync(Queue, silentShard, 32, TimeSpan.FromSeconds(30), CancellationToken.None).AsTask());
        Assert.True(accounts[1].Guard.IsOpen);

        // A receive skips the silent account's shards: it finds messages on those that answer, without waiting out a
        // deadline (the bound is loose: the full suite loads 2 cores); they are no copies.
        var receiving = Stopwatch.StartNew();
        var received = await router.ReceiveAnyAsync(Queue, 32, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.True(receiving.Elapsed < TimeSpan.FromSeconds(4), $"a receive took {receiving.Elapsed.TotalSeconds:0.0} s");
        Assert.NotEmpty(received);
        Assert.All(received, m => Assert.Equal(shards[0].Uri.Port, ((AzureReceivedMessage)m).Client.Uri.Port));
        Assert.All(received, m => Assert.False(m.MayBeCopy));

        // The account answers again: once the rest is over and its guard has seen it answer, its shards take their turn
        // again (a send given up at the deadline may land now: counted from here on), and what they give may be copies.
        await other.ResumeAsync();
        var back = Stopwatch.StartNew();
        while (accounts[1].Guard.IsOpen || back.Elapsed < shardTimeout * 2)
        {
            Assert.True(back.Elapsed < TimeSpan.FromSeconds(15), "the other account's guard saw it answer again within 15 s");
            await Task.Delay(100);
        }

        var before = await CountsAsync(shards[1], shards[3]);
        for (var n = 20; n < 28; n++) await SendAsync(router, n);
        Assert.Equal(4, (await CountsAsync(shards[1], shards[3])).Sum() - before.Sum());
        // (From shard 3: the receive given up on shard 1 may be applied as the service wakes, hiding its messages for a lease.)
        var fromOther = await router.ReceiveAsync(Queue, $"{shards[3].Name} at {accounts[1].Endpoint}", 32, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.NotEmpty(fromOther);
        Assert.All(fromOther, m => Assert.True(m.MayBeCopy));
    }

    [Fact]
    public async Task A_send_given_up_on_a_silent_account_and_sent_again_elsewhere_runs_once_when_its_first_copy_lands_later()
    {
        var options = Options("c" + Guid.NewGuid().ToString("N")[..8] + "-", o => o.ShardTimeout = TimeSpan.FromSeconds(1));
        var transport = new AzureQueueTransport(options);
        var store = new AzureTableTaskRecordStore(options, new TaskRecordOptions { FlushInterval = TimeSpan.FromMilliseconds(100) });
        var client = new TaskClient(transport, records: store);
        var workerOptions = new TaskWorkerOptions { MinPollingInterval = TimeSpan.FromMilliseconds(20), MaxPollingInterval = TimeSpan.FromMilliseconds(200), LeaseDuration = TimeSpan.FromSeconds(5) };
        workerOptions.Queues.Add(Queue);
        await using var worker = new TaskWorker(transport, workerOptions, records: store);
        var skipped = new ConcurrentQueue<string>();
        worker.TaskRan += r => { if (r.Outcome == TaskOutcome.Skipped) skipped.Enqueue(r.MessageId); };
        await worker.StartAsync();

        // The other account hangs while tasks are enqueued: the send to its shard is given up after the shard timeout and
        // sent to a shard that answers; its first copy waits in the hung service.
        var run = Guid.NewGuid().ToString("N");
        await other.PauseAsync();
        var ids = new List<string>();
        for (var n = 0; n < 6; n++) ids.Add(await AzureTasks.CountAsync.Enqueue(client, run, n));
        await AzureHarness.WaitUntil(() => AzureTasks.Counts.TryGetValue(run, out var ran) && ran.Count == 6, "every task ran on the account that answers");
        await Task.Delay(TimeSpan.FromSeconds(6)); // the worker's receives from the hung account find it silent

        // It wakes: the first copy may land (the service may apply the send it was given, or drop it with the closed
        // connection). One that lands is received as a first delivery from an account that was silent (or, if the
        // service also applied a receive the worker had given up, as a second delivery once that lease ends); either
        // way the worker reads its record, finds it ended, and drops it. Waited for: the hung account's shards empty.
        await other.ResumeAsync();
        var otherShards = new[] { 1, 3 }.Select(k => new QueueClient(other.ConnectionString, options.QueuePrefix + Queue + "-" + k)).ToArray();
        await AzureHarness.WaitUntil(async () => (await CountsAsync(otherShards)).Sum() == 0, "the hung account's shards are drained", seconds: 90);
        await Task.Delay(TimeSpan.FromSeconds(2));

        Assert.All(AzureTasks.Counts[run].Values, times => Assert.Equal(1, times));
        Assert.All(skipped, id => Assert.Contains(id, ids));
        foreach (var id in ids) Assert.Equal(TaskState.Succeeded, (await store.GetAsync(id))!.State);
    }

    private AzureQueueOptions Options(string prefix, Action<AzureQueueOptions> configure)
    {
        var options = new AzureQueueOptions { ConnectionString = main.ConnectionString, QueuePrefix = prefix, ShardAccounts = [other.ConnectionString], Shards = { [Queue] = 4 } };
        configure(options);
        return options;
    }

    private static async Task<TimeSpan> SendAsync(ShardRouter router, int n)
    {
        var started = Stopwatch.StartNew();
        await router.SendAsync(Queue, new OutgoingTaskMessage($"m{n}", new byte[] { 0x90 }, TimeSpan.Zero, null), CancellationToken.None);
        return started.Elapsed;
    }

    private static async Task<int[]> CountsAsync(params QueueClient[] queues)
        => await Task.WhenAll(queues.Select(async q => (int)(await q.GetPropertiesAsync()).Value.ApproximateMessagesCount));
}
