using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Azure;
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
/// <remarks>
/// A façade over the parts that do the work, each made once here from one <see cref="AzureClients"/>: the shard
/// router (<see cref="ShardRouter"/>), the poison queues (<see cref="PoisonQueues"/>), the operator's view
/// (<see cref="QueueMonitor"/>), and the payload and schedule blobs (<see cref="BlobPayloadStore"/>,
/// <see cref="BlobScheduleStore"/>), and the places of limits (<see cref="TableLimitStore"/>). It keeps only what every
/// message goes through: the queues, their creation once, and leases.
/// </remarks>
public sealed class AzureQueueTransport : IShardedTaskTransport, ITaskQueueMonitor, ITaskDeadLetters, ITaskPayloadStore, IScheduleStore, ITaskLimitStore, ITaskMessageReplacer, ITaskQueuePauses
{
    /// <summary>
    /// The largest envelope a message carries: the service takes 64 KiB of text and refuses raw
    /// binary, and base64 makes 4 characters of every 3 bytes. A larger envelope travels in a blob
    /// (see <see cref="PayloadContainer"/>), up to <see cref="AzureQueueOptions.MaxEnvelopeBytes"/>.
    /// </summary>
    public const int MaxInlineEnvelopeBytes = 49_152;

    /// <summary>The container of the payload blobs, after <see cref="AzureQueueOptions.QueuePrefix"/>.</summary>
    public const string PayloadContainer = "tasks-payloads";

    /// <summary>The container of the schedule blobs, after <see cref="AzureQueueOptions.QueuePrefix"/>.</summary>
    public const string ScheduleContainer = "tasks-schedules";

    private readonly AzureQueueOptions options;
    private readonly QueueServiceClient service;
    private readonly ConcurrentDictionary<string, QueueClient> readyQueues = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<QueueClient>>> creatingQueues = new(StringComparer.Ordinal);
    private readonly QueueCallGuard calls;
    private readonly ShardRouter shards;
    private readonly PoisonQueues poison;
    private readonly QueueMonitor monitor;
    private readonly BlobPayloadStore payloads;
    private readonly BlobScheduleStore schedules;
    private readonly TableLimitStore limits;
    private readonly TableQueuePauses pauses;

    /// <summary>Creates the transport. Nothing is sent over the network until a queue is first used.</summary>
    /// <exception cref="InvalidOperationException">
    /// The options name no account, or two; or <see cref="AzureQueueOptions.ClientName"/>, whose clients only a host's
    /// services hold (<c>UseAzureQueues</c>).
    /// </exception>
    public AzureQueueTransport(AzureQueueOptions options, ILogger<AzureQueueTransport>? logger = null, TimeProvider? timeProvider = null)
        : this(new AzureClients(options, timeProvider), logger, timeProvider)
    {
    }

    internal AzureQueueTransport(AzureClients clients, ILogger<AzureQueueTransport>? logger, TimeProvider? timeProvider)
    {
        Clients = clients;
        options = clients.Options;
        var log = logger ?? (ILogger)NullLogger.Instance;
        var time = timeProvider ?? TimeProvider.System;

        var main = clients.MainQueues();
        (service, Endpoint) = (main.Service, main.Endpoint);
        calls = new QueueCallGuard(Endpoint);
        ShardAccount[] accounts = [new ShardAccount(0, main), .. options.ShardAccounts.Select((_, i) => new ShardAccount(i + 1, clients.ShardQueues(i)))];
        shards = new ShardRouter(accounts, options, QueueName, calls, MoveUndecodableAsync, log, time);
        payloads = new BlobPayloadStore(clients, QueueName);
        schedules = new BlobScheduleStore(clients);
        limits = new TableLimitStore(clients);
        pauses = new TableQueuePauses(clients);
        poison = new PoisonQueues(service, options, payloads, calls, QueueName, shards.LogicalQueueName, log, time);
        monitor = new QueueMonitor(service, options.QueuePrefix, QueueName, shards, calls);
    }

    /// <summary>The SDK clients of every account, shared with the record store in a host.</summary>
    internal AzureClients Clients { get; }

    /// <summary>The queue service endpoint, without credentials: what logs and errors name.</summary>
    public string Endpoint { get; }

    /// <summary>A test's hook: called with "reading" once a payload's download has begun, so a worker can be killed mid-download.</summary>
    internal static Action<string>? PayloadPoint { get; set; }

