using System;
using System.Threading;
using System.Threading.Tasks;
using Azure.Storage.Queues;

namespace Tasks.Azure;

/// <summary>Dead-lettering a received message: a copy in its queue's poison queue (<see cref="PoisonQueues"/>), then its delete.</summary>
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
    public ValueTask AddDeadLetterAsync(string queue, string messageId, ReadOnlyMemory<byte> body, DeadLetterDetails reason, CancellationToken cancellationToken)
        => poison.AddAsync(queue, messageId, body, reason, cancellationToken);

    // The SDK cannot base64-decode the message, drops it from the batch and calls this; without a
    // handler the message would come back forever.
    private Task OnMessageDecodingFailedAsync(QueueMessageDecodingFailedEventArgs args) => poison.OnMessageDecodingFailedAsync(args);
}
