using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks.Azure;

/// <summary>
/// Finding shards by listing: those a worker writes are known, those left by an earlier count or
/// account list are the <c>name-k</c> queues found in each account, drained until they are empty.
/// </summary>
public sealed partial class AzureQueueTransport
{
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
                var names = await CallBoundedAsync(null, account, null, cancellationToken, async ct =>
                {
                    var found = new List<string>();
                    await foreach (var item in account.Envelopes.GetQueuesAsync(prefix: sharded.Name + "-", cancellationToken: ct).ConfigureAwait(false))
                    {
                        if (IsShardName(sharded.Name, item.Name)) found.Add(item.Name);
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
    /// The shards beside shard 0 of <paramref name="queue"/>, for counts and peeks: those configured and found, or,
    /// in a process without the configuration, those found when shard 0's metadata says it is sharded.
    /// </summary>
    private async Task<IEnumerable<QueueShard>> OtherShardsAsync(string queue, IDictionary<string, string>? metadata, CancellationToken cancellationToken)
    {
        if (shardedQueues.TryGetValue(queue, out var sharded))
        {
            await DiscoverAsync(sharded, cancellationToken).ConfigureAwait(false);
            return OthersThanZero(sharded);
        }

        if (metadata is null || !metadata.TryGetValue(ShardsMetadataKey, out var written)) return [];
        sharded = new ShardedQueue(QueueName(queue), [new QueueShard(accounts[0], QueueName(queue), written: false)]);
        await DiscoverAsync(sharded, cancellationToken).ConfigureAwait(false);
        var others = OthersThanZero(sharded).ToArray();
        // Shards live in account k mod A: a count that found fewer was not given every account, and says so once.
        if (int.TryParse(written, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var count)
            && Enumerable.Range(1, Math.Max(count - 1, 0)).Where(k => !others.Any(s => s.Name == sharded.Name + "-" + k)).ToArray() is { Length: > 0 } missing
            && unfoundShardsWarned.TryAdd(queue, 0))
            Log.ShardsNotFound(logger, queue, count, string.Join(", ", missing));
        return others;

        static IEnumerable<QueueShard> OthersThanZero(ShardedQueue sharded) => sharded.Readers.Values.Where(s => s.Account.Index != 0 || s.Name != sharded.Name);
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> unfoundShardsWarned = new(StringComparer.Ordinal);

    /// <summary>The Azure name a dead letter of <paramref name="azureQueue"/> is filed under: its queue's, for a shard.</summary>
    private string LogicalQueueName(string azureQueue)
    {
        foreach (var sharded in shardedQueues.Values)
        {
            if (IsShardName(sharded.Name, azureQueue)) return sharded.Name;
        }

        return azureQueue;
    }

    private static bool IsShardName(string baseName, string name)
        => name.Length > baseName.Length + 1 && name.StartsWith(baseName, StringComparison.Ordinal) && name[baseName.Length] == '-'
           && name.AsSpan(baseName.Length + 1).IndexOfAnyExceptInRange('0', '9') < 0;
}
