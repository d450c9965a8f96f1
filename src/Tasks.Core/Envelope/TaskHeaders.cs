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

    /// <summary>"1" on a task sent from an outbox, which may be sent twice (a relay and the committing process, or a crash between send and delete): its worker claims its run, so it runs once.</summary>
    public const string Outbox = "outbox";

    /// <summary>
    /// A new message id, due now: see <see cref="NewMessageId(DateTimeOffset)"/>.
    /// </summary>
    public static string NewMessageId() => NewMessageId(DateTimeOffset.UtcNow);

    /// <summary>
    /// A new message id for a task due at <paramref name="due"/>: the due time in Unix milliseconds
    /// (47 bits), 32 random bits chosen once per process and a 48-bit counter, as 22 characters of
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
        return IdText(bytes);
    }

    /// <summary>
    /// The most tasks one record group holds: a group row has a property per member (a row has at most 252), and with
    /// indexes below 208 a member's id sorts after its group's (the last two characters of the id, base64url, hold the
    /// index, and from 208 on they begin with a digit, which sorts before the group's 'A').
    /// </summary>
    internal const int MaxGroupMembers = 200;

    /// <summary>
    /// Ids for <paramref name="count"/> tasks (at most <see cref="MaxGroupMembers"/>) due at <paramref name="due"/> whose
    /// records are kept as one row, and the id of that row. A member's id is marked by the top bit of its first byte
    /// (a due time never reaches it) and differs from its group's only in its last byte, its index; so the group is
    /// found from the id alone, and the rows of a group and its members sort together (see docs/records.md).
    /// </summary>
    internal static (string GroupId, string[] MemberIds) NewGroupIds(DateTimeOffset due, int count)
    {
        if (count is < 1 or > MaxGroupMembers) throw new ArgumentOutOfRangeException(nameof(count), count, $"A record group holds 1 to {MaxGroupMembers} tasks.");
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteInt64BigEndian(bytes, Math.Clamp(due.ToUnixTimeMilliseconds(), 0, MaxIdMilliseconds) << 16);
        bytes[0] |= GroupMark;
        BinaryPrimitives.WriteInt32LittleEndian(bytes[6..], ProcessPrefix);
        var group = Interlocked.Increment(ref groupCounter);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[10..], (int)group);
        bytes[14] = (byte)(group >> 32);
        var members = new string[count];
        for (var i = 0; i < count; i++)
        {
            bytes[15] = (byte)(i + 1);
            members[i] = IdText(bytes);
        }

        bytes[15] = 0;
        return (IdText(bytes), members);
    }

    /// <summary>The id of the record group <paramref name="id"/> is a member of, and its index there; null for an id of a task of its own.</summary>
    internal static (string GroupId, int Index)? GroupOf(string? id)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (!TryIdBytes(id, bytes) || (bytes[0] & GroupMark) == 0 || bytes[15] == 0) return null;
        int index = bytes[15];
        bytes[15] = 0;
        return (IdText(bytes), index);
    }

    /// <summary>The id of member <paramref name="index"/> (from 1) of the group <paramref name="groupId"/>.</summary>
    internal static string MemberId(string groupId, int index)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (!TryIdBytes(groupId, bytes)) throw new ArgumentException($"'{groupId}' is not a task id.", nameof(groupId));
        bytes[15] = (byte)index;
        return IdText(bytes);
    }

    /// <summary>Whether <paramref name="id"/> names a record group's row rather than a task.</summary>
    internal static bool IsGroupId(string? id)
    {
        Span<byte> bytes = stackalloc byte[16];
        return TryIdBytes(id, bytes) && (bytes[0] & GroupMark) != 0 && bytes[15] == 0;
    }

    private static string IdText(ReadOnlySpan<byte> bytes)
    {
        Span<char> chars = stackalloc char[24];
        Convert.TryToBase64Chars(bytes, chars, out _);
        for (var i = 0; i < 22; i++)
        {
            chars[i] = chars[i] switch { '+' => '-', '/' => '_', var c => c };
        }

        return new string(chars[..22]);
    }

    private static bool TryIdBytes(string? id, Span<byte> bytes)
    {
        if (id is not { Length: 22 }) return false;
        Span<char> chars = stackalloc char[24];
        for (var i = 0; i < 22; i++)
        {
            chars[i] = id[i] switch { '-' => '+', '_' => '/', var c => c };
        }

        chars[22] = chars[23] = '=';
        return Convert.TryFromBase64Chars(chars, bytes, out var written) && written == 16;
    }

    /// <summary>The due time an id of <see cref="NewMessageId(DateTimeOffset)"/> carries, or null if <paramref name="id"/> is not one.</summary>
    internal static DateTimeOffset? DueOf(string? id)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (!TryIdBytes(id, bytes)) return null;
        bytes[0] &= unchecked((byte)~GroupMark);
        return DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(bytes) >>> 16);
    }

    private const long MaxIdMilliseconds = (1L << 47) - 1;

    /// <summary>The bit of an id's first byte that marks a member of a record group: a due time below the year 6400 leaves it clear.</summary>
    private const byte GroupMark = 0x80;

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
        WriteCommon(ref writer, messageId, enqueuedAt, (headers.TraceParent is null ? 0 : 1) + (uniqueLock is null ? 0 : 1) + (headers.Continuable ? 1 : 0) + (headers.Parent is null ? 0 : 1) + (headers.Batch is null ? 0 : 1) + (headers.Outbox ? 1 : 0) + (headers.Added?.Count ?? 0));
        if (headers.TraceParent is { } traceParent) Pair(ref writer, TraceParent, traceParent);
        if (uniqueLock is not null) Pair(ref writer, Unique, uniqueLock);
        if (headers.Continuable) Pair(ref writer, Continuable, "1");
        if (headers.Parent is { } parent) Pair(ref writer, Parent, parent);
        if (headers.Batch is { } batch) Pair(ref writer, Batch, batch);
        if (headers.Outbox) Pair(ref writer, Outbox, "1");
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
    private static long groupCounter;

    private static readonly IReadOnlyDictionary<string, string> EmptyHeaders = new Dictionary<string, string>();
}
