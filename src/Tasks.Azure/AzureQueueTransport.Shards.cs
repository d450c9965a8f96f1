using System;
using System.Diagnostics;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;

namespace Tasks.Azure;

/// <summary>
/// Sharded queues: one task queue over several Azure queues, in one account or several. Shard 0 is the
/// queue's own name in the main account, so a queue of one shard is the queue as it always was and a
/// count can grow from it; shard k is <c>name-k</c> in account <c>k % accounts</c>. Senders take the
/// shards in turn (or by key), a worker receives each on a loop of its own, and shards left by an
/// earlier count are found by listing and drained.
/// </summary>
public sealed partial class AzureQueueTransport : IShardedTaskTransport
{
    /// <summary>
    /// Set on shard 0 of a sharded queue (its count), so a process without the app's configuration
    /// (the CLI) counts, lists and peeks the shards as one queue.
    /// </summary>
    internal const string ShardsMetadataKey = "tasksshards";

    /// <inheritdoc />
    /// <remarks>
    /// Every 2 × <see cref="AzureQueueOptions.ShardTimeout"/> at most: an account that did not answer a listing is
    /// listed again that soon, while one that did is listed once a <see cref="AzureQueueOptions.ShardRefreshInterval"/>.
    /// </remarks>
    public TimeSpan ShardCheckInterval => options.ShardRefreshInterval < options.ShardTimeout * 2 ? options.ShardRefreshInterval : options.ShardTimeout * 2;

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<string>> GetReceiveShardsAsync(string queue, CancellationToken cancellationToken)
    {
        if (!shardedQueues.TryGetValue(queue, out var sharded)) return [];
        await DiscoverAsync(sharded, cancellationToken).ConfigureAwait(false);
        return sharded.Readers.Keys.ToArray();
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, string shard, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        if (!shardedQueues.TryGetValue(queue, out var sharded)) throw new ArgumentException($"Task queue '{queue}' is not sharded (AzureQueueOptions.Shards).", nameof(queue));
        return sharded.Readers.TryGetValue(shard, out var found)
            ? await ReceiveFromAsync(queue, sharded, found, maxMessages, leaseDuration, cancellationToken).ConfigureAwait(false)
            : [];
    }

