using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;
using System.Security.Cryptography;
using MessagePack;

namespace Tasks;

/// <summary>
/// A claim check: the message of a task whose envelope is too large for the queue. Wire format v1
/// with a nil wire name, like a pack, but a map where a pack has its array of envelopes:
/// <c>[1, nil, {"blob", "length", "sha256"}, {"id", "enqueued-at", "task", "parent"?}, signature?]</c>.
/// The envelope itself (complete, signed if signing is on) is in the payload store under
/// <c>blob</c>; its length and SHA-256 are here, and the signature covers them, so a blob that was
/// swapped or cut short is refused. See docs/wire-format.md.
/// </summary>
internal readonly record struct TaskPayloadReference(string Blob, long Length, string Sha256, string? MessageId, string? TaskName, string? Parent, DateTimeOffset? EnqueuedAt)
{
    private const string BlobField = "blob";
    private const string LengthField = "length";
    private const string Sha256Field = "sha256";

    /// <summary>The header that names the task, so logs, dead letters and peeks say whose payload it is without fetching it.</summary>
    public const string TaskHeader = "task";

    /// <summary>True if <paramref name="body"/> starts like a reference: version 1, nil, then a map. A look at the first bytes.</summary>
    public static bool IsReference(ReadOnlyMemory<byte> body)
    {
        var bytes = body.Span;
        var header = TaskPack.HeaderLength(bytes);
        return header > 0 && bytes.Length > header + 2 && bytes[header] == TaskEnvelope.FormatVersion && bytes[header + 1] == MessagePackCode.Nil
            && bytes[header + 2] is (>= MessagePackCode.MinFixMap and <= MessagePackCode.MaxFixMap) or MessagePackCode.Map16 or MessagePackCode.Map32;
    }

    /// <summary>Writes the reference to <paramref name="envelope"/>, stored as <paramref name="blob"/>; signed with <paramref name="signer"/> if there is one.</summary>
    public static void Write(ArrayBufferWriter<byte> output, string blob, ReadOnlySpan<byte> envelope, string messageId, DateTimeOffset enqueuedAt, string taskName, string? parent, EnvelopeSigner? signer)
    {
        var start = output.WrittenCount;
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(signer is null ? 4 : 5);
        writer.Write(TaskEnvelope.FormatVersion);
        writer.WriteNil();
        writer.WriteMapHeader(3);
        writer.Write(BlobField);
        writer.Write(blob);
        writer.Write(LengthField);
        writer.Write(envelope.Length.ToString(CultureInfo.InvariantCulture));
        writer.Write(Sha256Field);
        writer.Write(Hash(envelope));
        TaskHeaders.Write(ref writer, messageId, enqueuedAt, TaskHeader, taskName, TaskHeaders.Parent, parent);
        writer.Flush();
        if (signer is not null) TaskEnvelope.AppendSignature(output, start, signer);
    }

    /// <summary>Reads a reference; with a signer, checks its signature first. A problem is a <see cref="TaskEnvelopeException"/> whose message is the dead-letter reason.</summary>
    public static TaskPayloadReference Read(ReadOnlyMemory<byte> body, EnvelopeSigner? signer)
    {
        if (signer is not null && TaskEnvelope.CheckSignature(body, signer) is { } forged)
            throw new TaskEnvelopeException("The payload reference was refused. " + forged);
        try
        {
            var reader = new MessagePackReader(body);
            var fields = reader.ReadArrayHeader();
            reader.Skip(); // the version and the nil name, as IsReference checked them
            reader.Skip();
            var start = (int)reader.Consumed;
            TaskEnvelope.SkipBounded(ref reader, TaskSerializer.DefaultOptions);
            var payload = TaskHeaders.Read(body[start..(int)reader.Consumed]);
            start = (int)reader.Consumed;
            var headers = fields >= 4 ? HeadersAfter(ref reader, body, start) : new Dictionary<string, string>();
            for (var i = 4; i < fields; i++) TaskEnvelope.SkipBounded(ref reader, TaskSerializer.DefaultOptions);
            if (!reader.End) throw new TaskEnvelopeException($"The payload reference has {body.Length - reader.Consumed} bytes after its end.");
            if (!payload.TryGetValue(BlobField, out var blob) || string.IsNullOrEmpty(blob))
                throw new TaskEnvelopeException("The payload reference names no blob.");
            if (!payload.TryGetValue(LengthField, out var lengthText) || !long.TryParse(lengthText, NumberStyles.None, CultureInfo.InvariantCulture, out var length) || length > int.MaxValue)
                throw new TaskEnvelopeException($"The payload reference's length is '{lengthText}', not a size in bytes.");
            if (!payload.TryGetValue(Sha256Field, out var sha256) || sha256.Length != 64)
                throw new TaskEnvelopeException("The payload reference has no SHA-256 of its payload.");
            return new TaskPayloadReference(
                blob, length, sha256,
                headers.TryGetValue(TaskHeaders.MessageId, out var id) ? id : null,
                headers.TryGetValue(TaskHeader, out var task) ? task : null,
                headers.TryGetValue(TaskHeaders.Parent, out var parent) ? parent : null,
                TaskHeaders.EnqueuedAtOf(headers));
        }
        catch (TaskEnvelopeException)
        {
            throw;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new TaskEnvelopeException($"Could not decode the payload reference: {ex.Message}", ex);
        }
    }

    private static IReadOnlyDictionary<string, string> HeadersAfter(ref MessagePackReader reader, ReadOnlyMemory<byte> body, int start)
    {
        TaskEnvelope.SkipBounded(ref reader, TaskSerializer.DefaultOptions);
        return TaskHeaders.Read(body[start..(int)reader.Consumed]);
    }

    /// <summary>Null if a payload of <paramref name="length"/> bytes, read as <paramref name="payload"/>, is what the reference promised; else the dead-letter reason.</summary>
    public string? Check(long length, ReadOnlySpan<byte> payload)
    {
        if (length != Length || payload.Length != Length)
            return $"The payload blob '{Blob}' holds {length:N0} bytes, and its message promised {Length:N0}: the blob was changed; the task was not run with other bytes.";
        return string.Equals(Hash(payload), Sha256, StringComparison.Ordinal)
            ? null
            : $"The payload blob '{Blob}' does not match the SHA-256 its message carries: the blob was changed or swapped; the task was not run with other bytes.";
    }

    private static string Hash(ReadOnlySpan<byte> content)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(content, hash);
        return Convert.ToHexString(hash).ToLowerInvariant();
    }
}
