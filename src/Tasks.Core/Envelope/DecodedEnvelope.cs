using System;
using MessagePack;

namespace Tasks;

/// <summary>Where the parts of an envelope just written are: its argument bytes, and its unique lock if it has one.</summary>
internal readonly record struct EnvelopeLayout(int ArgumentsStart, int ArgumentsEnd, string? UniqueLock);

/// <summary>The optional headers of an envelope (docs/wire-format.md): set only what applies.</summary>
/// <param name="TraceParent">The enqueuing activity's W3C trace context.</param>
/// <param name="Unique">A unique task: its lock is named in a <c>unique</c> header.</param>
/// <param name="UniqueKey">Its key, or null for its argument bytes.</param>
/// <param name="Continuable">It may have continuations, released when it settles.</param>
/// <param name="Parent">The task or batch a continuation or callback waited for.</param>
/// <param name="Batch">The tracked batch it belongs to.</param>
/// <param name="Outbox">It is sent from an outbox, perhaps twice: its worker claims its run.</param>
internal readonly record struct EnvelopeHeaders(string? TraceParent, bool Unique = false, string? UniqueKey = null, bool Continuable = false, string? Parent = null, string? Batch = null, bool Outbox = false)
{
    /// <summary>The headers enqueue filters added, or null.</summary>
    public System.Collections.Generic.IReadOnlyList<System.Collections.Generic.KeyValuePair<string, string>>? Added { get; init; }
}

/// <summary>A decoded envelope: the task, its typed arguments and its still-encoded headers.</summary>
internal readonly struct DecodedEnvelope
{
    private readonly ReadOnlyMemory<byte> encodedHeaders;

    private readonly ReadOnlyMemory<byte> encodedMessageId;

    internal DecodedEnvelope(TaskDefinition task, object arguments, ReadOnlyMemory<byte> encodedHeaders, ReadOnlyMemory<byte> encodedMessageId)
    {
        Definition = task;
        Arguments = arguments;
        this.encodedHeaders = encodedHeaders;
        this.encodedMessageId = encodedMessageId;
    }

    /// <summary>The message id written by <c>Enqueue</c>, or null if the envelope carries none (a new string each call).</summary>
    public string? ReadMessageId() => encodedMessageId.IsEmpty ? null : new MessagePackReader(encodedMessageId).ReadString() is { Length: > 0 } id ? id : null;

    /// <summary>Whether the envelope's message id is <paramref name="id"/> (or it carries none), without decoding it: ids are ASCII.</summary>
    public bool HasMessageId(string id)
    {
        if (encodedMessageId.IsEmpty) return true;
        var reader = new MessagePackReader(encodedMessageId);
        if (!reader.TryReadStringSpan(out var utf8)) return false;
        if (utf8.Length == 0) return true; // an empty id is none
        if (utf8.Length != id.Length) return false;
        for (var i = 0; i < utf8.Length; i++)
        {
            if (utf8[i] != id[i]) return false;
        }

        return true;
    }

    /// <summary>The task the envelope names.</summary>
    public TaskDefinition Definition { get; }

    /// <summary>The generated argument envelope instance.</summary>
    public object Arguments { get; }

    /// <summary>Whether the headers include <see cref="TaskHeaders.Unique"/>: a look at the bytes, not a parse.</summary>
    public bool HasUniqueHeader => encodedHeaders.Span.IndexOf(UniqueKey) >= 0;

    /// <summary>Whether the headers include <see cref="TaskHeaders.Outbox"/>: a look at the bytes.</summary>
    public bool HasOutboxHeader => encodedHeaders.Span.IndexOf(OutboxKey) >= 0;

    /// <summary>Whether the headers include <see cref="TaskHeaders.Continuable"/>, <see cref="TaskHeaders.Parent"/> or <see cref="TaskHeaders.Batch"/>: a look at the bytes.</summary>
    public bool HasFlowHeader
    {
        get
        {
            var span = encodedHeaders.Span;
            return span.IndexOf(ContinuableKey) >= 0 || span.IndexOf(ParentKey) >= 0 || span.IndexOf(BatchKey) >= 0;
        }
    }

    // Each key as MessagePack writes it: the fixstr code of its length, then its bytes. (Not "\xab..." literals:
    // C# reads up to four hex digits after \x, and "\xabc" would be one character.)
    private static readonly byte[] ContinuableKey = [0xa0 | 11, .. "continuable"u8];
    private static readonly byte[] ParentKey = [0xa0 | 6, .. "parent"u8];
    private static readonly byte[] BatchKey = [0xa0 | 5, .. "batch"u8];
    private static readonly byte[] UniqueKey = [0xa0 | 6, .. "unique"u8];
    private static readonly byte[] OutboxKey = [0xa0 | 6, .. "outbox"u8];

    /// <summary>Decodes the header map (left encoded until asked for, to keep dispatch allocation-free).</summary>
    public System.Collections.Generic.IReadOnlyDictionary<string, string> ReadHeaders() => TaskHeaders.Read(encodedHeaders);
}
