using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Storage.Queues.Models;
using Microsoft.Extensions.Logging;

namespace Tasks.Azure;

/// <summary>
/// Sharded queues: one task queue over several Azure queues, in one account or several. Shard 0 is the
/// queue's own name in the main account, so a queue of one shard is the queue as it always was and a
/// count can grow from it; shard k is <c>name-k</c> in account <c>k % accounts</c>. Senders take the
/// shards in turn (or by key), and one that failed to answer lately last; a worker receives each on a loop
/// of its own; shards left by an earlier count or account list are found by listing and drained.
/// </summary>
internal sealed partial class ShardRouter
{
    /// <summary>
    /// Set on shard 0 of a sharded queue (its count), so a process without the app's configuration
    /// (the CLI) counts, lists and peeks the shards as one queue.
    /// </summary>
    public const string ShardsMetadataKey = "tasksshards";

    private readonly ShardAccount[] accounts;
    private readonly UndecodableMessageHandler undecodable;
    private readonly Dictionary<string, ShardedQueue> queues;
    private readonly AzureQueueOptions options;
    private readonly Func<string, string> queueName;
    private readonly QueueCallGuard calls;
    private readonly ILogger logger;
    private readonly TimeProvider time;
    private readonly ConcurrentDictionary<string, byte> unfoundShardsWarned = new(StringComparer.Ordinal);

    /// <summary>
    /// A send given up on a shard whose account did not answer goes to another shard, and the first may still be applied
    /// when the account answers again: messages received from an account's shards while it is silent, and this long after,
    /// may be such copies, and the worker checks them against the records before running them.
    /// </summary>
    private static readonly TimeSpan CopiesWithin = TimeSpan.FromMinutes(10);

    /// <summary>Makes the shards of every sharded queue once: the hot path only looks them up.</summary>
    /// <exception cref="InvalidOperationException">A shard's Azure name breaks Azure's rules.</exception>
    public ShardRouter(ShardAccount[] accounts, AzureQueueOptions options, Func<string, string> queueName, QueueCallGuard calls, UndecodableMessageHandler undecodable, ILogger logger, TimeProvider time)
    {
        (this.accounts, this.options, this.queueName, this.calls, this.undecodable, this.logger, this.time) = (accounts, options, queueName, calls, undecodable, logger, time);
        queues = new Dictionary<string, ShardedQueue>(StringComparer.Ordinal);
        foreach (var (queue, count) in options.Shards)
        {
            var name = queueName(queue);
            if (count > 1 && AzureQueueNames.Problem($"{name}-{count - 1}") is { } problem)
                throw new InvalidOperationException($"AzureQueueOptions.Shards[\"{queue}\"]: the Azure name of its last shard is invalid: {problem}.");
            var writers = Enumerable.Range(0, count).Select(k => new QueueShard(accounts[k % accounts.Length], k == 0 ? name : $"{name}-{k}", written: true)).ToArray();
            writers[0].Metadata = new Dictionary<string, string> { [ShardsMetadataKey] = count.ToString(CultureInfo.InvariantCulture) };
            queues[queue] = new ShardedQueue(name, writers);
        }
    }

    /// <summary>For the transport's description: each sharded queue's count, and the accounts.</summary>
    public string Describe()
        => string.Concat(queues.Select(q => $"; '{q.Key}' over {q.Value.Writers.Length} shard(s)")) + (accounts.Length > 1 ? $" in {accounts.Length} accounts" : "");

    /// <summary>
    /// Every 2 × <see cref="AzureQueueOptions.ShardTimeout"/> at most: an account that did not answer a listing is
    /// listed again that soon, while one that did is listed once a <see cref="AzureQueueOptions.ShardRefreshInterval"/>.
    /// </summary>
    public TimeSpan CheckInterval => options.ShardRefreshInterval < options.ShardTimeout * 2 ? options.ShardRefreshInterval : options.ShardTimeout * 2;

    /// <summary>The Azure names of the sharded queues (shard 0's).</summary>
    public IEnumerable<string> Names => queues.Values.Select(q => q.Name);

    public bool IsSharded(string queue) => queues.Count > 0 && queues.ContainsKey(queue);

    /// <summary>The shards a worker receives from: those written and those found, by id.</summary>
    public async ValueTask<IReadOnlyList<string>> GetReceiveShardsAsync(string queue, CancellationToken cancellationToken)
    {
        if (!queues.TryGetValue(queue, out var sharded)) return [];
        await DiscoverAsync(sharded, cancellationToken).ConfigureAwait(false);
        return sharded.Readers.Keys.ToArray();
    }

