using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using Microsoft.Extensions.Logging;

namespace Tasks.Azure;

/// <summary>
/// The dead letters: JSON records in each queue's <c>&lt;queue&gt;-poison</c> queue, each with the original message text
/// (or, when it does not fit beside its reason, a message of its own), readable in any storage explorer. Listed, peeked,
/// requeued byte for byte or deleted, many at once in one scan; every call through the queue guard.
/// </summary>
internal sealed partial class PoisonQueues(
    QueueServiceClient text, // encoding None: records are JSON a person reads in any storage explorer
    AzureQueueOptions options,
    BlobPayloadStore payloads,
    QueueCallGuard calls,
    Func<string, string> queueName,
    Func<string, string> logicalQueueName,
    ILogger logger,
    TimeProvider time) : ITaskDeadLetters
{
    // A queue cannot be browsed past 32 messages: a scan receives every poison message with this
    // lease, acts on the matching ones, and makes the others visible again at once.
    private static readonly TimeSpan ScanLease = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan NeverExpires = TimeSpan.FromSeconds(-1);
    private const int MaxMessageTextBytes = 65_536;
    private const int MaxDetailLength = 4_096;

    /// <summary>Adds a dead letter of <paramref name="queue"/>: the message's text beside its reason (its payload, if apart, kept until the dead letter is purged).</summary>
    public async ValueTask AddAsync(string queue, string messageId, ReadOnlyMemory<byte> body, DeadLetterDetails reason, CancellationToken cancellationToken)
    {
        await payloads.KeepAsync(body, cancellationToken).ConfigureAwait(false);
        var poison = new PoisonMessage(
            queueName(queue),
            messageId,
            reason.Attempt,
            Truncate(reason.Reason)!,
            reason.ExceptionType,
            Truncate(reason.ExceptionMessage),
            time.GetUtcNow(),
            Convert.ToBase64String(body.Span));
        await SendPoisonAsync(poison, cancellationToken).ConfigureAwait(false);
    }

    private async Task SendPoisonAsync(PoisonMessage poison, CancellationToken cancellationToken)
    {
        var client = text.GetQueueClient(poison.Queue + AzureQueueNames.PoisonSuffix);
        if (options.CreateQueues) await calls.RunAsync(client.Name, cancellationToken, () => client.CreateIfNotExistsAsync(cancellationToken: cancellationToken)).ConfigureAwait(false);
        var json = poison.ToJson();
        if (Encoding.UTF8.GetByteCount(json) > MaxMessageTextBytes && poison.MessageText is not null)
        {
            // A full-size message leaves no room for the reason: the text travels in a message of its own.
            SendReceipt apart = await calls.RunAsync(client.Name, cancellationToken, async () => (await client.SendMessageAsync(poison.MessageText, null, NeverExpires, cancellationToken).ConfigureAwait(false)).Value).ConfigureAwait(false);
            json = (poison with { MessageText = null, MessageTextId = apart.MessageId }).ToJson();
        }

        await calls.RunAsync(client.Name, cancellationToken, () => client.SendMessageAsync(json, null, NeverExpires, cancellationToken)).ConfigureAwait(false);
    }

    // A received message that is not base64 holds no envelope: it is left out of the batch and moved here, with its
    // text as it was; left on its queue, it would come back forever.
    public async Task MoveUndecodableAsync(QueueClient queue, QueueMessage message, CancellationToken cancellationToken)
    {
        try
        {
            var poison = new PoisonMessage(
                logicalQueueName(queue.Name),
                message.MessageId,
                (int)Math.Min(message.DequeueCount, int.MaxValue),
                "The message text is not valid base64, so it cannot hold a task envelope.",
                null,
                null,
                time.GetUtcNow(),
                message.Body.ToString());
            await SendPoisonAsync(poison, cancellationToken).ConfigureAwait(false);
            await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt, cancellationToken).ConfigureAwait(false);
            Log.UndecodableMessage(logger, message.MessageId, queue.Name);
        }
        catch (Exception ex)
        {
            Log.UndecodableMessageFailed(logger, ex, message.MessageId, queue.Name);
        }
    }

    private static string? Truncate(string? text) => text is { Length: > MaxDetailLength } ? text[..MaxDetailLength] + "…" : text;

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
        var poison = text.GetQueueClient(queueName(queue) + AzureQueueNames.PoisonSuffix);
        if (await calls.PropertiesAsync(poison, cancellationToken).ConfigureAwait(false) is null) return [];
        PeekedMessage[] peeked = await calls.RunAsync(poison.Name, cancellationToken, () => poison.PeekMessagesAsync(Math.Clamp(maxCount, 1, 32), cancellationToken)).ConfigureAwait(false);
        return peeked.Select(m => TryParse(m.Body.ToString())).Where(r => r is not null).Select(r => ToDeadLetter(queue, r!, r!.MessageText)).OrderBy(l => l.DeadLetteredAt).ToArray();
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TaskDeadLetter>> RequeueDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
    {
        var target = text.GetQueueClient(queueName(queue));
        return ScanDeadLettersAsync(queue, filter, async (letter, ct) =>
        {
            if (letter.Text is null) return false; // nothing to send back: it stays a dead letter
            await calls.RunAsync(target.Name, ct, () => target.SendMessageAsync(letter.Text, null, NeverExpires, ct)).ConfigureAwait(false);
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

    /// <summary>
    /// Runs <paramref name="act"/> on each matching dead letter, oldest first; deletes those it
    /// returns true for (with the message holding their text, if apart) and makes the rest visible
    /// again. Returns those it deleted.
    /// </summary>
    private async ValueTask<IReadOnlyList<TaskDeadLetter>> ScanDeadLettersAsync(string queue, DeadLetterFilter? filter, Func<ScannedDeadLetter, CancellationToken, Task<bool>> act, CancellationToken cancellationToken)
    {
        var poison = text.GetQueueClient(queueName(queue) + AzureQueueNames.PoisonSuffix);
        if (await calls.PropertiesAsync(poison, cancellationToken).ConfigureAwait(false) is null) return [];
        var received = new List<QueueMessage>();
        while (true)
        {
            QueueMessage[] batch = await calls.RunAsync(poison.Name, cancellationToken, () => poison.ReceiveMessagesAsync(32, ScanLease, cancellationToken)).ConfigureAwait(false);
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
                await calls.RunAsync(poison.Name, cancellationToken, () => poison.DeleteMessageAsync(message.MessageId, message.PopReceipt, cancellationToken)).ConfigureAwait(false);
                done.Add(message.MessageId);
                if (holder is not null)
                {
                    await calls.RunAsync(poison.Name, cancellationToken, () => poison.DeleteMessageAsync(holder.MessageId, holder.PopReceipt, cancellationToken)).ConfigureAwait(false);
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
    internal static IReadOnlyList<TaskEnvelopeSummary> Summarize(string text)
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

    internal static byte[]? TryDecode(string? text)
    {
        if (text is null) return null;
        var bytes = new byte[text.Length * 3 / 4 + 3];
        return Convert.TryFromBase64String(text, bytes, out var written) ? bytes[..written] : null;
    }

    private sealed record ScannedDeadLetter(TaskDeadLetter Letter, string? Text);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Message {MessageId} on {Queue} is not valid base64; it was moved to the poison queue")]
        public static partial void UndecodableMessage(ILogger logger, string messageId, string queue);

        [LoggerMessage(2, LogLevel.Error, "Could not move undecodable message {MessageId} on {Queue} to the poison queue; it will be delivered again")]
        public static partial void UndecodableMessageFailed(ILogger logger, Exception exception, string messageId, string queue);
    }
}
