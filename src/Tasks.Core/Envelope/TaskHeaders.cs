using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using MessagePack;

namespace Tasks;

/// <summary>The header names written into every envelope (wire format v1).</summary>
public static class TaskHeaders
{
    /// <summary>The message id, also used as the transport's message id.</summary>
    public const string MessageId = "id";

    /// <summary>When the message was enqueued, in Unix milliseconds (UTC) as decimal digits.</summary>
    public const string EnqueuedAt = "enqueued-at";

    /// <summary>The W3C trace context of the enqueuing activity, if there was one.</summary>
    public const string TraceParent = "traceparent";

    /// <summary>The unique lock a task with <c>[AsyncTask(UniqueFor = ...)]</c> holds until it settles (a hash of its name and key).</summary>
    public const string Unique = "unique";

    /// <summary>"1" on a task that may have continuations: its worker releases them when it settles.</summary>
    public const string Continuable = "continuable";

    /// <summary>On a continuation or a batch's callback: the task or batch it waited for. Such a task runs once however often it is released.</summary>
    public const string Parent = "parent";

    /// <summary>On a task of a tracked batch: the batch's id, so its end is counted.</summary>
    public const string Batch = "batch";

    /// <summary>
    /// A new message id, due now: see <see cref="NewMessageId(DateTimeOffset)"/>.
    /// </summary>
    public static string NewMessageId() => NewMessageId(DateTimeOffset.UtcNow);

    /// <summary>
    /// A new message id for a task due at <paramref name="due"/>: the due time in Unix milliseconds
    /// (48 bits), 32 random bits chosen once per process and a 48-bit counter, as 22 characters of
    /// base64url. Unique without a system call per message (Guid.NewGuid asks the OS for randomness
    /// each time, which dominated the cost of an enqueue); and the task's record is found from the id
    /// alone, since the due time names the day table it is kept in (see docs/records.md).
    /// </summary>
    internal static string NewMessageId(DateTimeOffset due)
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteInt64BigEndian(bytes, Math.Clamp(due.ToUnixTimeMilliseconds(), 0, MaxIdMilliseconds) << 16);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[6..], ProcessPrefix);
        var counter = Interlocked.Increment(ref messageCounter);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[10..], (int)counter);
        BinaryPrimitives.WriteInt16LittleEndian(bytes[14..], (short)(counter >> 32));
        Span<char> chars = stackalloc char[24];
        Convert.TryToBase64Chars(bytes, chars, out _);
        for (var i = 0; i < 22; i++)
        {
            chars[i] = chars[i] switch { '+' => '-', '/' => '_', var c => c };
        }

        return new string(chars[..22]);
    }

    /// <summary>The due time an id of <see cref="NewMessageId(DateTimeOffset)"/> carries, or null if <paramref name="id"/> is not one.</summary>
    internal static DateTimeOffset? DueOf(string? id)
    {
        if (id is not { Length: 22 }) return null;
        Span<char> chars = stackalloc char[24];
        for (var i = 0; i < 22; i++)
        {
            chars[i] = id[i] switch { '-' => '+', '_' => '/', var c => c };
        }

        chars[22] = chars[23] = '=';
        Span<byte> bytes = stackalloc byte[16];
        if (!Convert.TryFromBase64Chars(chars, bytes, out var written) || written != 16) return null;
        return DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(bytes) >>> 16);
    }

    private const long MaxIdMilliseconds = (1L << 48) - 1;

    /// <summary>Writes the header map every message carries (its id and enqueue time), and up to two more headers: those whose value is not null.</summary>
    internal static void Write(ref MessagePackWriter writer, string messageId, DateTimeOffset enqueuedAt, string? extraName = null, string? extraValue = null, string? otherName = null, string? otherValue = null)
    {
        var extra = extraName is not null && extraValue is not null;
        var other = otherName is not null && otherValue is not null;
        WriteCommon(ref writer, messageId, enqueuedAt, (extra ? 1 : 0) + (other ? 1 : 0));
        if (extra) Pair(ref writer, extraName!, extraValue!);
        if (other) Pair(ref writer, otherName!, otherValue!);
    }

    /// <summary>Writes the header map of a task envelope: its id, enqueue time, and the headers of <paramref name="headers"/> that are set.</summary>
    internal static void Write(ref MessagePackWriter writer, string messageId, DateTimeOffset enqueuedAt, in EnvelopeHeaders headers, string? uniqueLock)
    {
        WriteCommon(ref writer, messageId, enqueuedAt, (headers.TraceParent is null ? 0 : 1) + (uniqueLock is null ? 0 : 1) + (headers.Continuable ? 1 : 0) + (headers.Parent is null ? 0 : 1) + (headers.Batch is null ? 0 : 1) + (headers.Added?.Count ?? 0));
        if (headers.TraceParent is { } traceParent) Pair(ref writer, TraceParent, traceParent);
        if (uniqueLock is not null) Pair(ref writer, Unique, uniqueLock);
        if (headers.Continuable) Pair(ref writer, Continuable, "1");
        if (headers.Parent is { } parent) Pair(ref writer, Parent, parent);
        if (headers.Batch is { } batch) Pair(ref writer, Batch, batch);
        if (headers.Added is { } added)
        {
            foreach (var (name, value) in added) Pair(ref writer, name, value);
        }
    }

    private static void WriteCommon(ref MessagePackWriter writer, string messageId, DateTimeOffset enqueuedAt, int more)
    {
        writer.WriteMapHeader(2 + more);
        writer.Write(MessageId);
        writer.Write(messageId);
        writer.Write(EnqueuedAt);
        writer.Write(enqueuedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
    }

    private static void Pair(ref MessagePackWriter writer, string name, string value)
    {
        writer.Write(name);
        writer.Write(value);
    }

    /// <summary>The <see cref="EnqueuedAt"/> header as a time, or null if it is missing or not Unix milliseconds.</summary>
    internal static DateTimeOffset? EnqueuedAtOf(IReadOnlyDictionary<string, string> headers)
        => headers.TryGetValue(EnqueuedAt, out var text) && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var milliseconds)
            ? DateTimeOffset.FromUnixTimeMilliseconds(milliseconds)
            : null;

    /// <summary>Reads a header map that was left undecoded on the hot path.</summary>
    internal static IReadOnlyDictionary<string, string> Read(ReadOnlyMemory<byte> encodedMap)
    {
        if (encodedMap.IsEmpty) return EmptyHeaders;
        var reader = new MessagePackReader(encodedMap);
        if (reader.TryReadNil()) return EmptyHeaders; // the decoder accepts nil headers: a message without any
        var count = reader.ReadMapHeader();
        var headers = new Dictionary<string, string>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var key = reader.ReadString();
            var value = reader.ReadString();
            if (key is not null && value is not null) headers[key] = value;
        }

        return headers;
    }

    private static readonly int ProcessPrefix = Random.Shared.Next(int.MinValue, int.MaxValue);
    private static long messageCounter;

    private static readonly IReadOnlyDictionary<string, string> EmptyHeaders = new Dictionary<string, string>();
}