    /// <inheritdoc />
    public string Describe()
        => $"Azure Storage Queues at {Endpoint}" + (string.IsNullOrEmpty(options.QueuePrefix) ? " (no queue prefix)" : $" (queue prefix '{options.QueuePrefix}')") + shards.Describe();

    /// <inheritdoc />
    public async ValueTask CheckAsync(IReadOnlyCollection<string> queues, CancellationToken cancellationToken)
    {
        foreach (var queue in queues)
        {
            await shards.CheckAsync(queue, cancellationToken).ConfigureAwait(false);
            var client = await GetQueueAsync(queue, cancellationToken).ConfigureAwait(false);
            if (options.CreateQueues)
            {
                // The poison queue too, so an operator finds it before the first dead letter.
                var poisonQueue = service.GetQueueClient(PoisonQueueName(queue));
                await calls.RunAsync(poisonQueue.Name, cancellationToken, () => poisonQueue.CreateIfNotExistsAsync(cancellationToken: cancellationToken)).ConfigureAwait(false);
            }

            var properties = await calls.RunAsync(client.Name, cancellationToken, async () => (await client.GetPropertiesAsync(cancellationToken).ConfigureAwait(false)).Value).ConfigureAwait(false);
            shards.WarnIfShardedElsewhere(queue, properties);
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
        if (message.Delay > QueueVisibility.Max)
            throw new ArgumentOutOfRangeException(nameof(message), message.Delay, "Azure Storage Queues delay a message by at most 7 days.");
        if (shards.IsSharded(queue))
        {
            await shards.SendAsync(queue, message, cancellationToken).ConfigureAwait(false);
            return;
        }

        var client = await GetQueueAsync(queue, cancellationToken).ConfigureAwait(false);
        var text = AzureReceivedMessage.Encode(message.Body);
        await calls.RunAsync(client.Name, cancellationToken, () => client.SendMessageAsync(
            text,
            message.Delay > TimeSpan.Zero ? QueueVisibility.AtLeast(message.Delay) : null,
            message.TimeToLive,
            cancellationToken)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        if (shards.IsSharded(queue)) return await shards.ReceiveAnyAsync(queue, maxMessages, leaseDuration, cancellationToken).ConfigureAwait(false);
        var client = await GetQueueAsync(queue, cancellationToken).ConfigureAwait(false);
        QueueMessage[] messages = (await calls.RunAsync(client.Name, cancellationToken, () => client.ReceiveMessagesAsync(Math.Clamp(maxMessages, 1, 32), leaseDuration + QueueVisibility.LeaseRounding, cancellationToken)).ConfigureAwait(false)).Value;
        return await AzureReceivedMessage.FromAsync(queue, client, messages, MoveUndecodableAsync, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask RenewLeaseAsync(ReceivedTaskMessage message, TimeSpan leaseDuration, CancellationToken cancellationToken)
        => UpdateVisibilityAsync(message, leaseDuration + QueueVisibility.LeaseRounding, "renew the lease of", cancellationToken);

    /// <inheritdoc />
    /// <remarks>
    /// A delay is rounded up to whole seconds, plus one: the service counts visibility in whole
    /// seconds and keeps message times to the second, so a retry never comes back sooner than asked.
    /// </remarks>
    public ValueTask ReleaseAsync(ReceivedTaskMessage message, TimeSpan delay, CancellationToken cancellationToken)
        => UpdateVisibilityAsync(message, delay > QueueVisibility.Max ? QueueVisibility.Max : QueueVisibility.AtLeast(delay), "release", cancellationToken);

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

    /// <inheritdoc />
    public async ValueTask DeadLetterAsync(ReceivedTaskMessage message, DeadLetterDetails reason, CancellationToken cancellationToken)
    {
        // Copy first, delete second: a crash in between leaves a duplicate, never a loss.
        await AddDeadLetterAsync(message.Queue, message.MessageId, message.Body, reason, cancellationToken).ConfigureAwait(false);
        await CompleteAsync(message, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask AddDeadLetterAsync(string queue, string messageId, ReadOnlyMemory<byte> body, DeadLetterDetails reason, CancellationToken cancellationToken)
        => poison.AddAsync(queue, messageId, body, reason, cancellationToken);

    // Sharded queues.

    /// <inheritdoc />
    /// <remarks>
    /// Every 2 × <see cref="AzureQueueOptions.ShardTimeout"/> at most: an account that did not answer a listing is
    /// listed again that soon, while one that did is listed once a <see cref="AzureQueueOptions.ShardRefreshInterval"/>.
    /// </remarks>
    public TimeSpan ShardCheckInterval => shards.CheckInterval;

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> GetReceiveShardsAsync(string queue, CancellationToken cancellationToken) => shards.GetReceiveShardsAsync(queue, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, string shard, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
        => shards.ReceiveAsync(queue, shard, maxMessages, leaseDuration, cancellationToken);

    // What an operator sees and does.

    /// <inheritdoc />
    /// <remarks>A sharded queue's count is the sum of its shards', those left by an earlier count included.</remarks>
    public ValueTask<TaskQueueDepth> GetDepthAsync(string queue, CancellationToken cancellationToken = default) => monitor.GetDepthAsync(queue, cancellationToken);

    /// <summary>
    /// The task queues that exist under this transport's prefix (their names without it), poison queues left out,
    /// and a sharded queue once, by its name: not each of its shards.
    /// </summary>
    public ValueTask<IReadOnlyList<string>> ListQueuesAsync(CancellationToken cancellationToken = default) => monitor.ListQueuesAsync(cancellationToken);

    /// <summary>
    /// The tasks of up to <paramref name="maxMessages"/> (at most 32) of the next messages of
    /// <paramref name="queue"/>, described without taking them (Azure's peek: visible messages only,
    /// leases untouched): one entry per task, so a pack gives one for each task it holds. Empty if
    /// the queue does not exist.
    /// </summary>
    /// <remarks>A sharded queue is peeked shard after shard until <paramref name="maxMessages"/> are seen.</remarks>
    public ValueTask<IReadOnlyList<PeekedTaskMessage>> PeekAsync(string queue, int maxMessages = 32, CancellationToken cancellationToken = default) => monitor.PeekAsync(queue, maxMessages, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TaskDeadLetter>> ListDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default) => poison.ListDeadLettersAsync(queue, filter, cancellationToken);

    /// <inheritdoc />
    /// <remarks>A peek: nothing is taken, so every viewer sees the same. A dead letter whose message text travels apart shows no arguments here.</remarks>
    public ValueTask<IReadOnlyList<TaskDeadLetter>> PeekDeadLettersAsync(string queue, int maxCount = 32, CancellationToken cancellationToken = default) => poison.PeekDeadLettersAsync(queue, maxCount, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TaskDeadLetter>> RequeueDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default) => poison.RequeueDeadLettersAsync(queue, filter, cancellationToken);

    /// <inheritdoc />
    /// <remarks>A dead letter whose envelope travels in a blob is deleted with its blob; a requeued one keeps it.</remarks>
    public ValueTask<IReadOnlyList<TaskDeadLetter>> DeleteDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default) => poison.DeleteDeadLettersAsync(queue, filter, cancellationToken);

    // Large envelopes and recurring schedules, in blobs of the same account.

    /// <inheritdoc />
    public int PayloadThresholdBytes => payloads.PayloadThresholdBytes;

    /// <inheritdoc />
    public int MaxEnvelopeBytes => payloads.MaxEnvelopeBytes;

    /// <inheritdoc />
    public ValueTask<string> UploadPayloadAsync(string queue, string messageId, ReadOnlyMemory<byte> envelope, DateTimeOffset keepUntil, CancellationToken cancellationToken)
        => payloads.UploadPayloadAsync(queue, messageId, envelope, keepUntil, cancellationToken);

    /// <inheritdoc />
    public ValueTask<long?> ReadPayloadAsync(string name, Memory<byte> destination, CancellationToken cancellationToken) => payloads.ReadPayloadAsync(name, destination, cancellationToken);

    /// <inheritdoc />
    public ValueTask DeletePayloadAsync(string name, CancellationToken cancellationToken) => payloads.DeletePayloadAsync(name, cancellationToken);

    /// <inheritdoc />
    public ValueTask<int> SweepPayloadsAsync(TimeSpan grace, CancellationToken cancellationToken) => payloads.SweepPayloadsAsync(grace, cancellationToken);

    /// <inheritdoc />
    public ValueTask<StoredScheduleState?> ReadScheduleAsync(string taskName, CancellationToken cancellationToken) => schedules.ReadScheduleAsync(taskName, cancellationToken);

    /// <inheritdoc />
    public ValueTask<string?> TryWriteScheduleAsync(string taskName, ScheduleState state, string? expectedVersion, CancellationToken cancellationToken)
        => schedules.TryWriteScheduleAsync(taskName, state, expectedVersion, cancellationToken);

    // Limits across workers, in a table of the same account.

    ValueTask<LimitAcquisition> ITaskLimitStore.TryAcquireAsync(LimitScope scope, LimitHolder holder, DateTimeOffset now, DateTimeOffset until, CancellationToken cancellationToken)
        => limits.TryAcquireAsync(scope, holder, now, until, cancellationToken);

    ValueTask<LimitPlace?> ITaskLimitStore.RenewAsync(LimitPlace place, DateTimeOffset until, CancellationToken cancellationToken) => limits.RenewAsync(place, until, cancellationToken);

    ValueTask ITaskLimitStore.ReleaseAsync(LimitPlace place, CancellationToken cancellationToken) => limits.ReleaseAsync(place, cancellationToken);

    ValueTask<IReadOnlyList<LimitState>> ITaskLimitStore.ListAsync(DateTimeOffset now, CancellationToken cancellationToken) => limits.ListAsync(now, cancellationToken);

    ValueTask ITaskLimitStore.NoteWaiterAsync(LimitScope scope, LimitWaiter waiter, CancellationToken cancellationToken) => limits.NoteWaiterAsync(scope, waiter, cancellationToken);

    ValueTask ITaskLimitStore.ForgetWaiterAsync(LimitScope scope, string taskId, CancellationToken cancellationToken) => limits.ForgetWaiterAsync(scope, taskId, cancellationToken);

    // Paused queues, in a table of the same account.

    /// <inheritdoc />
    public ValueTask PauseAsync(string queue, CancellationToken cancellationToken = default) => pauses.PauseAsync(queue, cancellationToken);

    /// <inheritdoc />
    public ValueTask ResumeAsync(string queue, CancellationToken cancellationToken = default) => pauses.ResumeAsync(queue, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TaskQueuePause>> ListPausedAsync(CancellationToken cancellationToken = default) => pauses.ListPausedAsync(cancellationToken);

    /// <inheritdoc />
    /// <remarks>One update of the message, its text and visibility together (to the next whole second: an early look only finds the limit full again).</remarks>
    ValueTask ITaskMessageReplacer.ReplaceAsync(ReceivedTaskMessage message, ReadOnlyMemory<byte> body, TimeSpan delay, CancellationToken cancellationToken)
        => UpdateVisibilityAsync(message, TimeSpan.FromSeconds(Math.Ceiling(Math.Min(delay.TotalSeconds, QueueVisibility.Max.TotalSeconds))), "defer", cancellationToken, AzureReceivedMessage.Encode(body));

    private async ValueTask UpdateVisibilityAsync(ReceivedTaskMessage message, TimeSpan visibility, string action, CancellationToken cancellationToken, string? text = null)
    {
        var azure = (AzureReceivedMessage)message;
        try
        {
            UpdateReceipt receipt = await azure.Client.UpdateMessageAsync(azure.TransportMessageId, azure.PopReceipt, messageText: text, visibility, cancellationToken).ConfigureAwait(false);
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
        var client = service.GetQueueClient(QueueName(queue));

        // Shared by every caller waiting for it, so no one caller's token may cancel it.
        if (options.CreateQueues) await calls.RunAsync(client.Name, CancellationToken.None, () => client.CreateIfNotExistsAsync(cancellationToken: CancellationToken.None)).ConfigureAwait(false);
        return readyQueues.GetOrAdd(queue, client);
    }

    // Late-bound: the shard router, made before the poison queues, hands them its undecodable messages through this.
    private Task MoveUndecodableAsync(QueueClient queue, QueueMessage message, CancellationToken cancellationToken) => poison.MoveUndecodableAsync(queue, message, cancellationToken);

    private static bool IsLeaseLost(RequestFailedException ex)
        => ex.ErrorCode == QueueErrorCode.MessageNotFound || ex.ErrorCode == QueueErrorCode.PopReceiptMismatch;

    private static TaskLeaseLostException LeaseLost(ReceivedTaskMessage message, string action, RequestFailedException ex)
        => new($"Cannot {action} message {message.MessageId} on '{message.Queue}': {ex.ErrorCode} (another worker took it, or its lease expired).", ex);
}


/// <summary>A message seen by <see cref="AzureQueueTransport.PeekAsync"/>.</summary>
/// <param name="TransportMessageId">Azure's id of the message (shared by the tasks of a pack).</param>
/// <param name="DequeueCount">How often it was received so far.</param>
/// <param name="InsertedOn">When it was sent.</param>
/// <param name="Envelope">What it holds: task, id and arguments as JSON.</param>
public sealed record PeekedTaskMessage(string TransportMessageId, int DequeueCount, DateTimeOffset? InsertedOn, TaskEnvelopeSummary Envelope);
