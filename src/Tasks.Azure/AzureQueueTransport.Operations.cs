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
    // A queue cannot be browsed past 32 messages: a scan receives every poison message with this
    // lease, acts on the matching ones, and makes the others visible again at once.
    private static readonly TimeSpan ScanLease = TimeSpan.FromMinutes(1);

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

        return peeked.SelectMany(m => Summarize(m.Body.ToString()).Select(task => new PeekedTaskMessage(m.MessageId, (int)Math.Min(m.DequeueCount, int.MaxValue), m.InsertedOn, task))).ToArray();
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<TaskDeadLetter>> ListDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
    {
        var listed = new List<TaskDeadLetter>();
        await ScanDeadLettersAsync(queue, filter, (letter, _) =>
        {
            listed.Add(letter.Letter);
            return Task.FromResult(false);
        }, cancellationToken).ConfigureAwait(false);
        return listed;
    }

    /// <inheritdoc />
    /// <remarks>A peek: nothing is taken, so every viewer sees the same. A dead letter whose message text travels apart shows no arguments here.</remarks>
    public async ValueTask<IReadOnlyList<TaskDeadLetter>> PeekDeadLettersAsync(string queue, int maxCount = 32, CancellationToken cancellationToken = default)
    {
        var poison = textService.GetQueueClient(PoisonQueueName(queue));
        if (await CountAsync(poison, cancellationToken).ConfigureAwait(false) is null) return [];
        PeekedMessage[] peeked = await Guard(poison.Name, cancellationToken, () => poison.PeekMessagesAsync(Math.Clamp(maxCount, 1, 32), cancellationToken)).ConfigureAwait(false);
        return peeked.Select(m => TryParse(m.Body.ToString())).Where(r => r is not null).Select(r => ToDeadLetter(queue, r!, r!.MessageText)).OrderBy(l => l.DeadLetteredAt).ToArray();
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TaskDeadLetter>> RequeueDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
    {
        var target = textService.GetQueueClient(QueueName(queue));
        return ScanDeadLettersAsync(queue, filter, async (letter, ct) =>
        {
            if (letter.Text is null) return false; // nothing to send back: it stays a dead letter
            await target.SendMessageAsync(letter.Text, null, NeverExpires, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>A dead letter whose envelope travels in a blob is deleted with its blob; a requeued one keeps it.</remarks>
    public ValueTask<IReadOnlyList<TaskDeadLetter>> DeleteDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
        => ScanDeadLettersAsync(queue, filter, async (letter, ct) =>
        {
            if (TryDecode(letter.Text) is { } body) await payloads.ForgetAsync(body, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);

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

    /// <summary>
    /// Runs <paramref name="act"/> on each matching dead letter, oldest first; deletes those it
    /// returns true for (with the message holding their text, if apart) and makes the rest visible
    /// again. Returns those it deleted.
    /// </summary>
    private async ValueTask<IReadOnlyList<TaskDeadLetter>> ScanDeadLettersAsync(string queue, DeadLetterFilter? filter, Func<ScannedDeadLetter, CancellationToken, Task<bool>> act, CancellationToken cancellationToken)
    {
        var poison = textService.GetQueueClient(PoisonQueueName(queue));
        if (await CountAsync(poison, cancellationToken).ConfigureAwait(false) is null) return [];
        var received = new List<QueueMessage>();
        while (true)
        {
            QueueMessage[] batch = await Guard(poison.Name, cancellationToken, () => poison.ReceiveMessagesAsync(32, ScanLease, cancellationToken)).ConfigureAwait(false);
            if (batch.Length == 0) break;
            received.AddRange(batch);
        }

        var records = received.Select(m => (Message: m, Record: TryParse(m.Body.ToString()))).ToList();
        var texts = records.Where(r => r.Record is null).ToDictionary(r => r.Message.MessageId, r => r.Message);
        var done = new HashSet<string>(StringComparer.Ordinal);
        var acted = new List<TaskDeadLetter>();
        try
        {
            foreach (var (message, record) in records.Where(r => r.Record is not null).OrderBy(r => r.Record!.DeadLetteredAt))
            {
                var holder = record!.MessageTextId is { } textId && texts.TryGetValue(textId, out var apart) ? apart : null;
                var scanned = new ScannedDeadLetter(ToDeadLetter(queue, record, record.MessageText ?? holder?.Body.ToString()), record.MessageText ?? holder?.Body.ToString());
                if (!(filter?.Matches(scanned.Letter) ?? true) || !await act(scanned, cancellationToken).ConfigureAwait(false)) continue;
                await poison.DeleteMessageAsync(message.MessageId, message.PopReceipt, cancellationToken).ConfigureAwait(false);
                done.Add(message.MessageId);
                if (holder is not null)
                {
                    await poison.DeleteMessageAsync(holder.MessageId, holder.PopReceipt, cancellationToken).ConfigureAwait(false);
                    done.Add(holder.MessageId);
                }

                acted.Add(scanned.Letter);
            }
        }
        finally
        {
            // Not cancelled: left leased, the dead letters would vanish from every view for a minute.
            foreach (var message in received.Where(m => !done.Contains(m.MessageId)))
                await poison.UpdateMessageAsync(message.MessageId, message.PopReceipt, (BinaryData?)null, TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);
        }

        return acted;
    }

    private static PoisonMessage? TryParse(string text)
    {
        try
        {
            return PoisonMessage.Parse(text);
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or FormatException)
        {
            return null; // the text of a dead letter too large to sit beside its reason
        }
    }

    /// <summary>The tasks a message text holds (each of a pack's), or what is wrong with it.</summary>
    private static IReadOnlyList<TaskEnvelopeSummary> Summarize(string text)
        => TryDecode(text) is { } body
            ? TaskEnvelopeSummary.OfMessage(body)
            : [new(null, null, null, null, $"The message text is not base64, so it holds no task envelope: '{(text.Length > 60 ? text[..60] + "…" : text)}'.")];

    private static TaskDeadLetter ToDeadLetter(string queue, PoisonMessage record, string? text)
    {
        var summary = text is null ? null : Summarize(text)[0]; // a dead letter holds one task: a pack is dead-lettered whole only when it cannot be read
        return new TaskDeadLetter(queue, record.MessageId, summary?.TaskName, record.Attempt, record.Reason, record.ExceptionType, record.ExceptionMessage, summary?.EnqueuedAt, record.DeadLetteredAt, summary?.ArgumentsJson)
        {
            ArgumentsNote = summary?.Problem ?? (text is null ? "The message text travels apart from the reason and is not read by a peek." : null),
        };
    }

    private static byte[]? TryDecode(string? text)
    {
        if (text is null) return null;
        var bytes = new byte[text.Length * 3 / 4 + 3];
        return Convert.TryFromBase64String(text, bytes, out var written) ? bytes[..written] : null;
    }

    private sealed record ScannedDeadLetter(TaskDeadLetter Letter, string? Text);
}

/// <summary>A message seen by <see cref="AzureQueueTransport.PeekAsync"/>.</summary>
/// <param name="TransportMessageId">Azure's id of the message (shared by the tasks of a pack).</param>
/// <param name="DequeueCount">How often it was received so far.</param>
/// <param name="InsertedOn">When it was sent.</param>
/// <param name="Envelope">What it holds: task, id and arguments as JSON.</param>
public sealed record PeekedTaskMessage(string TransportMessageId, int DequeueCount, DateTimeOffset? InsertedOn, TaskEnvelopeSummary Envelope);