    /// <summary>Creates every shard of a sharded queue, and marks shard 0 with the count (nothing for a queue not sharded).</summary>
    public async Task CheckAsync(string queue, CancellationToken cancellationToken)
    {
        if (!queues.TryGetValue(queue, out var sharded)) return;
        foreach (var shard in sharded.Writers)
        {
            if (options.CreateQueues) await CreateAsync(shard, cancellationToken).ConfigureAwait(false);
            else await CallBoundedAsync(shard.Name, shard.Account, cancellationToken, ct => shard.Client.GetPropertiesAsync(ct)).ConfigureAwait(false);
        }

        var first = sharded.Writers[0];
        await CallBoundedAsync(first.Name, first.Account, cancellationToken, ct => first.Client.SetMetadataAsync(first.Metadata, ct)).ConfigureAwait(false);
    }

    /// <summary>Warns if <paramref name="queue"/>, not sharded here, is sharded by another process (its shard 0's metadata says so).</summary>
    public void WarnIfShardedElsewhere(string queue, QueueProperties? properties)
    {
        if (!queues.ContainsKey(queue) && properties?.Metadata is { } metadata && metadata.TryGetValue(ShardsMetadataKey, out var count) && count != "1")
            Log.UnconfiguredShards(logger, queue, count);
    }

