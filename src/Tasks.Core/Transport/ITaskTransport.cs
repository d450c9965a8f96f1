using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks.Transports;

/// <summary>
/// A queue service that carries task envelopes: at-least-once delivery with leases. A received
/// message stays invisible to other receivers until its lease ends; it is deleted only by
/// <see cref="CompleteAsync"/> or <see cref="DeadLetterAsync"/>.
/// </summary>
public interface ITaskTransport
{
    /// <summary>The largest envelope, in bytes, a message can carry.</summary>
    int MaxMessageBytes { get; }

    /// <summary>Puts a message on <paramref name="queue"/>. The body is only valid until the returned task completes.</summary>
    ValueTask SendAsync(string queue, OutgoingTaskMessage message, CancellationToken cancellationToken);

    /// <summary>Takes up to <paramref name="maxMessages"/> visible messages and leases each for <paramref name="leaseDuration"/>.</summary>
    ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken);

    /// <summary>Extends a lease. Throws <see cref="TaskLeaseLostException"/> if another receiver owns the message now.</summary>
    ValueTask RenewLeaseAsync(ReceivedTaskMessage message, TimeSpan leaseDuration, CancellationToken cancellationToken);

    /// <summary>Deletes a message whose task succeeded. Throws <see cref="TaskLeaseLostException"/> if the lease was lost.</summary>
    ValueTask CompleteAsync(ReceivedTaskMessage message, CancellationToken cancellationToken);

    /// <summary>Ends the lease early: the message becomes visible again after <paramref name="delay"/>.</summary>
    ValueTask ReleaseAsync(ReceivedTaskMessage message, TimeSpan delay, CancellationToken cancellationToken);

    /// <summary>Moves a message to the dead-letter (poison) store with the reason, then deletes the original.</summary>
    ValueTask DeadLetterAsync(ReceivedTaskMessage message, DeadLetterDetails reason, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a dead letter for a task that has no message of its own (a task of a pack): its
    /// <paramref name="body"/> is the task's envelope, kept byte for byte so a requeue is exact.
    /// Deletes nothing: the worker completes the pack once each of its tasks is settled.
    /// </summary>
    ValueTask AddDeadLetterAsync(string queue, string messageId, ReadOnlyMemory<byte> body, DeadLetterDetails reason, CancellationToken cancellationToken);

    /// <summary>What the start log says of this transport: its kind and endpoint, never a secret.</summary>
    string Describe() => GetType().Name;

    /// <summary>
    /// Checks at start that <paramref name="queues"/> can be used: the service is reachable and the
    /// credentials are accepted. Throws <see cref="TaskTransportException"/>; one that is not
    /// <see cref="TaskTransportException.IsTransient"/> stops the host, since no retry can fix it.
    /// </summary>
    ValueTask CheckAsync(IReadOnlyCollection<string> queues, CancellationToken cancellationToken) => default;
}

/// <summary>
/// A transport could not reach its queues. <see cref="IsTransient"/> tells a fault that may pass
/// (the service is down or slow) from one that needs a person (credentials refused, an unknown
/// account, a missing queue): the message says which queue and endpoint, and what to fix, never a secret.
/// </summary>
public sealed class TaskTransportException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TaskTransportException(string message, bool isTransient, Exception? innerException = null) : base(message, innerException)
        => IsTransient = isTransient;

    /// <summary>True if retrying later may succeed; false if the configuration must change first.</summary>
    public bool IsTransient { get; }
}

/// <summary>A message to send.</summary>
/// <param name="MessageId">The id written into the envelope's headers.</param>
/// <param name="Body">The envelope bytes.</param>
/// <param name="Delay">How long the message stays invisible after it is sent.</param>
/// <param name="TimeToLive">How long the message lives in the queue; null for the transport's default.</param>
public readonly record struct OutgoingTaskMessage(string MessageId, ReadOnlyMemory<byte> Body, TimeSpan Delay, TimeSpan? TimeToLive)
{
    /// <summary>On a sharded queue, the key whose messages all go to one shard (<see cref="TaskEnqueueOptions.ShardKey"/>); null to spread them in turn.</summary>
    public string? ShardKey { get; init; }
}

