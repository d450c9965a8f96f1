using System;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;

namespace Tasks.Azure;

/// <summary>Dead letters: JSON records in the <c>&lt;queue&gt;-poison</c> queue, each with the original message text.</summary>
public sealed partial class AzureQueueTransport
{
    /// <inheritdoc />
    public async ValueTask DeadLetterAsync(ReceivedTaskMessage message, DeadLetterDetails reason, CancellationToken cancellationToken)
    {
        // Copy first, delete second: a crash in between leaves a duplicate, never a loss.
        await AddDeadLetterAsync(message.Queue, message.MessageId, message.Body, reason, cancellationToken).ConfigureAwait(false);
        await CompleteAsync(message, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask AddDeadLetterAsync(string queue, string messageId, ReadOnlyMemory<byte> body, DeadLetterDetails reason, CancellationToken cancellationToken)
    {
        await payloads.KeepAsync(body, cancellationToken).ConfigureAwait(false);
        var poison = new PoisonMessage(
            QueueName(queue),
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
        var client = textService.GetQueueClient(poison.Queue + AzureQueueNames.PoisonSuffix);
        if (options.CreateQueues) await Guard(client.Name, cancellationToken, () => client.CreateIfNotExistsAsync(cancellationToken: cancellationToken)).ConfigureAwait(false);
        var json = poison.ToJson();
        if (Encoding.UTF8.GetByteCount(json) > MaxMessageTextBytes && poison.MessageText is not null)
        {
            // A full-size message leaves no room for the reason: the text travels in a message of its own.
            SendReceipt text = await client.SendMessageAsync(poison.MessageText, null, NeverExpires, cancellationToken).ConfigureAwait(false);
            json = (poison with { MessageText = null, MessageTextId = text.MessageId }).ToJson();
        }

        await client.SendMessageAsync(json, null, NeverExpires, cancellationToken).ConfigureAwait(false);
    }

    // The SDK cannot base64-decode the message, drops it from the batch and calls this; without a
    // handler the message would come back forever.
    private async Task OnMessageDecodingFailedAsync(QueueMessageDecodingFailedEventArgs args)
    {
        if (args.ReceivedMessage is not { } message) return;
        try
        {
            var poison = new PoisonMessage(
                LogicalQueueName(args.Queue.Name),
                message.MessageId,
                (int)Math.Min(message.DequeueCount, int.MaxValue),
                "The message text is not valid base64, so it cannot hold a task envelope.",
                null,
                null,
                time.GetUtcNow(),
                message.Body.ToString());
            await SendPoisonAsync(poison, args.CancellationToken).ConfigureAwait(false);
            await args.Queue.DeleteMessageAsync(message.MessageId, message.PopReceipt, args.CancellationToken).ConfigureAwait(false);
            Log.UndecodableMessage(logger, message.MessageId, args.Queue.Name);
        }
        catch (Exception ex)
        {
            Log.UndecodableMessageFailed(logger, ex, message.MessageId, args.Queue.Name);
        }
    }

    private static string? Truncate(string? text) => text is { Length: > MaxDetailLength } ? text[..MaxDetailLength] + "…" : text;
}
