using System;
using System.Buffers;
using System.IO;
using MessagePack;

namespace Tasks;

/// <summary>
/// The content of a <see cref="TaskOutboxEntry"/>: a written task (<see cref="WrittenTask"/>) with the options its send
/// needs, as one MessagePack array that starts with its version, so a row written by one release is sent by the next.
/// </summary>
internal static class OutboxContent
{
    private const int Version = 1;
    private const int Fields = 12;
    private const int RecordFields = 6;

    /// <summary>What an entry holds: the written task, when it was written, and how it is sent.</summary>
    public readonly record struct Entry(WrittenTask Task, DateTimeOffset CreatedAt, TimeSpan Delay, TimeSpan? TimeToLive, string? ShardKey);

    public static byte[] Write(in WrittenTask task, DateTimeOffset createdAt, TaskEnqueueOptions? options)
    {
        var buffer = new ArrayBufferWriter<byte>(task.Envelope.Length + 256);
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(Fields);
        writer.Write(Version);
        writer.Write(task.Id);
        writer.Write(task.Name);
        writer.Write(task.Queue);
        writer.Write(createdAt.UtcTicks);
        writer.Write((options?.Delay ?? TimeSpan.Zero).Ticks);
        WriteTicks(ref writer, options?.TimeToLive?.Ticks);
        writer.Write(options?.ShardKey);
        writer.Write(task.UniqueLock);
        WriteTicks(ref writer, task.UniqueUntil?.UtcTicks);
        if (task.Record is { } record)
        {
            writer.WriteArrayHeader(RecordFields);
            writer.Write(record.MaxAttempts ?? 0);
            writer.Write(record.ArgumentsJson);
            writer.Write(record.ArgumentsNote);
            writer.Write(record.ArgumentsBytes ?? 0);
            writer.Write(record.UniqueKey);
            writer.Write(record.Continuable == true);
        }
        else
        {
            writer.WriteNil();
        }

        writer.Write(task.Envelope.Span);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <exception cref="FormatException">The content is not an outbox entry of a version this release reads.</exception>
    public static Entry Read(ReadOnlyMemory<byte> content)
    {
        try
        {
            var reader = new MessagePackReader(content);
            var fields = reader.ReadArrayHeader();
            var version = reader.ReadInt32();
            if (version != Version || fields < Fields) throw new FormatException($"an outbox entry of version {version} with {fields} fields; this release reads version {Version}");
            var id = reader.ReadString()!;
            var name = reader.ReadString()!;
            var queue = reader.ReadString()!;
            var createdAt = new DateTimeOffset(reader.ReadInt64(), TimeSpan.Zero);
            var delay = TimeSpan.FromTicks(reader.ReadInt64());
            var timeToLive = ReadTicks(ref reader) is { } ttl ? TimeSpan.FromTicks(ttl) : (TimeSpan?)null;
            var shardKey = reader.ReadString();
            var uniqueLock = reader.ReadString();
            var uniqueUntil = ReadTicks(ref reader) is { } until ? new DateTimeOffset(until, TimeSpan.Zero) : (DateTimeOffset?)null;
            RecordWrite? record = null;
            if (!reader.TryReadNil())
            {
                reader.ReadArrayHeader();
                var delayed = delay > TimeSpan.Zero;
                record = new RecordWrite(id)
                {
                    TaskName = name,
                    Queue = queue,
                    MaxAttempts = reader.ReadInt32(),
                    EnqueuedAt = createdAt,
                    ScheduledFor = delayed ? createdAt + delay : null,
                    ArgumentsJson = reader.ReadString(),
                    ArgumentsNote = reader.ReadString(),
                    ArgumentsBytes = reader.ReadInt32(),
                    UniqueKey = reader.ReadString(),
                    Continuable = reader.ReadBoolean() ? true : null,
                    State = delayed ? TaskState.Scheduled : TaskState.Enqueued,
                    StateAt = createdAt,
                };
            }

            var envelope = reader.ReadBytes() ?? throw new FormatException("an outbox entry without an envelope");
            return new Entry(new WrittenTask(name, queue, id, envelope.ToArray(), record, uniqueLock, uniqueUntil), createdAt, delay, timeToLive, shardKey);
        }
        catch (MessagePackSerializationException ex)
        {
            throw new FormatException($"Not an outbox entry: {ex.Message}", ex);
        }
        catch (EndOfStreamException ex)
        {
            throw new FormatException($"A cut outbox entry: {ex.Message}", ex);
        }
    }

    private static void WriteTicks(ref MessagePackWriter writer, long? ticks)
    {
        if (ticks is { } value) writer.Write(value);
        else writer.WriteNil();
    }

    private static long? ReadTicks(ref MessagePackReader reader) => reader.TryReadNil() ? null : reader.ReadInt64();
}
