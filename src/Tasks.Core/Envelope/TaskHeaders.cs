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

    /// <summary>
    /// A new message id: 64 random bits chosen once per process and a 64-bit counter, as 22
    /// characters of base64url. Unique without a system call per message (Guid.NewGuid asks the OS
    /// for randomness each time, which dominated the cost of an enqueue).
    /// </summary>
    public static string NewMessageId()
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, ProcessPrefix);
        BinaryPrimitives.WriteInt64LittleEndian(bytes[8..], Interlocked.Increment(ref messageCounter));
        Span<char> chars = stackalloc char[24];
        Convert.TryToBase64Chars(bytes, chars, out _);
        for (var i = 0; i < 22; i++)
        {
            chars[i] = chars[i] switch { '+' => '-', '/' => '_', var c => c };
        }

        return new string(chars[..22]);
    }

    /// <summary>Writes the header map every message carries (its id and enqueue time), and one more header if given.</summary>
    internal static void Write(ref MessagePackWriter writer, string messageId, DateTimeOffset enqueuedAt, string? extraName = null, string? extraValue = null)
    {
        var extra = extraName is not null && extraValue is not null;
        writer.WriteMapHeader(extra ? 3 : 2);
        writer.Write(MessageId);
        writer.Write(messageId);
        writer.Write(EnqueuedAt);
        writer.Write(enqueuedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
        if (!extra) return;
        writer.Write(extraName);
        writer.Write(extraValue);
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

    private static readonly long ProcessPrefix = Random.Shared.NextInt64(long.MinValue, long.MaxValue);
    private static long messageCounter;

    private static readonly IReadOnlyDictionary<string, string> EmptyHeaders = new Dictionary<string, string>();
}
