using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Tasks.Azure;

/// <summary>
/// Azure Storage Queues as a task transport: one queue per <c>[AsyncTask(Queue = ...)]</c>, leases as
/// message visibility, attempts from <c>DequeueCount</c>, and a <c>&lt;queue&gt;-poison</c> queue that
/// keeps every dead-lettered message with its reason. Every worker on every machine can pull from the same queues.
/// </summary>
public sealed partial class AzureQueueTransport : ITaskTransport
{
    /// <summary>
    /// The largest envelope a message carries: the service takes 64 KiB of text and refuses raw
    /// binary, and base64 makes 4 characters of every 3 bytes. A larger envelope travels in a blob
    /// (see <see cref="PayloadContainer"/>), up to <see cref="AzureQueueOptions.MaxEnvelopeBytes"/>.
    /// </summary>
    public const int MaxInlineEnvelopeBytes = 49_152;

    private static readonly TimeSpan MaxVisibility = TimeSpan.FromDays(7);

    // The service keeps message times to the second, so a visibility timeout can end up to a second
    // early; a lease asks for one second more, so it is never shorter than the worker was promised.
    private static readonly TimeSpan LeaseRounding = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan NeverExpires = TimeSpan.FromSeconds(-1);

    private readonly AzureQueueOptions options;
    private readonly QueueServiceClient envelopeService;
    private readonly QueueServiceClient textService;
    private readonly ILogger logger;
    private readonly TimeProvider time;
    private readonly ConcurrentDictionary<string, QueueClient> readyQueues = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<QueueClient>>> creatingQueues = new(StringComparer.Ordinal);
    private readonly ShardAccount[] accounts;
    private readonly Dictionary<string, ShardedQueue> shardedQueues;
    private readonly BlobPayloadStore payloads;
    private readonly PoisonQueues poison;
    private readonly QueueCallGuard calls;
    private readonly BlobScheduleStore schedules;

    /// <summary>Creates the transport. Nothing is sent over the network until a queue is first used.</summary>
    /// <exception cref="InvalidOperationException">The options name no account, or two.</exception>
    public AzureQueueTransport(AzureQueueOptions options, ILogger<AzureQueueTransport>? logger = null, TimeProvider? timeProvider = null)
        : this(new AzureClients(options, timeProvider), logger, timeProvider)
    {
    }

    internal AzureQueueTransport(AzureClients clients, ILogger<AzureQueueTransport>? logger, TimeProvider? timeProvider)
    {
        Clients = clients;
        options = clients.Options;
        this.logger = logger ?? (ILogger)NullLogger.Instance;
        time = timeProvider ?? TimeProvider.System;

        QueueClientOptions EnvelopeOptions()
        {
            var envelopeOptions = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 };
            envelopeOptions.MessageDecodingFailed += OnMessageDecodingFailedAsync;
            return envelopeOptions;
        }

