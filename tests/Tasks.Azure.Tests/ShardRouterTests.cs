using System.Diagnostics;
using Azure.Storage.Queues;
using Microsoft.Extensions.Logging.Abstractions;

namespace Tasks.Azure.Tests;

/// <summary>
/// The shard router alone, over four shards in two accounts (two Azurite processes of this class's own): when one
/// account stops answering (SIGSTOP: connections open, no answer), sends go to the other account's shards and the
/// silent shards are tried last; a receive skips them; once the account answers and their rest is over, they are
/// used again. The same failover under load, as processes, is in <see cref="ShardFaultTests"/>.
/// </summary>
public sealed class ShardRouterTests : IAsyncLifetime
{
    private const string Queue = "work";
    private static readonly TimeSpan ShardTimeout = TimeSpan.FromSeconds(1);
    private AzuriteProcess main = null!;
    private AzuriteProcess other = null!;

    public async Task InitializeAsync() => (main, other) = (await AzuriteProcess.StartAsync(), await AzuriteProcess.StartAsync());

    public async Task DisposeAsync()
    {
        await other.ResumeAsync();
        await other.DisposeAsync();
        await main.DisposeAsync();
    }

    [Fact]
    public async Task A_silent_account_is_tried_last_and_its_shards_are_used_again_once_it_answers()
    {
        var options = new AzureQueueOptions
        {
            ConnectionString = main.ConnectionString,
            ShardAccounts = [other.ConnectionString],
            Shards = { [Queue] = 4 },
            ShardTimeout = ShardTimeout,
        };
        var clients = new AzureClients(options, null);
        static QueueClientOptions Envelopes() => new() { MessageEncoding = QueueMessageEncoding.Base64 };
        ShardAccount[] accounts = [new(0, clients.MainQueues(Envelopes)), new(1, clients.ShardQueues(0, Envelopes))];
        var router = new ShardRouter(accounts, options, q => q, new QueueCallGuard(accounts[0].Endpoint), NullLogger.Instance, TimeProvider.System);
        await router.CheckAsync(Queue, CancellationToken.None);
        var shards = Enumerable.Range(0, 4).Select(k => accounts[k % 2].Envelopes.GetQueueClient(k == 0 ? Queue : $"{Queue}-{k}")).ToArray();

        // Both accounts answer: the shards in turn.
        for (var n = 0; n < 8; n++) await SendAsync(router, n);
        Assert.Equal(new[] { 2, 2, 2, 2 }, await CountsAsync(shards));

        // The other account (shards 1 and 3) hangs: one send waits out the shard timeout, then the silent shard rests
        // and every later send goes to an account that answers, at once.
        await other.PauseAsync();
        var took = new List<TimeSpan>();
        for (var n = 8; n < 20; n++) took.Add(await SendAsync(router, n));
        Assert.All(took, t => Assert.True(t < ShardTimeout * 2 + TimeSpan.FromSeconds(1), $"a send took {t.TotalSeconds:0.0} s with one account silent"));
        Assert.True(took.Count(t => t >= ShardTimeout) <= 2, $"only the first send to each silent shard waits out the timeout: {string.Join(", ", took.Select(t => t.TotalMilliseconds.ToString("0")))} ms");
        var during = await CountsAsync(shards[0], shards[2]);
        Assert.Equal(4 + 12, during.Sum());

        // A receive skips the resting shards: it finds messages on the shards that answer, without waiting.
        var receiving = Stopwatch.StartNew();
        Assert.NotEmpty(await router.ReceiveAnyAsync(Queue, 32, TimeSpan.FromSeconds(30), CancellationToken.None));
        Assert.True(receiving.Elapsed < ShardTimeout, $"a receive took {receiving.Elapsed.TotalSeconds:0.0} s");

        // The account answers again: once the rest (2 × ShardTimeout) is over and its guard has seen it answer, its
        // shards take their turn again. (A send given up at the deadline may land now: counted from here on.)
        await other.ResumeAsync();
        var back = Stopwatch.StartNew();
        while (accounts[1].Guard.IsOpen || back.Elapsed < ShardTimeout * 2)
        {
            Assert.True(back.Elapsed < TimeSpan.FromSeconds(15), "the other account's guard saw it answer again within 15 s");
            await Task.Delay(100);
        }

        var before = await CountsAsync(shards[1], shards[3]);
        for (var n = 20; n < 28; n++) await SendAsync(router, n);
        var after = await CountsAsync(shards[1], shards[3]);
        Assert.Equal(4, after.Sum() - before.Sum());
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
