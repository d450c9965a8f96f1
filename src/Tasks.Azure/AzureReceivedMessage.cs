using System;
using System.Buffers;
using System.Buffers.Text;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;

namespace Tasks.Azure;

/// <summary>A message received from an Azure queue, with the receipt its lease is renewed, released and ended by.</summary>
internal sealed class AzureReceivedMessage(string queue, QueueClient client, string messageId, ReadOnlyMemory<byte> body, int attempt, string popReceipt)
    : ReceivedTaskMessage(queue, messageId, body, attempt)
{
    /// <summary>The Azure queue it came from: the task queue's, or one of its shards.</summary>
    public QueueClient Client => client;

    /// <summary>Every update of its visibility issues a new one; the old one is dead from then on.</summary>
    public string PopReceipt { get; set; } = popReceipt;

    /// <summary>
    /// The messages received from <paramref name="client"/> (the queue's, or a shard's), which their receipts go back to,
    /// their base64 text decoded; with <paramref name="mayBeCopies"/>, each may have a copy sent elsewhere
    /// (<see cref="ReceivedTaskMessage.MayBeCopy"/>). A message that is not base64 holds no envelope: it goes to
    /// <paramref name="undecodable"/> (the poison queue) and is left out, as the SDK's base64 decoding did with it.
    /// </summary>
    public static ValueTask<IReadOnlyList<ReceivedTaskMessage>> FromAsync(
        string queue, QueueClient client, QueueMessage[] messages, UndecodableMessageHandler undecodable, CancellationToken cancellationToken, bool mayBeCopies = false)
    {
        if (messages.Length == 0) return new(Array.Empty<ReceivedTaskMessage>());
        var received = new ReceivedTaskMessage[messages.Length];
        var count = 0;
        List<QueueMessage>? bad = null;
        foreach (var m in messages)
        {
            if (TryDecode(m.Body, out var body))
                received[count++] = new AzureReceivedMessage(queue, client, m.MessageId, body, (int)Math.Min(m.DequeueCount, int.MaxValue), m.PopReceipt) { MayBeCopy = mayBeCopies };
            else
                (bad ??= []).Add(m);
        }

        return bad is null ? new(received) : PoisonAsync(received[..count], client, bad, undecodable, cancellationToken);

        static async ValueTask<IReadOnlyList<ReceivedTaskMessage>> PoisonAsync(ReceivedTaskMessage[] good, QueueClient client, List<QueueMessage> bad, UndecodableMessageHandler undecodable, CancellationToken cancellationToken)
        {
            foreach (var m in bad) await undecodable(client, m, cancellationToken).ConfigureAwait(false);
            return good;
        }
    }

    /// <summary>
    /// The envelope in a message's text: base64 of it, as Tasks writes it (and the SDK's base64 encoding did before),
    /// decoded straight from the UTF-8 text into an array of the exact size.
    /// </summary>
    internal static bool TryDecode(BinaryData text, out ReadOnlyMemory<byte> body)
    {
        var utf8 = text.ToMemory().Span;
        if (utf8.Length % 4 == 0)
        {
            var padding = utf8.Length == 0 || utf8[^1] != (byte)'=' ? 0 : utf8[^2] == (byte)'=' ? 2 : 1;
            var bytes = new byte[utf8.Length / 4 * 3 - padding];
            if (Base64.DecodeFromUtf8(utf8, bytes, out _, out var written) == OperationStatus.Done && written == bytes.Length)
            {
                body = bytes;
                return true;
            }
        }

        // What Convert.FromBase64String (the SDK's decoding) also took, such as whitespace, still decodes.
        if (PoisonQueues.TryDecode(text.ToString()) is { } decoded)
        {
            body = decoded;
            return true;
        }

        body = default;
        return false;
    }

    /// <summary>The base64 text of an envelope: what every message Tasks sends carries, byte for byte what the SDK's base64 encoding sent.</summary>
    /// <remarks>A string, for the SDK's text overloads: with no encoding it sends the text as it is (BinaryData would be made text again).</remarks>
    internal static string Encode(ReadOnlyMemory<byte> envelope) => Convert.ToBase64String(envelope.Span);
}

/// <summary>Moves a received message that is not base64 to the poison queue, and deletes it from <paramref name="queue"/>.</summary>
internal delegate Task UndecodableMessageHandler(QueueClient queue, QueueMessage message, CancellationToken cancellationToken);

/// <summary>How the service counts visibility: in whole seconds, and message times to the second.</summary>
internal static class QueueVisibility
{
    /// <summary>The longest a message may be hidden (a delay, a release).</summary>
    public static readonly TimeSpan Max = TimeSpan.FromDays(7);

    /// <summary>
    /// A visibility timeout can end up to a second early; a lease asks for one second more, so it is never shorter
    /// than the worker was promised.
    /// </summary>
    public static readonly TimeSpan LeaseRounding = TimeSpan.FromSeconds(1);

    /// <summary>Whole seconds, at least <paramref name="delay"/> after any instant of the current second.</summary>
    public static TimeSpan AtLeast(TimeSpan delay)
        => delay <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Ceiling(delay.TotalSeconds)) + LeaseRounding;
}
