using System;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks.Transports;

/// <summary>
/// Where a transport keeps envelopes too large for its messages (a claim check): the client uploads
/// the envelope and sends a small reference to it; the worker fetches it before the task runs, and
/// deletes it once the task has succeeded. A transport that implements this takes arguments of any
/// size up to <see cref="MaxEnvelopeBytes"/>. A dead letter keeps its payload until it is purged.
/// See docs/wire-format.md, "Payload references".
/// </summary>
public interface ITaskPayloadStore
{
    /// <summary>Envelopes larger than this travel in the store; at most the transport's <see cref="ITaskTransport.MaxMessageBytes"/>.</summary>
    int PayloadThresholdBytes { get; }

    /// <summary>The largest envelope accepted at all: a larger one fails at <c>Enqueue</c> with its size and this limit.</summary>
    int MaxEnvelopeBytes { get; }

    /// <summary>
    /// Stores the envelope of message <paramref name="messageId"/> of <paramref name="queue"/>; returns the
    /// name its reference carries. Kept at least until <paramref name="keepUntil"/> (when the message would
    /// have expired), after which <see cref="SweepPayloadsAsync"/> may delete it unless a dead letter holds it.
    /// </summary>
    ValueTask<string> UploadPayloadAsync(string queue, string messageId, ReadOnlyMemory<byte> envelope, DateTimeOffset keepUntil, CancellationToken cancellationToken);

    /// <summary>
    /// Reads the payload <paramref name="name"/> into <paramref name="destination"/> (as much of it as fits);
    /// returns its whole length, which the caller checks against the reference, or null if there is none.
    /// </summary>
    ValueTask<long?> ReadPayloadAsync(string name, Memory<byte> destination, CancellationToken cancellationToken);

    /// <summary>Deletes a payload; one that is gone already is no error.</summary>
    ValueTask DeletePayloadAsync(string name, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes the payloads no message can need any more: kept past their keep-until time by more than
    /// <paramref name="grace"/>, and not held by a dead letter. Returns how many it deleted. Safe to call
    /// from every worker: one at a time sweeps, the others return 0.
    /// </summary>
    ValueTask<int> SweepPayloadsAsync(TimeSpan grace, CancellationToken cancellationToken);
}

/// <summary>What a message body says of a payload, for transports and tools without the worker's internals.</summary>
public static class TaskPayloads
{
    /// <summary>The payload a message body refers to, or null if the body is no payload reference (or cannot be read).</summary>
    public static string? NameOf(ReadOnlyMemory<byte> body)
    {
        if (!TaskPayloadReference.IsReference(body)) return null;
        try
        {
            return TaskPayloadReference.Read(body, signer: null).Blob;
        }
        catch (TaskEnvelopeException)
        {
            return null;
        }
    }
}
