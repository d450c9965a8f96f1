using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;

namespace Tasks.Azure;

/// <summary>
/// What an operator sees and does: queue depth from the service's approximate counts, and dead
/// letters read from the <c>-poison</c> queue, requeued byte for byte, or deleted.
/// </summary>
public sealed partial class AzureQueueTransport : ITaskQueueMonitor, ITaskDeadLetters
{
    /// <inheritdoc />
    /// <remarks>A sharded queue's count is the sum of its shards', those left by an earlier count included.</remarks>
    public async ValueTask<TaskQueueDepth> GetDepthAsync(string queue, CancellationToken cancellationToken = default)
    {
        var first = await PropertiesAsync(envelopeService.GetQueueClient(QueueName(queue)), cancellationToken).ConfigureAwait(false);
        var messages = first?.ApproximateMessagesCount;
        foreach (var shard in await OtherShardsAsync(queue, first?.Metadata, cancellationToken).ConfigureAwait(false))
        {
            if (await PropertiesAsync(shard.Client, cancellationToken, shard.Account.Endpoint).ConfigureAwait(false) is { } properties)
                messages = (messages ?? 0) + properties.ApproximateMessagesCount;
        }

        var deadLetters = await CountAsync(textService.GetQueueClient(PoisonQueueName(queue)), cancellationToken).ConfigureAwait(false);
        return new TaskQueueDepth(queue, messages is not null, messages ?? 0, deadLetters ?? 0);
    }

    /// <summary>
    /// The task queues that exist under this transport's prefix (their names without it), poison queues left out,
    /// and a sharded queue once, by its name: not each of its shards.
    /// </summary>
    public async ValueTask<IReadOnlyList<string>> ListQueuesAsync(CancellationToken cancellationToken = default)
    {
        var found = await Guard(null, cancellationToken, async () =>
        {
            var items = new List<QueueItem>();
            await foreach (var queue in envelopeService.GetQueuesAsync(QueueTraits.Metadata, string.IsNullOrEmpty(options.QueuePrefix) ? null : options.QueuePrefix, cancellationToken).ConfigureAwait(false))
            {
                if (!queue.Name.EndsWith(AzureQueueNames.PoisonSuffix, StringComparison.Ordinal)) items.Add(queue);
            }

            return items;
        }).ConfigureAwait(false);
        var prefixLength = options.QueuePrefix?.Length ?? 0;
        var sharded = found.Where(q => q.Metadata?.ContainsKey(ShardsMetadataKey) == true).Select(q => q.Name)
            .Concat(shardedQueues.Values.Select(q => q.Name)).ToHashSet(StringComparer.Ordinal);
        return found.Where(q => !sharded.Any(name => IsShardName(name, q.Name))).Select(q => q.Name[prefixLength..]).ToArray();
    }

    /// <summary>
    /// The tasks of up to <paramref name="maxMessages"/> (at most 32) of the next messages of
    /// <paramref name="queue"/>, described without taking them (Azure's peek: visible messages only,
    /// leases untouched): one entry per task, so a pack gives one for each task it holds. Empty if
    /// the queue does not exist.
    /// </summary>
    /// <remarks>A sharded queue is peeked shard after shard until <paramref name="maxMessages"/> are seen.</remarks>
    public async ValueTask<IReadOnlyList<PeekedTaskMessage>> PeekAsync(string queue, int maxMessages = 32, CancellationToken cancellationToken = default)
    {
        // As text, decoded here: the SDK's base64 decoding would silently leave out a message that is not base64.
        var client = textService.GetQueueClient(QueueName(queue));
        if (await PropertiesAsync(client, cancellationToken).ConfigureAwait(false) is not { } first) return [];
        maxMessages = Math.Clamp(maxMessages, 1, 32);
        var peeked = new List<PeekedMessage>((PeekedMessage[])await Guard(client.Name, cancellationToken, () => client.PeekMessagesAsync(maxMessages, cancellationToken)).ConfigureAwait(false));
        foreach (var shard in await OtherShardsAsync(queue, first.Metadata, cancellationToken).ConfigureAwait(false))
        {
            if (peeked.Count >= maxMessages) break;
            var text = shard.Text;
            peeked.AddRange((PeekedMessage[])await Guard(text.Name, cancellationToken, () => text.PeekMessagesAsync(maxMessages - peeked.Count, cancellationToken), shard.Account.Endpoint).ConfigureAwait(false));
        }

        return peeked.SelectMany(m => PoisonQueues.Summarize(m.Body.ToString()).Select(task => new PeekedTaskMessage(m.MessageId, (int)Math.Min(m.DequeueCount, int.MaxValue), m.InsertedOn, task))).ToArray();
    }

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

    /// <summary>The approximate count of <paramref name="client"/>'s queue, or null if it does not exist.</summary>
    private async Task<long?> CountAsync(QueueClient client, CancellationToken cancellationToken)
        => (await PropertiesAsync(client, cancellationToken).ConfigureAwait(false))?.ApproximateMessagesCount;

    /// <summary>The properties (approximate count, metadata) of <paramref name="client"/>'s queue, or null if it does not exist.</summary>
    private async Task<QueueProperties?> PropertiesAsync(QueueClient client, CancellationToken cancellationToken, string? endpoint = null)
    {
        try
        {
            return await Guard(client.Name, cancellationToken, async () => (await client.GetPropertiesAsync(cancellationToken).ConfigureAwait(false)).Value, endpoint).ConfigureAwait(false);
        }
        catch (TaskTransportException ex) when (IsQueueNotFound(ex))
        {
            return null;
        }
    }
}

/// <summary>A message seen by <see cref="AzureQueueTransport.PeekAsync"/>.</summary>
/// <param name="TransportMessageId">Azure's id of the message (shared by the tasks of a pack).</param>
/// <param name="DequeueCount">How often it was received so far.</param>
/// <param name="InsertedOn">When it was sent.</param>
/// <param name="Envelope">What it holds: task, id and arguments as JSON.</param>
public sealed record PeekedTaskMessage(string TransportMessageId, int DequeueCount, DateTimeOffset? InsertedOn, TaskEnvelopeSummary Envelope);
