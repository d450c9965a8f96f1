using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Payloads in memory: envelopes larger than a message take the same path as on Azure (a reference in
/// the message, the envelope kept apart, fetched and checked by the worker), so a large argument that
/// works here works there, and <see cref="MaxEnvelopeBytes"/> is honoured alike.
/// </summary>
public sealed partial class InMemoryTransport : ITaskPayloadStore
{
    /// <summary>The default of <see cref="MaxEnvelopeBytes"/>: 64 MiB, as on Azure.</summary>
    public const int DefaultMaxEnvelopeBytes = 64 * 1024 * 1024;

    private readonly Dictionary<string, (byte[] Envelope, DateTimeOffset KeepUntil)> payloads = new(StringComparer.Ordinal);
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
    public IReadOnlyCollection<string> PayloadNames
    {
        get { lock (gate) return payloads.Keys.ToArray(); }
    }

    /// <summary>Replaces a payload's bytes, or deletes it if <paramref name="envelope"/> is null: what a test of a changed or lost blob needs.</summary>
    internal void ReplacePayload(string name, byte[]? envelope)
    {
        lock (gate)
        {
            if (envelope is null) payloads.Remove(name);
            else payloads[name] = (envelope, payloads.TryGetValue(name, out var kept) ? kept.KeepUntil : DateTimeOffset.MaxValue);
        }
    }

    /// <inheritdoc />
    public ValueTask<string> UploadPayloadAsync(string queue, string messageId, ReadOnlyMemory<byte> envelope, DateTimeOffset keepUntil, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (envelope.Length > MaxEnvelopeBytes)
            throw new ArgumentException($"The envelope is {envelope.Length} bytes; this transport keeps at most {MaxEnvelopeBytes}.", nameof(envelope));
        var name = $"{queue}/{messageId}";
        lock (gate) payloads[name] = (envelope.ToArray(), keepUntil);
        return new(name);
    }

    /// <inheritdoc />
    public ValueTask<long?> ReadPayloadAsync(string name, Memory<byte> destination, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (gate)
        {
            if (!payloads.TryGetValue(name, out var payload)) return new((long?)null);
            payload.Envelope.AsSpan(0, Math.Min(payload.Envelope.Length, destination.Length)).CopyTo(destination.Span);
            return new(payload.Envelope.LongLength);
        }
    }

    /// <inheritdoc />
    public ValueTask DeletePayloadAsync(string name, CancellationToken cancellationToken)
    {
        lock (gate) payloads.Remove(name);
        return default;
    }

    /// <inheritdoc />
    public ValueTask<int> SweepPayloadsAsync(TimeSpan grace, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        lock (gate)
        {
            var expired = payloads.Where(p => p.Value.KeepUntil != DateTimeOffset.MaxValue && p.Value.KeepUntil + grace <= now).Select(p => p.Key).ToArray();
            foreach (var name in expired) payloads.Remove(name);
            return new(expired.Length);
        }
    }

    /// <summary>A dead letter holds its payload until it is purged (under <see cref="gate"/>).</summary>
    private void KeepPayloadOf(ReadOnlyMemory<byte> body)
    {
        if (TaskPayloads.NameOf(body) is { } name && payloads.TryGetValue(name, out var payload))
            payloads[name] = (payload.Envelope, DateTimeOffset.MaxValue);
    }

    /// <summary>A purged dead letter takes its payload with it (under <see cref="gate"/>).</summary>
    private void ForgetPayloadOf(ReadOnlyMemory<byte> body)
    {
        if (TaskPayloads.NameOf(body) is { } name) payloads.Remove(name);
    }
}
