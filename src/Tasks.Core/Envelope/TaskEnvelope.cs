using System;
using System.Buffers;
using System.Text;
using MessagePack;

namespace Tasks;

/// <summary>
/// Wire format v1: a MessagePack array of [format version, wire name, argument array, header map].
/// See docs/wire-format.md; never change it without a new version number.
/// </summary>
public static partial class TaskEnvelope
{
    /// <summary>The format version this library writes and reads.</summary>
    public const int FormatVersion = 1;

    /// <summary>
    /// Writes an envelope and, with a signer, its signature as a fifth element over the bytes of the
    /// first four. For a unique task (<see cref="EnvelopeHeaders.Unique"/>), a <c>unique</c> header names
    /// its lock, derived from the task name and <see cref="EnvelopeHeaders.UniqueKey"/> (or, if null, the argument bytes).
    /// </summary>
    internal static EnvelopeLayout Write<TArguments>(
        ArrayBufferWriter<byte> output,
        TaskDefinition<TArguments> task,
        TArguments arguments,
        string messageId,
        DateTimeOffset enqueuedAt,
        in EnvelopeHeaders headers,
        MessagePackSerializerOptions options,
        EnvelopeSigner? signer = null)
        where TArguments : class
    {
        var start = output.WrittenCount;
        var layout = WriteElements(output, signer is null ? 4 : 5, task, arguments, messageId, enqueuedAt, headers, options);
        if (signer is not null) AppendSignature(output, start, signer);
        return layout;
    }

    /// <summary>
    /// Appends the fifth element, <c>[key id, MAC]</c>, over the four elements written from
    /// <paramref name="start"/> on (after their one-byte array header, written for five elements).
    /// </summary>
    internal static void AppendSignature(ArrayBufferWriter<byte> output, int start, EnvelopeSigner signer)
    {
        Span<byte> mac = stackalloc byte[EnvelopeSigner.MacLength];
        var keyId = signer.Sign(output.WrittenSpan[(start + 1)..], mac);
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(2);
        writer.Write(keyId);
        writer.WriteBinHeader(EnvelopeSigner.MacLength);
        writer.Flush();
        mac.CopyTo(output.GetSpan(EnvelopeSigner.MacLength));
        output.Advance(EnvelopeSigner.MacLength);
    }

    private static EnvelopeLayout WriteElements<TArguments>(
        ArrayBufferWriter<byte> output,
        int elements,
        TaskDefinition<TArguments> task,
        TArguments arguments,
        string messageId,
        DateTimeOffset enqueuedAt,
        in EnvelopeHeaders headers,
        MessagePackSerializerOptions options)
        where TArguments : class
    {
        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(elements);
        writer.Write(FormatVersion);
        writer.Write(task.Name);
        writer.Flush();
        var argumentsStart = output.WrittenCount;
        writer = new MessagePackWriter(output);
        task.Formatter.Serialize(ref writer, arguments, options);
        writer.Flush();
        var argumentsEnd = output.WrittenCount;
        var uniqueLock = headers.Unique ? UniqueLock(task.Name, headers.UniqueKey, output.WrittenSpan[argumentsStart..argumentsEnd]) : null;
        writer = new MessagePackWriter(output);
        TaskHeaders.Write(ref writer, messageId, enqueuedAt, headers, uniqueLock);
        writer.Flush();
        return new EnvelopeLayout(argumentsStart, argumentsEnd, uniqueLock);
    }

