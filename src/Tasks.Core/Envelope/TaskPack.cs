using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using MessagePack;

namespace Tasks;

/// <summary>
/// A pack: many task envelopes in one message, written by a bulk enqueue, so the queue service
/// is paid once per pack instead of once per task. Wire format v1 with a nil wire name:
/// <c>[1, nil, [envelope (bin), …], {"id", "enqueued-at", "attempts"?}]</c>. Each envelope is
/// complete (its own id, headers and signature), so a task leaves its pack byte for byte when it
/// must be retried or dead-lettered on its own. See docs/wire-format.md.
/// </summary>
internal static class TaskPack
{
    /// <summary>Attempts the pack's tasks made before this message carried them (absent: none).</summary>
    public const string AttemptsHeader = "attempts";

    /// <summary>
    /// An upper bound of the bytes a pack adds to its envelopes: the array and its fixed fields,
    /// the headers, and per envelope its bin header (<see cref="PerEnvelopeOverhead"/>).
    /// </summary>
    public const int FixedOverhead = 96;

    /// <summary>The largest bin header (bin 32), so sizes computed with it are never short.</summary>
    public const int PerEnvelopeOverhead = 5;

    /// <summary>True if <paramref name="body"/> starts like a pack: an array, format version 1, then nil.</summary>
    public static bool IsPack(ReadOnlyMemory<byte> body)
    {
        try
        {
            var reader = new MessagePackReader(body);
            return reader.NextMessagePackType == MessagePackType.Array
                && reader.ReadArrayHeader() >= 4
                && reader.NextMessagePackType == MessagePackType.Integer
                && reader.ReadInt32() == TaskEnvelope.FormatVersion
                && reader.NextMessagePackType == MessagePackType.Nil;
        }
        catch (Exception ex) when (ex is MessagePackSerializationException or EndOfStreamException or OverflowException)
        {
            return false; // not a pack: the envelope reader says what is wrong with it
        }
    }

    /// <summary>Writes a pack of <paramref name="envelopes"/>.</summary>
    public static void Write(IBufferWriter<byte> output, IReadOnlyList<ReadOnlyMemory<byte>> envelopes, string packId, DateTimeOffset enqueuedAt, int priorAttempts)
    {
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(4);
        writer.Write(TaskEnvelope.FormatVersion);
        writer.WriteNil();
        writer.WriteArrayHeader(envelopes.Count);
        foreach (var envelope in envelopes) writer.Write(envelope.Span);
        writer.WriteMapHeader(priorAttempts > 0 ? 3 : 2);
        writer.Write(TaskHeaders.MessageId);
        writer.Write(packId);
        writer.Write(TaskHeaders.EnqueuedAt);
        writer.Write(enqueuedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
        if (priorAttempts > 0)
        {
            writer.Write(AttemptsHeader);
            writer.Write(priorAttempts.ToString(CultureInfo.InvariantCulture));
        }

        writer.Flush();
    }

    /// <summary>Reads a pack; any problem is a <see cref="TaskEnvelopeException"/> whose message is the dead-letter reason of the whole pack.</summary>
    public static Contents Read(ReadOnlyMemory<byte> body)
    {
        try
        {
            var reader = new MessagePackReader(body);
            var fields = reader.ReadArrayHeader();
            reader.Skip(); // the version and the nil name, as IsPack checked them
            reader.Skip();
            if (reader.NextMessagePackType != MessagePackType.Array)
                throw new TaskEnvelopeException($"The task pack holds a MessagePack {reader.NextMessagePackType} where its array of envelopes belongs.");
            var count = reader.ReadArrayHeader();
            var envelopes = new List<ReadOnlyMemory<byte>>(Math.Min(count, body.Length));
            for (var i = 0; i < count; i++)
            {
                if (reader.NextMessagePackType != MessagePackType.Binary)
                    throw new TaskEnvelopeException($"Task {i + 1} of the pack is a MessagePack {reader.NextMessagePackType}, not an envelope's bytes.");
                var length = (int)reader.ReadBytes()!.Value.Length;
                envelopes.Add(body.Slice((int)reader.Consumed - length, length)); // a slice: no copy
            }

            var (packId, priorAttempts) = ReadHeaders(ref reader);
            for (var i = 4; i < fields; i++) TaskEnvelope.SkipBounded(ref reader, TaskSerializer.DefaultOptions);
            if (!reader.End)
                throw new TaskEnvelopeException($"The task pack has {body.Length - reader.Consumed} bytes after its end.");
            return new Contents(packId, priorAttempts, envelopes);
        }
        catch (TaskEnvelopeException)
        {
            throw;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new TaskEnvelopeException($"Could not decode the task pack: {ex.Message}", ex);
        }
    }

    private static (string? PackId, int PriorAttempts) ReadHeaders(ref MessagePackReader reader)
    {
        if (reader.TryReadNil()) return (null, 0);
        var count = reader.ReadMapHeader();
        string? packId = null;
        var priorAttempts = 0;
        for (var i = 0; i < count; i++)
        {
            var key = reader.NextMessagePackType == MessagePackType.String ? reader.ReadString() : throw new TaskEnvelopeException($"Header {i + 1} of the task pack has no string name.");
            var value = reader.NextMessagePackType == MessagePackType.String ? reader.ReadString() : throw new TaskEnvelopeException($"Header '{key}' of the task pack has no string value.");
            if (key == TaskHeaders.MessageId) packId = value;
            else if (key == AttemptsHeader && !(int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out priorAttempts) && priorAttempts < 1_000_000))
                throw new TaskEnvelopeException($"The task pack's '{AttemptsHeader}' header is '{value}', not a count of attempts.");
        }

        return (string.IsNullOrEmpty(packId) ? null : packId, priorAttempts);
    }

    /// <summary>A pack's id, the attempts its tasks made before, and its envelopes (slices of the message body).</summary>
    public sealed record Contents(string? PackId, int PriorAttempts, IReadOnlyList<ReadOnlyMemory<byte>> Envelopes);
}