        var main = clients.MainQueues(EnvelopeOptions);
        (envelopeService, textService, Endpoint) = (main.Envelopes, main.Text, main.Endpoint);
        calls = new QueueCallGuard(Endpoint);
        accounts = [new ShardAccount(0, main), .. options.ShardAccounts.Select((_, i) => new ShardAccount(i + 1, clients.ShardQueues(i, EnvelopeOptions)))];
        shardedQueues = CreateShardedQueues();
        payloads = new BlobPayloadStore(clients, QueueName);
        schedules = new BlobScheduleStore(clients);
        poison = new PoisonQueues(textService, options, payloads, calls, QueueName, LogicalQueueName, this.logger, time);
    }

    /// <summary>The SDK clients of every account, shared with the record store in a host.</summary>
    internal AzureClients Clients { get; }

    /// <summary>The queue service endpoint, without credentials: what logs and errors name.</summary>
    public string Endpoint { get; }

    /// <inheritdoc />
    public string Describe()
        => $"Azure Storage Queues at {Endpoint}" + (string.IsNullOrEmpty(options.QueuePrefix) ? "" : $" (queue prefix '{options.QueuePrefix}')")
           + string.Concat(shardedQueues.Select(q => $"; '{q.Key}' over {q.Value.Writers.Length} shard(s)"))
           + (accounts.Length > 1 ? $" in {accounts.Length} accounts" : "");

    /// <inheritdoc />
    public async ValueTask CheckAsync(IReadOnlyCollection<string> queues, CancellationToken cancellationToken)
    {
        foreach (var queue in queues)
        {
            if (shardedQueues.TryGetValue(queue, out var sharded)) await CheckShardsAsync(sharded, cancellationToken).ConfigureAwait(false);
            var client = await GetQueueAsync(queue, cancellationToken).ConfigureAwait(false);
            if (options.CreateQueues)
            {
                // The poison queue too, so an operator finds it before the first dead letter.
                var poison = textService.GetQueueClient(PoisonQueueName(queue));
                await Guard(poison.Name, cancellationToken, () => poison.CreateIfNotExistsAsync(cancellationToken: cancellationToken)).ConfigureAwait(false);
            }
            else
            {
                await Guard(client.Name, cancellationToken, () => client.GetPropertiesAsync(cancellationToken)).ConfigureAwait(false);
            }

            if (!shardedQueues.ContainsKey(queue)
                && (await PropertiesAsync(client, cancellationToken).ConfigureAwait(false))?.Metadata is { } metadata
                && metadata.TryGetValue(ShardsMetadataKey, out var count) && count != "1")
                Log.UnconfiguredShards(logger, queue, count);
        }
    }

    /// <inheritdoc />
    public int MaxMessageBytes => MaxInlineEnvelopeBytes;

    /// <summary>The Azure name of a task queue: the prefix, then the name, checked against Azure's rules.</summary>
    /// <exception cref="ArgumentException">The name breaks Azure's queue naming rules.</exception>
    public string QueueName(string queue)
    {
        var name = options.QueuePrefix + queue;
        return AzureQueueNames.Problem(name) is { } problem
            ? throw new ArgumentException($"The Azure queue name for task queue '{queue}' is invalid: {problem}.", nameof(queue))
            : name;
    }

    /// <summary>The Azure name of a task queue's dead-letter queue.</summary>
    public string PoisonQueueName(string queue) => QueueName(queue) + AzureQueueNames.PoisonSuffix;

    /// <inheritdoc />
    public async ValueTask SendAsync(string queue, OutgoingTaskMessage message, CancellationToken cancellationToken)
    {
        if (message.Body.Length > MaxInlineEnvelopeBytes)
            throw new ArgumentException($"The message is {message.Body.Length} bytes; an Azure queue message carries at most {MaxInlineEnvelopeBytes}.", nameof(message));
        if (message.Delay > MaxVisibility)
            throw new ArgumentOutOfRangeException(nameof(message), message.Delay, "Azure Storage Queues delay a message by at most 7 days.");
        if (shardedQueues.Count > 0 && shardedQueues.TryGetValue(queue, out var sharded))
        {
            await SendShardedAsync(sharded, message, cancellationToken).ConfigureAwait(false);
            return;
        }

        var client = await GetQueueAsync(queue, cancellationToken).ConfigureAwait(false);
        await Guard(client.Name, cancellationToken, () => client.SendMessageAsync(
            BinaryData.FromBytes(message.Body),
            message.Delay > TimeSpan.Zero ? AtLeast(message.Delay) : null,
            message.TimeToLive,
            cancellationToken)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        if (shardedQueues.Count > 0 && shardedQueues.TryGetValue(queue, out var sharded))
            return await ReceiveAnyShardAsync(queue, sharded, maxMessages, leaseDuration, cancellationToken).ConfigureAwait(false);
        var client = await GetQueueAsync(queue, cancellationToken).ConfigureAwait(false);
        QueueMessage[] messages = (await Guard(client.Name, cancellationToken, () => client.ReceiveMessagesAsync(Math.Clamp(maxMessages, 1, 32), leaseDuration + LeaseRounding, cancellationToken)).ConfigureAwait(false)).Value;
        return Received(queue, client, messages);
    }

    /// <summary>The messages received from <paramref name="client"/> (the queue's, or a shard's), which their receipts go back to.</summary>
    private static IReadOnlyList<ReceivedTaskMessage> Received(string queue, QueueClient client, QueueMessage[] messages)
    {
        if (messages.Length == 0) return Array.Empty<ReceivedTaskMessage>();
        var received = new ReceivedTaskMessage[messages.Length];
        for (var i = 0; i < messages.Length; i++)
        {
            var m = messages[i];
            received[i] = new AzureReceivedMessage(queue, client, m.MessageId, m.Body.ToMemory(), (int)Math.Min(m.DequeueCount, int.MaxValue), m.PopReceipt);
        }

        return received;
    }

    /// <inheritdoc />
    public ValueTask RenewLeaseAsync(ReceivedTaskMessage message, TimeSpan leaseDuration, CancellationToken cancellationToken)
        => UpdateVisibilityAsync(message, leaseDuration + LeaseRounding, "renew the lease of", cancellationToken);

    /// <inheritdoc />
    /// <remarks>
    /// A delay is rounded up to whole seconds, plus one: the service counts visibility in whole
    /// seconds and keeps message times to the second, so a retry never comes back sooner than asked.
    /// </remarks>
    public ValueTask ReleaseAsync(ReceivedTaskMessage message, TimeSpan delay, CancellationToken cancellationToken)
        => UpdateVisibilityAsync(message, delay > MaxVisibility ? MaxVisibility : AtLeast(delay), "release", cancellationToken);

    /// <inheritdoc />
    public async ValueTask CompleteAsync(ReceivedTaskMessage message, CancellationToken cancellationToken)
    {
        var azure = (AzureReceivedMessage)message;
        try
        {
            await azure.Client.DeleteMessageAsync(azure.TransportMessageId, azure.PopReceipt, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (IsLeaseLost(ex))
        {
            throw LeaseLost(message, "complete", ex);
        }
    }

    private async ValueTask UpdateVisibilityAsync(ReceivedTaskMessage message, TimeSpan visibility, string action, CancellationToken cancellationToken)
    {
        var azure = (AzureReceivedMessage)message;
        try
        {
            UpdateReceipt receipt = await azure.Client.UpdateMessageAsync(azure.TransportMessageId, azure.PopReceipt, (BinaryData?)null, visibility, cancellationToken).ConfigureAwait(false);

            // Every update issues a new receipt; the old one is dead from now on.
            azure.PopReceipt = receipt.PopReceipt;
        }
        catch (RequestFailedException ex) when (IsLeaseLost(ex))
        {
            throw LeaseLost(message, action, ex);
        }
    }

    private ValueTask<QueueClient> GetQueueAsync(string queue, CancellationToken cancellationToken)
        => readyQueues.TryGetValue(queue, out var ready) ? new(ready) : new(CreateOnceAsync(queue, cancellationToken));

    /// <summary>
    /// Creates a queue once however many senders use it first at the same moment (each used to send
    /// its own create request). A failed creation is forgotten, so the next call tries again.
    /// </summary>
    private async Task<QueueClient> CreateOnceAsync(string queue, CancellationToken cancellationToken)
    {
        var creation = creatingQueues.GetOrAdd(queue, q => new Lazy<Task<QueueClient>>(() => CreateAsync(q)));
        try
        {
            return await creation.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch when (!cancellationToken.IsCancellationRequested)
        {
            creatingQueues.TryRemove(new KeyValuePair<string, Lazy<Task<QueueClient>>>(queue, creation));
            throw;
        }
    }

    private async Task<QueueClient> CreateAsync(string queue)
    {
        var client = envelopeService.GetQueueClient(QueueName(queue));

        // Shared by every caller waiting for it, so no one caller's token may cancel it.
        if (options.CreateQueues) await Guard(client.Name, CancellationToken.None, () => client.CreateIfNotExistsAsync(cancellationToken: CancellationToken.None)).ConfigureAwait(false);
        return readyQueues.GetOrAdd(queue, client);
    }

    private static bool IsLeaseLost(RequestFailedException ex)
        => ex.ErrorCode == QueueErrorCode.MessageNotFound || ex.ErrorCode == QueueErrorCode.PopReceiptMismatch;

    private static TaskLeaseLostException LeaseLost(ReceivedTaskMessage message, string action, RequestFailedException ex)
        => new($"Cannot {action} message {message.MessageId} on '{message.Queue}': {ex.ErrorCode} (another worker took it, or its lease expired).", ex);


    private sealed class AzureReceivedMessage(string queue, QueueClient client, string messageId, ReadOnlyMemory<byte> body, int attempt, string popReceipt)
        : ReceivedTaskMessage(queue, messageId, body, attempt)
    {
        /// <summary>The Azure queue it came from: the task queue's, or one of its shards.</summary>
        public QueueClient Client => client;

        public string PopReceipt { get; set; } = popReceipt;
    }

    internal static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Message {MessageId} on {Queue} is not valid base64; it was moved to the poison queue")]
        public static partial void UndecodableMessage(ILogger logger, string messageId, string queue);

        [LoggerMessage(2, LogLevel.Error, "Could not move undecodable message {MessageId} on {Queue} to the poison queue; it will be delivered again")]
        public static partial void UndecodableMessageFailed(ILogger logger, Exception exception, string messageId, string queue);

        [LoggerMessage(4, LogLevel.Warning, "Queue {Queue} is spread over {Count} shards (its shard 0 says so), but this process has no AzureQueueOptions.Shards entry for it: it sends to and receives from shard 0 only. Give every process the same Shards and ShardAccounts")]
        public static partial void UnconfiguredShards(ILogger logger, string queue, string count);

        [LoggerMessage(5, LogLevel.Warning, "Azure queue {Queue} at {Endpoint} did not answer a send within {Timeout}: sends go to the other shards, and try it last for {Rest}")]
        public static partial void ShardSilent(ILogger logger, string queue, string endpoint, TimeSpan timeout, TimeSpan rest);

        [LoggerMessage(6, LogLevel.Warning, "Queue {Queue} is spread over {Count} shards (its shard 0 says so), but shard(s) {Missing} are in none of this process's accounts: counts and peeks leave them out. Pass every account (ShardAccounts; the CLI's --shard-account or TASKS_AZURE_SHARD_ACCOUNTS)")]
        public static partial void ShardsNotFound(ILogger logger, string queue, int count, string missing);

        [LoggerMessage(3, LogLevel.Warning, "Could not list the shards of {Queue} at {Endpoint}; those it writes are received, those left by an earlier count are looked for again soon")]
        public static partial void ShardListingFailed(ILogger logger, Exception exception, string queue, string endpoint);
    }
}