    /// <summary>A unique lock's name: the task and its key (or its argument bytes), hashed.</summary>
    private static string UniqueLock(string taskName, string? key, ReadOnlySpan<byte> argumentBytes)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(taskName));
        hash.AppendData([0]);
        if (key is null) hash.AppendData(argumentBytes);
        else hash.AppendData(Encoding.UTF8.GetBytes(key));
        return Convert.ToHexString(hash.GetHashAndReset(), 0, 16).ToLowerInvariant();
    }

    /// <summary>
    /// Reads an envelope. Any problem — not MessagePack, another format version, a wire name that
    /// is not in <paramref name="registry"/>, arguments of the wrong shape — is a
    /// <see cref="TaskEnvelopeException"/> whose message is the dead-letter reason.
    /// </summary>
    internal static DecodedEnvelope Read(ReadOnlyMemory<byte> body, TaskRegistry registry, MessagePackSerializerOptions options)
        => Read(body, registry, options, null);

    /// <summary>Reads an envelope; with a signer, checks its signature before anything else is decoded.</summary>
    internal static DecodedEnvelope Read(ReadOnlyMemory<byte> body, TaskRegistry registry, MessagePackSerializerOptions options, EnvelopeSigner? signer)
    {
        ArgumentNullException.ThrowIfNull(registry);
        if (signer is not null && CheckSignature(body, signer) is { } forged)
            throw new TaskEnvelopeException(forged);
        string? name = null;
        try
        {
            var reader = new MessagePackReader(body);
            if (reader.NextMessagePackType != MessagePackType.Array)
                throw new TaskEnvelopeException($"The message is not a task envelope: it starts with a MessagePack {reader.NextMessagePackType}, not an array.");
            var length = reader.ReadArrayHeader();
            if (length < 3)
                throw new TaskEnvelopeException($"The task envelope has {length} fields; v1 has 4 (version, name, arguments, headers).");
            if (reader.NextMessagePackType != MessagePackType.Integer)
                throw new TaskEnvelopeException("The task envelope does not start with a format version number.");
            var version = reader.ReadInt32();
            if (version != FormatVersion)
                throw new TaskEnvelopeException($"The task envelope has format version {version}; this worker reads version {FormatVersion}.");
            TaskDefinition? task;
            if (reader.TryReadStringSpan(out var utf8Name))
            {
                if (!registry.TryGet(utf8Name, out task)) name = Encoding.UTF8.GetString(utf8Name);
            }
            else
            {
                // A name split across buffer segments, or nil: the slow path.
                name = reader.ReadString();
                task = name is null ? null : registry.TryGet(name, out var found) ? found : null;
            }

            if (task is null)
            {
                throw new TaskEnvelopeException($"No task named '{name}' is registered in this worker (unknown wire name).")
                {
                    UnknownTask = (name, length >= 4 ? MessageIdAfterArguments(ref reader, options) : null),
                };
            }

            name = task.Name;

            var arguments = task.ReadArguments(ref reader, options);
            var headers = ReadOnlyMemory<byte>.Empty;
            var messageId = ReadOnlyMemory<byte>.Empty;
            if (length >= 4)
            {
                var start = reader.Consumed;
                try
                {
                    // Found, not decoded: the id is a string only when the worker needs one (dispatch allocates nothing more).
                    if (FindMessageId(ref reader, name, out var idStart, out var idEnd)) messageId = body.Slice((int)idStart, (int)(idEnd - idStart));
                }
                catch (Exception ex) when (ex is not (TaskEnvelopeException or OperationCanceledException))
                {
                    throw new TaskEnvelopeException($"Could not decode the headers of the task envelope for '{name}': {Flatten(ex)}", ex);
                }

                headers = body.Slice((int)start, (int)(reader.Consumed - start));
                try
                {
                    for (var i = 4; i < length; i++) SkipBounded(ref reader, options); // the signature, or fields a newer v1 writer appended
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    throw new TaskEnvelopeException($"Could not read the fields after the headers of the task envelope for '{name}': {Flatten(ex)}", ex);
                }
            }

            if (!reader.End)
                throw new TaskEnvelopeException($"The task envelope for '{name}' has {body.Length - reader.Consumed} bytes after its end.");
            return new DecodedEnvelope(task, arguments, headers, messageId);
        }
        catch (TaskEnvelopeException)
        {
            throw;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Whatever a formatter or an argument's constructor throws, the message cannot be
            // decoded, now or on any retry: it must become a dead letter, never an endless redelivery.
            var what = name is null ? "the task envelope" : $"the arguments of '{name}'";
            throw new TaskEnvelopeException($"Could not decode {what}: {Flatten(ex)}", ex);
        }
    }

    /// <summary>The message id of an envelope whose task is unknown, or null if the rest cannot be read: the reason stays the unknown name.</summary>
    private static string? MessageIdAfterArguments(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        try
        {
            SkipBounded(ref reader, options);
            if (reader.TryReadNil()) return null;
            var count = reader.ReadMapHeader();
            for (var i = 0; i < count; i++)
            {
                var (key, value) = (reader.ReadString(), reader.ReadString());
                if (key == TaskHeaders.MessageId) return string.IsNullOrEmpty(value) ? null : value;
            }

            return null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>
    /// Checks that the headers are a map of strings, so reading them later cannot fail, and finds the message id among
    /// them (the only header every delivery needs: its logs, its context): where its encoded value starts and ends.
    /// </summary>
    private static bool FindMessageId(ref MessagePackReader reader, string name, out long valueStart, out long valueEnd)
    {
        (valueStart, valueEnd) = (0, 0);
        if (reader.TryReadNil()) return false;
        if (reader.NextMessagePackType != MessagePackType.Map)
            throw new TaskEnvelopeException($"The headers of the task envelope for '{name}' are a MessagePack {reader.NextMessagePackType}, not a map of strings.");
        var count = reader.ReadMapHeader();
        var found = false;
        for (var i = 0; i < count; i++)
        {
            if (reader.NextMessagePackType != MessagePackType.String)
                throw new TaskEnvelopeException($"Header {i + 1} of the task envelope for '{name}' has a MessagePack {reader.NextMessagePackType} as its name, not a string.");
            var isMessageId = reader.TryReadStringSpan(out var key) ? key.SequenceEqual(MessageIdKey) : reader.ReadString() == TaskHeaders.MessageId;
            if (reader.NextMessagePackType != MessagePackType.String)
                throw new TaskEnvelopeException($"Header {i + 1} of the task envelope for '{name}' has a MessagePack {reader.NextMessagePackType} as its value, not a string.");
            var start = reader.Consumed;
            reader.Skip();
            if (isMessageId) (found, valueStart, valueEnd) = (true, start, reader.Consumed);
        }

        return found;
    }

    private static ReadOnlySpan<byte> MessageIdKey => "id"u8;

    private static string Flatten(Exception ex)
    {
        var message = ex.Message;
        for (var inner = ex.InnerException; inner is not null; inner = inner.InnerException)
            message += " " + inner.Message;
        return message;
    }
}
