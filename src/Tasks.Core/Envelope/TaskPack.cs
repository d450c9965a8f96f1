using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;
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
    /// For a task over a limit that went back to its queue (a pack of one): <c>{first wait, Unix ms}/{deferrals}/{rewrites}</c>,
    /// where rewrites count the deliveries of this very message that were deferrals, not attempts (absent: it never waited).
    /// </summary>
    public const string WaitingHeader = "waiting";

    /// <summary>
    /// An upper bound of the bytes a pack adds to its envelopes: the array and its fixed fields,
    /// the headers, and per envelope its bin header (<see cref="PerEnvelopeOverhead"/>).
    /// </summary>
    public const int FixedOverhead = 96;

    /// <summary>The largest bin header (bin 32), so sizes computed with it are never short.</summary>
    public const int PerEnvelopeOverhead = 5;

    /// <summary>
    /// True if <paramref name="body"/> starts like a pack: an array header, format version 1, then
    /// nil where an envelope has its wire name, and not a map after it (that is a payload reference,
    /// <see cref="TaskPayloadReference"/>). A look at the first bytes, not a parse: it runs for every
    /// message a worker receives, before the envelope is read.
    /// </summary>
    public static bool IsPack(ReadOnlyMemory<byte> body)
    {
        var bytes = body.Span;
        var header = HeaderLength(bytes);
        return header > 0 && bytes.Length > header + 1 && bytes[header] == TaskEnvelope.FormatVersion && bytes[header + 1] == MessagePackCode.Nil
            && !TaskPayloadReference.IsReference(body);
    }

    /// <summary>The length of the array header <paramref name="bytes"/> start with, or 0 if they do not start with one.</summary>
    internal static int HeaderLength(ReadOnlySpan<byte> bytes) => bytes.IsEmpty ? 0 : bytes[0] switch
    {
        >= MessagePackCode.MinFixArray and <= MessagePackCode.MaxFixArray => 1,
        MessagePackCode.Array16 => 3,
        MessagePackCode.Array32 => 5,
        _ => 0,
    };

    /// <summary>Writes a pack of <paramref name="envelopes"/>.</summary>
    public static void Write(IBufferWriter<byte> output, IReadOnlyList<ReadOnlyMemory<byte>> envelopes, string packId, DateTimeOffset enqueuedAt, int priorAttempts, LimitWait? waiting = null)
    {
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(4);
        writer.Write(TaskEnvelope.FormatVersion);
        writer.WriteNil();
        writer.WriteArrayHeader(envelopes.Count);
        foreach (var envelope in envelopes) writer.Write(envelope.Span);
        TaskHeaders.Write(ref writer, packId, enqueuedAt, AttemptsHeader, priorAttempts > 0 ? priorAttempts.ToString(CultureInfo.InvariantCulture) : null, WaitingHeader, waiting?.ToString());
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

            var headersStart = (int)reader.Consumed;
            TaskEnvelope.SkipBounded(ref reader, TaskSerializer.DefaultOptions);
            var headers = TaskHeaders.Read(body[headersStart..(int)reader.Consumed]); // a non-string header throws: the pack is unreadable
            headers.TryGetValue(TaskHeaders.MessageId, out var packId);
            var priorAttempts = 0;
            if (headers.TryGetValue(AttemptsHeader, out var attempts) && !(int.TryParse(attempts, NumberStyles.None, CultureInfo.InvariantCulture, out priorAttempts) && priorAttempts < 1_000_000))
                throw new TaskEnvelopeException($"The task pack's '{AttemptsHeader}' header is '{attempts}', not a count of attempts.");
            LimitWait? waiting = null;
            if (headers.TryGetValue(WaitingHeader, out var wait))
                waiting = LimitWait.Parse(wait) ?? throw new TaskEnvelopeException($"The task pack's '{WaitingHeader}' header is '{wait}', not a wait for a limit.");
            for (var i = 4; i < fields; i++) TaskEnvelope.SkipBounded(ref reader, TaskSerializer.DefaultOptions);
            if (!reader.End)
                throw new TaskEnvelopeException($"The task pack has {body.Length - reader.Consumed} bytes after its end.");
            return new Contents(string.IsNullOrEmpty(packId) ? null : packId, priorAttempts, envelopes) { Waiting = waiting };
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

    /// <summary>A pack's id, the attempts its tasks made before, and its envelopes (slices of the message body).</summary>
    public sealed record Contents(string? PackId, int PriorAttempts, IReadOnlyList<ReadOnlyMemory<byte>> Envelopes)
    {
        /// <summary>For a task that waits for a limit, since when and how often.</summary>
        public LimitWait? Waiting { get; init; }

        /// <summary>The attempt of the pack's tasks on the pack's <paramref name="delivery"/>: deliveries that were deferrals do not count.</summary>
        public int AttemptOn(int delivery) => Math.Max(1, delivery + PriorAttempts - (Waiting?.Rewrites ?? 0));
    }
}

/// <summary>A task's wait for a limit, carried by the pack of one it waits in.</summary>
/// <param name="Since">When it first waited.</param>
/// <param name="Deferrals">How many times it was deferred.</param>
/// <param name="Rewrites">How many deliveries of this very message were deferrals (its body rewritten in place).</param>
internal readonly record struct LimitWait(DateTimeOffset Since, int Deferrals, int Rewrites)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Since.ToUnixTimeMilliseconds()}/{Deferrals}/{Rewrites}");

    public static LimitWait? Parse(string text)
    {
        var parts = text.Split('/');
        return parts.Length == 3
            && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var since) && since <= 253402300799999
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var deferrals)
            && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var rewrites)
                ? new LimitWait(DateTimeOffset.FromUnixTimeMilliseconds(since), deferrals, rewrites)
                : null;
    }
}