/// <summary>A leased message. Transports derive from it to keep their own receipt.</summary>
public class ReceivedTaskMessage
{
    /// <summary>Creates a received message.</summary>
    /// <param name="queue">The queue the message came from.</param>
    /// <param name="transportMessageId">The transport's own id of the message (Azure's message id, say).</param>
    /// <param name="body">The envelope bytes.</param>
    /// <param name="attempt">1 on the first delivery, as the transport counts them.</param>
    public ReceivedTaskMessage(string queue, string transportMessageId, ReadOnlyMemory<byte> body, int attempt)
    {
        Queue = queue;
        TransportMessageId = transportMessageId;
        MessageId = transportMessageId;
        Body = body;
        Envelope = body;
        Attempt = attempt;
    }

    /// <summary>The queue the message came from.</summary>
    public string Queue { get; }

    /// <summary>The transport's own id of the message, for its receipts. Not the task's id: see <see cref="MessageId"/>.</summary>
    public string TransportMessageId { get; }

    /// <summary>
    /// An id of this message, never used by another message of the transport: what a released task's run
    /// claim names, so a second message with the same task id is told from a second delivery of the same
    /// message. <see cref="TransportMessageId"/> unless the transport reuses those.
    /// </summary>
    public virtual string InstanceId => TransportMessageId;

    /// <summary>
    /// The task's message id: the one <c>Enqueue</c> returned, read from the envelope, the same on every
    /// attempt and after a dead letter is requeued. <see cref="TransportMessageId"/> until the worker has
    /// read the envelope, and for a message whose envelope cannot be read.
    /// </summary>
    public string MessageId { get; internal set; }

    /// <summary>The envelope bytes, as the message carries them (for an envelope in the payload store, its reference).</summary>
    public ReadOnlyMemory<byte> Body { get; }

    /// <summary>The envelope the worker decodes: <see cref="Body"/>, or the payload it refers to once fetched.</summary>
    internal ReadOnlyMemory<byte> Envelope { get; set; }

    /// <summary>The payload reference <see cref="Body"/> is, if it is one (read by the worker).</summary>
    internal TaskPayloadReference? Payload { get; set; }

    /// <summary>1 on the first delivery, counted by the transport (the body is never rewritten).</summary>
    public int Attempt { get; }

    /// <summary>
    /// True where the transport knows a copy of this message may have been sent, and run, already, although this is its
    /// first delivery: a send given up at its deadline on a shard that did not answer, and sent again to another, arrives
    /// twice. The worker then reads the task's record before running it, as for a message delivered again, and drops a
    /// copy of a task that has ended.
    /// </summary>
    public bool MayBeCopy { get; init; }

    /// <summary>For a task that waited for a place in a limit: when it first waited (read from its pack by the worker).</summary>
    internal DateTimeOffset? WaitingSince { get; init; }

    /// <summary>For a task that waited for a place in a limit: how many times it was deferred.</summary>
    internal int Deferrals { get; init; }
}

/// <summary>Why a message was dead-lettered.</summary>
/// <param name="Reason">A sentence a person can act on.</param>
/// <param name="ExceptionType">The full name of the exception that ended the task, if one did.</param>
/// <param name="ExceptionMessage">That exception's message.</param>
/// <param name="Attempt">The attempt on which the message was given up.</param>
public sealed record DeadLetterDetails(string Reason, string? ExceptionType, string? ExceptionMessage, int Attempt)
{
    internal static DeadLetterDetails From(string reason, Exception? exception, int attempt)
        => new(reason, exception?.GetType().FullName, exception?.Message, attempt);
}

/// <summary>The message's lease passed to another receiver (it ran too long, or was taken again).</summary>
public sealed class TaskLeaseLostException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TaskLeaseLostException(string message, Exception? innerException = null) : base(message, innerException) { }
}
