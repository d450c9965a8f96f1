using System;
using System.Collections.Generic;
using MessagePack;

namespace Tasks;

/// <summary>The header names written into every envelope (wire format v1).</summary>
public static class TaskHeaders
{
    /// <summary>The message id, also used as the transport's message id.</summary>
    public const string MessageId = "id";

    /// <summary>When the message was enqueued, ISO 8601 round-trip format.</summary>
    public const string EnqueuedAt = "enqueued-at";

    /// <summary>The W3C trace context of the enqueuing activity, if there was one.</summary>
    public const string TraceParent = "traceparent";

    /// <summary>Reads a header map that was left undecoded on the hot path.</summary>
    internal static IReadOnlyDictionary<string, string> Read(ReadOnlyMemory<byte> encodedMap)
    {
        if (encodedMap.IsEmpty) return EmptyHeaders;
        var reader = new MessagePackReader(encodedMap);
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

    private static readonly IReadOnlyDictionary<string, string> EmptyHeaders = new Dictionary<string, string>();
}