    /// <summary>The shards of every sharded queue, made once: the hot path only looks them up.</summary>
    private Dictionary<string, ShardedQueue> CreateShardedQueues()
    {
        var sharded = new Dictionary<string, ShardedQueue>(StringComparer.Ordinal);
        foreach (var (queue, count) in options.Shards)
        {
            var name = QueueName(queue);
            if (count > 1 && AzureQueueNames.Problem($"{name}-{count - 1}") is { } problem)
                throw new InvalidOperationException($"AzureQueueOptions.Shards[\"{queue}\"]: the Azure name of its last shard is invalid: {problem}.");
            var writers = Enumerable.Range(0, count).Select(k => new QueueShard(accounts[k % accounts.Length], k == 0 ? name : $"{name}-{k}", written: true)).ToArray();
            writers[0].Metadata = new Dictionary<string, string> { [ShardsMetadataKey] = count.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            sharded[queue] = new ShardedQueue(name, writers);
        }

        return sharded;
    }

    private async ValueTask SendShardedAsync(ShardedQueue sharded, OutgoingTaskMessage message, CancellationToken cancellationToken)
    {
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

    private async Task SendToShardAsync(ShardedQueue sharded, QueueShard shard, OutgoingTaskMessage message, CancellationToken cancellationToken, bool bounded = true)
    {
        await CreateShardAsync(shard, cancellationToken).ConfigureAwait(false);
        Task<Response<SendReceipt>> Send(CancellationToken ct) => shard.Client.SendMessageAsync(
            BinaryData.FromBytes(message.Body),
            message.Delay > TimeSpan.Zero ? AtLeast(message.Delay) : null,
            message.TimeToLive,
            ct);
        if (bounded)
        {
            var started = Stopwatch.GetTimestamp();
            await CallBoundedAsync(shard.Name, shard.Account, shard, cancellationToken, Send, sharded.SendBound(options.ShardTimeout)).ConfigureAwait(false);
            sharded.Answered(Stopwatch.GetElapsedTime(started));
        }
        else await Guard(shard.Name, cancellationToken, () => Send(cancellationToken), shard.Account.Endpoint).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<ReceivedTaskMessage>> ReceiveFromAsync(string queue, ShardedQueue sharded, QueueShard shard, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        if (shard.Written) await CreateShardAsync(shard, cancellationToken).ConfigureAwait(false);
        QueueMessage[] messages;
        try
        {
            // Not bounded by the shard timeout: a receive given up while the service still serves it would hide its
            // messages for a lease and count an attempt none of them had. The worker's loop of a silent shard
            // holds its share of the slots only, and one slot once a receive failed.
            messages = (await Guard(shard.Name, cancellationToken, () => shard.Client.ReceiveMessagesAsync(Math.Clamp(maxMessages, 1, 32), leaseDuration + LeaseRounding, cancellationToken), shard.Account.Endpoint).ConfigureAwait(false)).Value;
        }
        catch (TaskTransportException ex) when (!shard.Written && IsQueueNotFound(ex))
        {
            sharded.Readers.TryRemove(shard.Id, out _); // a drained shard an operator deleted
            return [];
        }

        return Received(queue, shard.Client, messages);
    }

    /// <summary>For <see cref="ITaskTransport.ReceiveAsync"/> on a sharded queue: the shards in turn, until one has messages.</summary>
    private async Task<IReadOnlyList<ReceivedTaskMessage>> ReceiveAnyShardAsync(string queue, ShardedQueue sharded, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        var readers = sharded.Readers.Values.ToArray();
        var first = sharded.NextReader();
        for (var i = 0; i < readers.Length; i++)
        {
            var shard = readers[(first + i) % readers.Length];
            if (shard.IsResting(time)) continue;
            var received = await ReceiveFromAsync(queue, sharded, shard, maxMessages, leaseDuration, cancellationToken).ConfigureAwait(false);
            if (received.Count > 0) return received;
        }

        return [];
    }

    /// <summary>Creates every shard of a sharded queue, and marks shard 0 with the count.</summary>
    private async Task CheckShardsAsync(ShardedQueue sharded, CancellationToken cancellationToken)
    {
        foreach (var shard in sharded.Writers)
        {
            if (options.CreateQueues) await CreateShardAsync(shard, cancellationToken).ConfigureAwait(false);
            else await CallShardAsync(shard, cancellationToken, ct => shard.Client.GetPropertiesAsync(ct)).ConfigureAwait(false);
        }

        var first = sharded.Writers[0];
        await CallShardAsync(first, cancellationToken, ct => first.Client.SetMetadataAsync(first.Metadata, ct)).ConfigureAwait(false);
    }

    private async Task CreateShardAsync(QueueShard shard, CancellationToken cancellationToken)
    {
        // Two first senders may both create it: the service answers the second as well.
        if (!options.CreateQueues || shard.Created) return;
        await CallShardAsync(shard, cancellationToken, ct => shard.Client.CreateIfNotExistsAsync(shard.Metadata, ct)).ConfigureAwait(false);
        shard.Created = true;
    }

    /// <summary>One call to a shard, bounded by <see cref="AzureQueueOptions.ShardTimeout"/>, as <see cref="CallBoundedAsync"/>.</summary>
    private Task<T> CallShardAsync<T>(QueueShard shard, CancellationToken cancellationToken, Func<CancellationToken, Task<T>> call)
        => CallBoundedAsync(shard.Name, shard.Account, null, cancellationToken, call);

    /// <summary>
    /// A call on <paramref name="account"/> bounded by <see cref="AzureQueueOptions.ShardTimeout"/>: a service that
    /// stopped answering (not refusing: silent) would otherwise hold its caller for the SDK's retries, minutes.
    /// One that runs out rests <paramref name="resting"/>, if given: sends try it last for a while.
    /// </summary>
    private async Task<T> CallBoundedAsync<T>(string? azureQueue, ShardAccount account, QueueShard? resting, CancellationToken cancellationToken, Func<CancellationToken, Task<T>> call, TimeSpan? limit = null)
    {
        var bound = limit ?? options.ShardTimeout;
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(bound);
        try
        {
            return await Guard(azureQueue, bounded.Token, () => call(bounded.Token), account.Endpoint).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            if (resting is not null)
            {
                resting.Rest(time, bound * 2);
                Log.ShardSilent(logger, resting.Name, account.Endpoint, bound, bound * 2);
            }
            throw new TaskTransportException(
                (azureQueue is null ? $"Azure Queue service at {account.Endpoint}" : $"Azure queue '{azureQueue}' at {account.Endpoint}") +
                $": no answer within {bound.TotalSeconds:0.#} s (AzureQueueOptions.ShardTimeout); the other shards are used meanwhile.",
                isTransient: true);
        }
    }

    internal static bool IsQueueNotFound(TaskTransportException ex)
        => ex.InnerException is RequestFailedException { ErrorCode: var code } && code == QueueErrorCode.QueueNotFound;

    /// <summary>
    /// The shard of a key: FNV-1a over its UTF-16 code units, the same in every process and every .NET
    /// (string.GetHashCode is randomized per process), so every sender puts one key on one shard.
    /// </summary>
    internal static int ShardOf(string key, int shards)
    {
        var hash = 2166136261u;
        foreach (var c in key) hash = (hash ^ c) * 16777619u;
        return (int)(hash % (uint)shards);
    }

    /// <summary>One storage account that holds shards; 0 is the main one.</summary>
    private sealed record ShardAccount(int Index, QueueAccount Queues)
    {
        public QueueServiceClient Envelopes => Queues.Envelopes;

        public QueueServiceClient Text => Queues.Text;

        public string Endpoint => Queues.Endpoint;

        public StorageServiceGuard Guard => Queues.Guard;
    }

    /// <summary>One Azure queue of a sharded queue.</summary>
    private sealed class QueueShard(ShardAccount account, string name, bool written)
    {
        private long restsUntilTicks;

        public ShardAccount Account => account;

        public string Name => name;

        /// <summary>What a worker's logs name it by: the queue and its account.</summary>
        public string Id { get; } = $"{name} at {account.Endpoint}";

        /// <summary>Sent to (in the configured count); otherwise found by listing, only drained.</summary>
        public bool Written => written;

        public QueueClient Client { get; } = account.Envelopes.GetQueueClient(name);

        public QueueClient Text => account.Text.GetQueueClient(name);

        public bool Created { get; set; }

        /// <summary>What the queue is created with: shard 0's says the count.</summary>
        public IDictionary<string, string>? Metadata { get; set; }

        public bool IsResting(TimeProvider time) => time.GetUtcNow().UtcTicks < Volatile.Read(ref restsUntilTicks);

        public void Rest(TimeProvider time, TimeSpan period) => Volatile.Write(ref restsUntilTicks, (time.GetUtcNow() + period).UtcTicks);
    }

    /// <summary>A task queue's shards: those written now, and every one received (those plus any found).</summary>
    private sealed class ShardedQueue(string name, QueueShard[] writers)
    {
        private int nextWriter = -1;
        private int nextReader = -1;
        private long typicalSendTicks;

        /// <summary>Shard 0's Azure name, the others' stem.</summary>
        public string Name => name;

        public QueueShard[] Writers => writers;

        public System.Collections.Concurrent.ConcurrentDictionary<string, QueueShard> Readers { get; } = new(writers.Select(s => KeyValuePair.Create(s.Id, s)), StringComparer.Ordinal);

        public DateTimeOffset DiscoverAfter { get; set; }

        /// <summary>
        /// How long a send may take before it goes to another shard: <paramref name="floor"/>, or 4 × the typical
        /// answered send if that is longer. When every shard is slow (a loaded account), sending again elsewhere
        /// only adds load and a duplicate; a shard that stopped answering while the others are quick is left at the floor.
        /// </summary>
        public TimeSpan SendBound(TimeSpan floor) => TimeSpan.FromTicks(Math.Max(floor.Ticks, 4 * Volatile.Read(ref typicalSendTicks)));

        /// <summary>Moves the typical send 1/8 of the way to <paramref name="took"/> (a race loses an update, no more).</summary>
        public void Answered(TimeSpan took)
        {
            var typical = Volatile.Read(ref typicalSendTicks);
            Volatile.Write(ref typicalSendTicks, typical + (took.Ticks - typical) / 8);
        }

        public int NextWriter() => (int)((uint)Interlocked.Increment(ref nextWriter) % (uint)writers.Length);

        public int NextReader() => (int)((uint)Interlocked.Increment(ref nextReader) % (uint)Math.Max(1, Readers.Count));
    }
}
