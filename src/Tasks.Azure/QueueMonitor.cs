using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;

namespace Tasks.Azure;

/// <summary>
/// What an operator sees of the queues: depth from the service's approximate counts, the task queues that exist,
/// and the next messages described without taking them; a sharded queue as one queue, its shards summed.
/// </summary>
internal sealed class QueueMonitor(
    QueueServiceClient queues,
    string? queuePrefix,
    Func<string, string> queueName,
    ShardRouter shards,
    QueueCallGuard calls)
{
    public async ValueTask<TaskQueueDepth> GetDepthAsync(string queue, CancellationToken cancellationToken)
    {
        var first = await calls.PropertiesAsync(queues.GetQueueClient(queueName(queue)), cancellationToken).ConfigureAwait(false);
        var messages = first?.ApproximateMessagesCount;
        foreach (var shard in await shards.OtherShardsAsync(queue, first?.Metadata, cancellationToken).ConfigureAwait(false))
        {
            if (await calls.PropertiesAsync(shard.Client, cancellationToken, shard.Account.Endpoint).ConfigureAwait(false) is { } properties)
                messages = (messages ?? 0) + properties.ApproximateMessagesCount;
        }

        var deadLetters = await calls.PropertiesAsync(queues.GetQueueClient(queueName(queue) + AzureQueueNames.PoisonSuffix), cancellationToken).ConfigureAwait(false);
        return new TaskQueueDepth(queue, messages is not null, messages ?? 0, deadLetters?.ApproximateMessagesCount ?? 0);
    }

    public async ValueTask<IReadOnlyList<string>> ListQueuesAsync(CancellationToken cancellationToken)
    {
        var found = await calls.RunAsync(null, cancellationToken, async () =>
        {
            var items = new List<QueueItem>();
            await foreach (var queue in queues.GetQueuesAsync(QueueTraits.Metadata, string.IsNullOrEmpty(queuePrefix) ? null : queuePrefix, cancellationToken).ConfigureAwait(false))
            {
                if (!queue.Name.EndsWith(AzureQueueNames.PoisonSuffix, StringComparison.Ordinal)) items.Add(queue);
            }

            return items;
        }).ConfigureAwait(false);
        var sharded = found.Where(q => q.Metadata?.ContainsKey(ShardRouter.ShardsMetadataKey) == true).Select(q => q.Name)
            .Concat(shards.Names).ToHashSet(StringComparer.Ordinal);
        return found.Where(q => !sharded.Any(name => ShardedQueue.IsShardName(name, q.Name))).Select(q => q.Name[(queuePrefix?.Length ?? 0)..]).ToArray();
    }

    public async ValueTask<IReadOnlyList<PeekedTaskMessage>> PeekAsync(string queue, int maxMessages, CancellationToken cancellationToken)
    {
        // As text, decoded here: a message that is not base64 is shown with what is wrong with it, not left out.
        var client = queues.GetQueueClient(queueName(queue));
        if (await calls.PropertiesAsync(client, cancellationToken).ConfigureAwait(false) is not { } first) return [];
        maxMessages = Math.Clamp(maxMessages, 1, 32);
        var peeked = new List<PeekedMessage>((PeekedMessage[])await calls.RunAsync(client.Name, cancellationToken, () => client.PeekMessagesAsync(maxMessages, cancellationToken)).ConfigureAwait(false));
        foreach (var shard in await shards.OtherShardsAsync(queue, first.Metadata, cancellationToken).ConfigureAwait(false))
        {
            if (peeked.Count >= maxMessages) break;
            var shardText = shard.Client;
            peeked.AddRange((PeekedMessage[])await calls.RunAsync(shardText.Name, cancellationToken, () => shardText.PeekMessagesAsync(maxMessages - peeked.Count, cancellationToken), shard.Account.Endpoint).ConfigureAwait(false));
        }

        return peeked.SelectMany(m => PoisonQueues.Summarize(m.Body.ToString()).Select(task => new PeekedTaskMessage(m.MessageId, (int)Math.Min(m.DequeueCount, int.MaxValue), m.InsertedOn, task))).ToArray();
    }
}
