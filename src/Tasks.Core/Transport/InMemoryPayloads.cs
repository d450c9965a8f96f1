using System;
using System.Collections.Generic;
using System.Linq;

namespace Tasks;

/// <summary>The payloads an <see cref="InMemoryTransport"/> keeps, by name, each until its time (a dead letter's for good), under a lock of their own.</summary>
internal sealed class InMemoryPayloads
{
    private readonly Dictionary<string, (byte[] Envelope, DateTimeOffset KeepUntil)> kept = new(StringComparer.Ordinal);

    public IReadOnlyCollection<string> Names
    {
        get { lock (kept) return [.. kept.Keys]; }
    }

    public string Upload(string name, ReadOnlyMemory<byte> envelope, DateTimeOffset keepUntil)
    {
        lock (kept) kept[name] = (envelope.ToArray(), keepUntil);
        return name;
    }

    /// <summary>Copies as much of the payload as fits into <paramref name="destination"/>; returns its whole length, or null if there is none.</summary>
    public long? Read(string name, Span<byte> destination)
    {
        lock (kept)
        {
            if (!kept.TryGetValue(name, out var payload)) return null;
            payload.Envelope.AsSpan(0, Math.Min(payload.Envelope.Length, destination.Length)).CopyTo(destination);
            return payload.Envelope.LongLength;
        }
    }

    public void Replace(string name, byte[]? envelope)
    {
        lock (kept)
        {
            if (envelope is null) kept.Remove(name);
            else kept[name] = (envelope, kept.TryGetValue(name, out var payload) ? payload.KeepUntil : DateTimeOffset.MaxValue);
        }
    }

    public void Delete(string name)
    {
        lock (kept) kept.Remove(name);
    }

    /// <summary>Deletes the payloads kept only until before <paramref name="before"/>; returns how many.</summary>
    public int Sweep(DateTimeOffset before)
    {
        lock (kept)
        {
            var expired = kept.Where(p => p.Value.KeepUntil != DateTimeOffset.MaxValue && p.Value.KeepUntil <= before).Select(p => p.Key).ToArray();
            foreach (var name in expired) kept.Remove(name);
            return expired.Length;
        }
    }

    /// <summary>A dead letter holds its payload until it is purged.</summary>
    public void KeepFor(ReadOnlyMemory<byte> body)
    {
        if (TaskPayloads.NameOf(body) is not { } name) return;
        lock (kept)
        {
            if (kept.TryGetValue(name, out var payload)) kept[name] = (payload.Envelope, DateTimeOffset.MaxValue);
        }
    }

    /// <summary>A purged dead letter takes its payload with it.</summary>
    public void ForgetFor(ReadOnlyMemory<byte> body)
    {
        if (TaskPayloads.NameOf(body) is { } name) Delete(name);
    }
}
