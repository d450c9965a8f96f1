using System;
using System.Collections.Generic;
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
    /// The messages received from <paramref name="client"/> (the queue's, or a shard's), which their receipts go back to;
    /// with <paramref name="mayBeCopies"/>, each may have a copy sent elsewhere (<see cref="ReceivedTaskMessage.MayBeCopy"/>).
    /// </summary>
    public static IReadOnlyList<ReceivedTaskMessage> From(string queue, QueueClient client, QueueMessage[] messages, bool mayBeCopies = false)
    {
        if (messages.Length == 0) return Array.Empty<ReceivedTaskMessage>();
        var received = new ReceivedTaskMessage[messages.Length];
        for (var i = 0; i < messages.Length; i++)
        {
            var m = messages[i];
            received[i] = new AzureReceivedMessage(queue, client, m.MessageId, m.Body.ToMemory(), (int)Math.Min(m.DequeueCount, int.MaxValue), m.PopReceipt) { MayBeCopy = mayBeCopies };
        }

        return received;
    }
}

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
