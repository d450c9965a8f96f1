using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Payloads in memory: envelopes larger than a message take the same path as on Azure (a reference in
/// the message, the envelope kept apart, fetched and checked by the worker), so a large argument that
/// works here works there, and <see cref="MaxEnvelopeBytes"/> is honoured alike. Kept by <see cref="InMemoryPayloads"/>.
/// </summary>
public sealed partial class InMemoryTransport : ITaskPayloadStore
{
    /// <summary>The default of <see cref="MaxEnvelopeBytes"/>: 64 MiB, as on Azure.</summary>
    public const int DefaultMaxEnvelopeBytes = 64 * 1024 * 1024;

    private readonly int? payloadThreshold;

    /// <inheritdoc />
    /// <remarks>Default: <see cref="MaxMessageBytes"/>.</remarks>
    public int PayloadThresholdBytes
    {
        get => Math.Min(payloadThreshold ?? MaxMessageBytes, MaxMessageBytes);
        init => payloadThreshold = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(PayloadThresholdBytes), value, "The payload threshold must be positive.");
    }

    /// <inheritdoc />
    public int MaxEnvelopeBytes { get; init; } = DefaultMaxEnvelopeBytes;

    /// <summary>The names of the payloads kept now, for tests and tools.</summary>
    public IReadOnlyCollection<string> PayloadNames => payloads.Names;

    /// <summary>Replaces a payload's bytes, or deletes it if <paramref name="envelope"/> is null: what a test of a changed or lost blob needs.</summary>
    internal void ReplacePayload(string name, byte[]? envelope) => payloads.Replace(name, envelope);

    /// <inheritdoc />
    public ValueTask<string> UploadPayloadAsync(string queue, string messageId, ReadOnlyMemory<byte> envelope, DateTimeOffset keepUntil, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (envelope.Length > MaxEnvelopeBytes)
            throw new ArgumentException($"The envelope is {envelope.Length} bytes; this transport keeps at most {MaxEnvelopeBytes}.", nameof(envelope));
        return new(payloads.Upload($"{queue}/{messageId}", envelope, keepUntil));
    }

    /// <inheritdoc />
    public ValueTask<long?> ReadPayloadAsync(string name, Memory<byte> destination, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(payloads.Read(name, destination.Span));
    }

    /// <inheritdoc />
    public ValueTask DeletePayloadAsync(string name, CancellationToken cancellationToken)
    {
        payloads.Delete(name);
        return default;
    }

    /// <inheritdoc />
    public ValueTask<int> SweepPayloadsAsync(TimeSpan grace, CancellationToken cancellationToken) => new(payloads.Sweep(time.GetUtcNow() - grace));
}