    public async ValueTask SendAsync(string queue, OutgoingTaskMessage message, CancellationToken cancellationToken)
    {
        var sharded = queues[queue];
        var writers = sharded.Writers;
        if (message.ShardKey is { } key)
        {
            // One shard only: no other to go to, so as patient as a queue that is not sharded.
            await SendToShardAsync(sharded, writers[ShardOf(key, writers.Length)], message, cancellationToken, bounded: false).ConfigureAwait(false);
            return;
        }

        // In turn from the next shard; one that failed to answer lately is tried last, so a send fails only if every shard does.
        var first = sharded.NextWriter();
        List<QueueShard>? resting = null;
        for (var i = 0; i < writers.Length; i++)
        {
            var shard = writers[(first + i) % writers.Length];
            if (shard.IsResting(time)) (resting ??= []).Add(shard);
            else if (await TrySendAsync(shard).ConfigureAwait(false)) return;
        }

        foreach (var shard in resting ?? [])
        {
            if (await TrySendAsync(shard).ConfigureAwait(false)) return;
        }

        // Every shard failed in a way that may pass (slow, busy): a last try with the SDK's own retries within the
        // account's deadline, so a sharded enqueue gives up no sooner than one on a single queue would; on a shard
        // whose account is not found silent, where there is one.
        var last = Enumerable.Range(0, writers.Length).Select(i => writers[(first + i) % writers.Length]).FirstOrDefault(s => !s.Account.Guard.IsOpen) ?? writers[first];
        await SendToShardAsync(sharded, last, message, cancellationToken, bounded: false).ConfigureAwait(false);

        async Task<bool> TrySendAsync(QueueShard shard)
        {
            try
            {
                await SendToShardAsync(sharded, shard, message, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (TaskTransportException ex) when (ex.IsTransient)
            {
                return false;
            }
        }
    }

    /// <summary>From one shard of <paramref name="queue"/>, by the id <see cref="GetReceiveShardsAsync"/> gave (none from one gone since).</summary>
    public async ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, string shard, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        if (!queues.TryGetValue(queue, out var sharded)) throw new ArgumentException($"Task queue '{queue}' is not sharded (AzureQueueOptions.Shards).", nameof(queue));
        return sharded.Readers.TryGetValue(shard, out var found)
            ? await ReceiveFromAsync(queue, sharded, found, maxMessages, leaseDuration, cancellationToken).ConfigureAwait(false)
            : [];
    }

    /// <summary>From any shard of <paramref name="queue"/>: the shards in turn, until one has messages; those resting, or of an account found silent, left out.</summary>
    public async ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAnyAsync(string queue, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        var sharded = queues[queue];
        var readers = sharded.Readers.Values.ToArray();
        var first = sharded.NextReader();
        for (var i = 0; i < readers.Length; i++)
        {
            var shard = readers[(first + i) % readers.Length];
            if (shard.IsResting(time) || shard.Account.Guard.IsOpen) continue;
            var received = await ReceiveFromAsync(queue, sharded, shard, maxMessages, leaseDuration, cancellationToken).ConfigureAwait(false);
            if (received.Count > 0) return received;
        }

        return [];
    }

    /// <summary>
    /// The shards beside shard 0 of <paramref name="queue"/>, for counts and peeks: those configured and found, or,
    /// in a process without the configuration, those found when shard 0's metadata says it is sharded.
    /// </summary>
    public async Task<IEnumerable<QueueShard>> OtherShardsAsync(string queue, IDictionary<string, string>? metadata, CancellationToken cancellationToken)
    {
        if (queues.TryGetValue(queue, out var sharded))
        {
            await DiscoverAsync(sharded, cancellationToken).ConfigureAwait(false);
            return OthersThanZero(sharded);
        }

        if (metadata is null || !metadata.TryGetValue(ShardsMetadataKey, out var written)) return [];
        var name = queueName(queue);
        sharded = new ShardedQueue(name, [new QueueShard(accounts[0], name, written: false)]);
        await DiscoverAsync(sharded, cancellationToken).ConfigureAwait(false);
        var others = OthersThanZero(sharded).ToArray();

        // Shards live in account k mod A: a count that found fewer was not given every account, and says so once.
        if (int.TryParse(written, NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            && Enumerable.Range(1, Math.Max(count - 1, 0)).Where(k => !others.Any(s => s.Name == name + "-" + k)).ToArray() is { Length: > 0 } missing
            && unfoundShardsWarned.TryAdd(queue, 0))
            Log.ShardsNotFound(logger, queue, count, string.Join(", ", missing));
        return others;

        static IEnumerable<QueueShard> OthersThanZero(ShardedQueue sharded) => sharded.Readers.Values.Where(s => s.Account.Index != 0 || s.Name != sharded.Name);
    }

    /// <summary>The Azure name a dead letter of <paramref name="azureQueue"/> is filed under: its queue's, for a shard.</summary>
    public string LogicalQueueName(string azureQueue)
    {
        foreach (var sharded in queues.Values)
        {
            if (ShardedQueue.IsShardName(sharded.Name, azureQueue)) return sharded.Name;
        }

        return azureQueue;
    }

    /// <summary>
    /// The shard of a key: FNV-1a over its UTF-16 code units, the same in every process and every .NET
    /// (string.GetHashCode is randomized per process), so every sender puts one key on one shard.
    /// </summary>
    public static int ShardOf(string key, int shards)
    {
        var hash = 2166136261u;
        foreach (var c in key) hash = (hash ^ c) * 16777619u;
        return (int)(hash % (uint)shards);
    }

    private async Task SendToShardAsync(ShardedQueue sharded, QueueShard shard, OutgoingTaskMessage message, CancellationToken cancellationToken, bool bounded = true)
    {
        await CreateAsync(shard, cancellationToken).ConfigureAwait(false);
        var text = AzureReceivedMessage.Encode(message.Body);
        Task<Response<SendReceipt>> Send(CancellationToken ct) => shard.Client.SendMessageAsync(
            text,
            message.Delay > TimeSpan.Zero ? QueueVisibility.AtLeast(message.Delay) : null,
            message.TimeToLive,
            ct);
        if (!bounded)
        {
            await calls.RunAsync(shard.Name, cancellationToken, () => Send(cancellationToken), shard.Account.Endpoint).ConfigureAwait(false);
            return;
        }

        var bound = sharded.SendBound(options.ShardTimeout);
        var started = Stopwatch.GetTimestamp();
        try
        {
            await CallBoundedAsync(shard.Name, shard.Account, cancellationToken, Send, bound).ConfigureAwait(false);
            sharded.Answered(Stopwatch.GetElapsedTime(started));
        }
        catch (TaskTransportException ex) when (ex.IsTransient && !cancellationToken.IsCancellationRequested)
        {
            // Whether the shard's deadline or its account's ran out first, or the account refused: every shard of that
            // account is tried last for a while, so the next sends do not wait on its other shards one by one.
            foreach (var same in sharded.Writers.Where(s => s.Account == shard.Account)) same.Rest(time, bound * 2);
            Log.ShardFailed(logger, shard.Name, shard.Account.Endpoint, ex.Message, bound * 2);
            throw;
        }
    }

    private async Task<IReadOnlyList<ReceivedTaskMessage>> ReceiveFromAsync(string queue, ShardedQueue sharded, QueueShard shard, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        if (shard.Written) await CreateAsync(shard, cancellationToken).ConfigureAwait(false);
        QueueMessage[] messages;
        try
        {
            // Not bounded by the shard timeout: a receive given up while the service still serves it would hide its
            // messages for a lease and count an attempt none of them had. The worker's loop of a silent shard
            // holds its share of the slots only, and one slot once a receive failed.
            messages = (await calls.RunAsync(shard.Name, cancellationToken, () => shard.Client.ReceiveMessagesAsync(Math.Clamp(maxMessages, 1, 32), leaseDuration + QueueVisibility.LeaseRounding, cancellationToken), shard.Account.Endpoint).ConfigureAwait(false)).Value;
        }
        catch (TaskTransportException ex) when (!shard.Written && QueueCallGuard.IsQueueNotFound(ex))
        {
            sharded.Readers.TryRemove(shard.Id, out _); // a drained shard an operator deleted
            return [];
        }

        return await AzureReceivedMessage.FromAsync(queue, shard.Client, messages, undecodable, cancellationToken, mayBeCopies: shard.Account.Guard.SilentWithin(CopiesWithin)).ConfigureAwait(false);
    }

    private async Task CreateAsync(QueueShard shard, CancellationToken cancellationToken)
    {
        // Two first senders may both create it: the service answers the second as well.
        if (!options.CreateQueues || shard.Created) return;
        await CallBoundedAsync(shard.Name, shard.Account, cancellationToken, ct => shard.Client.CreateIfNotExistsAsync(shard.Metadata, ct)).ConfigureAwait(false);
        shard.Created = true;
    }

    /// <summary>
    /// Adds the <c>name-k</c> queues of every account to the shards received, at most once per
    /// <see cref="AzureQueueOptions.ShardRefreshInterval"/>. An account that fails to answer is listed again after
    /// 2 × ShardTimeout: its written shards are received meanwhile, only those left by an earlier count wait.
    /// </summary>
    private async Task DiscoverAsync(ShardedQueue sharded, CancellationToken cancellationToken)
    {
        if (time.GetUtcNow() < sharded.DiscoverAfter) return;
        var complete = true;
        foreach (var account in accounts)
        {
            try
            {
                var names = await CallBoundedAsync(null, account, cancellationToken, async ct =>
                {
                    var found = new List<string>();
                    await foreach (var item in account.Service.GetQueuesAsync(prefix: sharded.Name + "-", cancellationToken: ct).ConfigureAwait(false))
                    {
                        if (ShardedQueue.IsShardName(sharded.Name, item.Name)) found.Add(item.Name);
                    }

                    return found;
                }).ConfigureAwait(false);
                foreach (var name in names)
                {
                    var shard = new QueueShard(account, name, written: false);
                    sharded.Readers.TryAdd(shard.Id, shard);
                }
            }
            catch (TaskTransportException ex) when (ex.IsTransient)
            {
                complete = false;
                Log.ShardListingFailed(logger, ex, sharded.Name, account.Endpoint);
            }
        }

        sharded.DiscoverAfter = time.GetUtcNow() + (complete ? options.ShardRefreshInterval : options.ShardTimeout * 2);
    }

    /// <summary>
    /// A call on <paramref name="account"/> bounded by <see cref="AzureQueueOptions.ShardTimeout"/> (or <paramref name="limit"/>):
    /// a service that stopped answering (not refusing: silent) would otherwise hold its caller for the SDK's retries, minutes.
    /// </summary>
    private async Task<T> CallBoundedAsync<T>(string? azureQueue, ShardAccount account, CancellationToken cancellationToken, Func<CancellationToken, Task<T>> call, TimeSpan? limit = null)
    {
        var bound = limit ?? options.ShardTimeout;
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(bound);
        try
        {
            return await calls.RunAsync(azureQueue, bounded.Token, () => call(bounded.Token), account.Endpoint).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TaskTransportException(
                (azureQueue is null ? $"Azure Queue service at {account.Endpoint}" : $"Azure queue '{azureQueue}' at {account.Endpoint}") +
                $": no answer within {bound.TotalSeconds:0.#} s (AzureQueueOptions.ShardTimeout); the other shards are used meanwhile.",
                isTransient: true);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(3, LogLevel.Warning, "Could not list the shards of {Queue} at {Endpoint}; those it writes are received, those left by an earlier count are looked for again soon")]
        public static partial void ShardListingFailed(ILogger logger, Exception exception, string queue, string endpoint);

        [LoggerMessage(4, LogLevel.Warning, "Queue {Queue} is spread over {Count} shards (its shard 0 says so), but this process has no AzureQueueOptions.Shards entry for it: it sends to and receives from shard 0 only. Give every process the same Shards and ShardAccounts")]
        public static partial void UnconfiguredShards(ILogger logger, string queue, string count);

        [LoggerMessage(5, LogLevel.Warning, "A send to Azure queue {Queue} at {Endpoint} failed ({Problem}): sends go to the other shards, and try that account's shards last for {Rest}")]
        public static partial void ShardFailed(ILogger logger, string queue, string endpoint, string problem, TimeSpan rest);

        [LoggerMessage(6, LogLevel.Warning, "Queue {Queue} is spread over {Count} shards (its shard 0 says so), but shard(s) {Missing} are in none of this process's accounts: counts and peeks leave them out. Pass every account (ShardAccounts; the CLI's --shard-account or TASKS_AZURE_SHARD_ACCOUNTS)")]
        public static partial void ShardsNotFound(ILogger logger, string queue, int count, string missing);
    }
}
