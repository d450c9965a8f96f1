using Azure.Storage.Queues;

namespace Tasks.Azure.Tests;

/// <summary>
/// One task queue over four Azure queues in two accounts (the fixture's Azurite and one of this class's
/// own): how sends spread, how a key keeps to one shard, and that depth, listing, dead letters and
/// requeue treat the shards as one queue. The process-level runs (20,000 tasks, a paused account, a
/// count changed mid-run) are in <see cref="ShardFaultTests"/>.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class ShardedQueueTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private AzuriteProcess? second;

    private string SecondAccount => second!.ConnectionString;

    public async Task InitializeAsync() => second = await AzuriteProcess.StartAsync();

    public async Task DisposeAsync()
    {
        if (second is not null) await second.DisposeAsync();
    }

    [Fact]
    public async Task Sends_take_the_four_shards_in_turn_across_both_accounts_and_a_key_keeps_to_one()
    {
        await using var h = Sharded(4);
        var run = Guid.NewGuid().ToString("N");
        for (var n = 0; n < 40; n++) await AzureTasks.CountAsync.Enqueue(h.Client, run, n);
        for (var n = 40; n < 52; n++) await AzureTasks.CountAsync.Enqueue(h.Client, run, n, new TaskEnqueueOptions { ShardKey = "customer-7" });

        var keyed = ShardRouter.ShardOf("customer-7", 4);
        var counts = await ShardCountsAsync(h, 4);
        for (var k = 0; k < 4; k++) Assert.Equal(k == keyed ? 22 : 10, counts[k]);

        var depth = await h.Transport.GetDepthAsync(AzureTasks.Queue);
        Assert.Equal(52, depth.Messages);

        // A process without the shard count (the CLI) finds it on shard 0 and lists and counts the shards as one queue.
        var outsider = new AzureQueueTransport(new AzureQueueOptions { ConnectionString = azurite.ConnectionString, QueuePrefix = h.Prefix, ShardAccounts = [SecondAccount] });
        Assert.Equal([AzureTasks.Queue], await outsider.ListQueuesAsync());
        Assert.Equal(52, (await outsider.GetDepthAsync(AzureTasks.Queue)).Messages);
        Assert.Equal(32, (await outsider.PeekAsync(AzureTasks.Queue, 32)).Count);
        var (code, output) = await CliTests.RunAsync(azurite.ConnectionString, "queues", "--prefix", h.Prefix, "--shard-account", SecondAccount, "--json");
        Assert.Equal(0, code);
        var listed = Assert.Single(System.Text.Json.JsonDocument.Parse(output).RootElement.EnumerateArray());
        Assert.Equal((AzureTasks.Queue, 52), (listed.GetProperty("queue").GetString(), listed.GetProperty("messages").GetInt32()));
        // Without the second account the count is shards 0 and 2 only, and the CLI says which shards it did not find.
        var (partialCode, partial) = await CliTests.RunAsync(azurite.ConnectionString, "queues", "--prefix", h.Prefix);
        Assert.Equal(0, partialCode);
        Assert.Contains($"warning: Queue {AzureTasks.Queue} is spread over 4 shards (its shard 0 says so), but shard(s) 1, 3 are in none", partial);
        Assert.Matches($@"{AzureTasks.Queue}\s+{counts[0] + counts[2]}\s", partial);

        await h.NewWorker().StartAsync();
        await AzureHarness.WaitUntil(() => AzureTasks.Counts.TryGetValue(run, out var ran) && ran.Count == 52, "every task ran");
        await Task.Delay(500);
        Assert.All(AzureTasks.Counts[run].Values, times => Assert.Equal(1, times));
        Assert.Equal(0, (await h.Transport.GetDepthAsync(AzureTasks.Queue)).Messages);
    }

    [Fact]
    public void A_key_hashes_to_the_same_shard_in_every_process_and_release()
    {
        // FNV-1a over UTF-16 code units: a change here moves every key to another shard, so it is pinned.
        Assert.Equal(1, ShardRouter.ShardOf("customer-7", 4));
        Assert.Equal(0, ShardRouter.ShardOf("a", 4));
        Assert.Equal(1, ShardRouter.ShardOf("order-12345", 4));
        Assert.Equal(85, ShardRouter.ShardOf("customer-7", 100));
    }

    [Fact]
    public async Task Dead_letters_of_every_shard_share_the_queues_poison_queue_and_a_requeue_runs_them()
    {
        await using var h = Sharded(4);
        var healed = false;
        var ran = 0;
        var id = Scripts.Add((_, _) =>
        {
            if (!Volatile.Read(ref healed)) throw new PermanentTaskException("not yet");
            Interlocked.Increment(ref ran);
            return Task.CompletedTask;
        });
        for (var n = 0; n < 4; n++) await AzureTasks.RunAsync.Enqueue(h.Client, id);
        Assert.All(await ShardCountsAsync(h, 4), count => Assert.Equal(1, count));

        await h.NewWorker().StartAsync();
        await AzureHarness.WaitUntil(async () => (await h.PoisonAsync()).Count == 4, "all four were dead-lettered");
        Assert.All(await h.PoisonAsync(), p => Assert.Equal(h.Transport.QueueName(AzureTasks.Queue), p.Queue));
        Assert.Equal(4, (await h.Transport.ListDeadLettersAsync(AzureTasks.Queue)).Count);
        Assert.Equal(4, (await h.Transport.GetDepthAsync(AzureTasks.Queue)).DeadLetters);

        Volatile.Write(ref healed, true);
        Assert.Equal(4, (await h.Transport.RequeueDeadLettersAsync(AzureTasks.Queue)).Count);
        await AzureHarness.WaitUntil(() => Volatile.Read(ref ran) == 4, "the requeued tasks ran");
        Assert.Empty(await h.Transport.ListDeadLettersAsync(AzureTasks.Queue));
    }

    [Fact]
    public async Task A_worker_of_two_shards_finds_and_drains_the_shards_a_count_of_four_left()
    {
        await using var before = Sharded(4);
        var run = Guid.NewGuid().ToString("N");
        for (var n = 0; n < 20; n++) await AzureTasks.CountAsync.Enqueue(before.Client, run, n);

        var after = new AzureQueueTransport(new AzureQueueOptions
        {
            ConnectionString = azurite.ConnectionString,
            QueuePrefix = before.Prefix,
            Shards = { [AzureTasks.Queue] = 2 },
            ShardAccounts = [SecondAccount],
        });
        var shards = await after.GetReceiveShardsAsync(AzureTasks.Queue, CancellationToken.None);
        Assert.Equal(4, shards.Count);
        Assert.Contains(shards, s => s.StartsWith(after.QueueName(AzureTasks.Queue) + "-3 ", StringComparison.Ordinal));

        await before.NewWorker(after).StartAsync();
        await AzureHarness.WaitUntil(() => AzureTasks.Counts.TryGetValue(run, out var ran) && ran.Count == 20, "the tasks of all four shards ran");
        await AzureHarness.WaitUntil(async () => (await after.GetDepthAsync(AzureTasks.Queue)).Messages == 0, "every shard is empty"); // a message is deleted after its task ran
    }

    [Fact]
    public void A_bad_shard_count_or_a_shard_name_past_Azures_limit_fails_at_construction()
    {
        var zero = Assert.Throws<InvalidOperationException>(() => new AzureQueueTransport(new AzureQueueOptions { ConnectionString = azurite.ConnectionString, Shards = { ["orders"] = 0 } }));
        Assert.Contains("Shards[\"orders\"] is 0", zero.Message);
        var name = new string('a', 54);
        var tooLong = Assert.Throws<InvalidOperationException>(() => new AzureQueueTransport(new AzureQueueOptions { ConnectionString = azurite.ConnectionString, Shards = { [name] = 12 } }));
        Assert.Contains("last shard", tooLong.Message);
    }

    private AzureHarness Sharded(int count) => new(azurite, transport: o =>
    {
        o.Shards[AzureTasks.Queue] = count;
        o.ShardAccounts.Add(SecondAccount);
    });

    /// <summary>The messages in each shard's Azure queue: shard k is in the main account when k is even.</summary>
    private async Task<int[]> ShardCountsAsync(AzureHarness h, int count)
    {
        var counts = new int[count];
        for (var k = 0; k < count; k++)
        {
            var name = h.Transport.QueueName(AzureTasks.Queue) + (k == 0 ? "" : $"-{k}");
            var queue = new QueueClient(k % 2 == 0 ? azurite.ConnectionString : SecondAccount, name);
            counts[k] = (await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount;
        }

        return counts;
    }
}
