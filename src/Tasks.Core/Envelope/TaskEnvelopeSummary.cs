using System;
using System.Collections.Generic;
using System.Linq;
using MessagePack;

namespace Tasks.Transports;

/// <summary>
/// What a person needs to see of a message without the task's assembly: its task name, id,
/// enqueue time and arguments as JSON (MessagePack's own JSON conversion, under
/// <see cref="MessagePackSecurity.UntrustedData"/>). For dead letters and an operator's tools.
/// </summary>
/// <param name="TaskName">The wire name, or null for a pack or a message that is no envelope.</param>
/// <param name="MessageId">The <c>id</c> header, if the message has one.</param>
/// <param name="EnqueuedAt">The <c>enqueued-at</c> header, if it has one.</param>
/// <param name="ArgumentsJson">The arguments in parameter order as a JSON array (a pack: its envelopes), or null if they cannot be read.</param>
/// <param name="Problem">Why part of the message could not be read, or null.</param>
public sealed record TaskEnvelopeSummary(string? TaskName, string? MessageId, DateTimeOffset? EnqueuedAt, string? ArgumentsJson, string? Problem)
{
    /// <summary>Describes <paramref name="body"/>; never throws: what cannot be read is in <see cref="Problem"/>.</summary>
    public static TaskEnvelopeSummary Of(ReadOnlyMemory<byte> body)
    {
        if (TaskPayloadReference.IsReference(body)) return OfReference(body);
        string? name = null;
        try
        {
            var reader = new MessagePackReader(body);
            var fields = reader.ReadArrayHeader();
            if (fields < 4) return new(null, null, null, null, $"The message is not a task envelope: an array of {fields} fields.");
            reader.Skip(); // the version
            name = reader.ReadString();
            var start = (int)reader.Consumed;
            TaskEnvelope.SkipBounded(ref reader, TaskSerializer.DefaultOptions);
            var arguments = body[start..(int)reader.Consumed];
            var headers = TaskHeaders.Read(body[(int)reader.Consumed..]);
            headers.TryGetValue(TaskHeaders.MessageId, out var messageId);
            return new(name, messageId, TaskHeaders.EnqueuedAtOf(headers), MessagePackSerializer.ConvertToJson(arguments, TaskSerializer.DefaultOptions), null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return new(name, null, null, null, $"The message could not be read as a task envelope: {ex.Message}");
        }
    }

    /// <summary>A task whose envelope is in the payload store: what its reference says, and never a download of the payload.</summary>
    private static TaskEnvelopeSummary OfReference(ReadOnlyMemory<byte> body)
    {
        try
        {
            var reference = TaskPayloadReference.Read(body, signer: null);
            return new(reference.TaskName, reference.MessageId, reference.EnqueuedAt, null,
                $"The arguments travel in the payload store: '{reference.Blob}', an envelope of {reference.Length:N0} bytes, not downloaded to be shown.");
        }
        catch (TaskEnvelopeException ex)
        {
            return new(null, null, null, null, ex.Message);
        }
    }

    /// <summary>
    /// Describes every task a message carries: the envelope of a plain message, or each envelope of
    /// a pack (a bulk enqueue), each with its own id. Never throws.
    /// </summary>
    public static IReadOnlyList<TaskEnvelopeSummary> OfMessage(ReadOnlyMemory<byte> body)
    {
        if (!TaskPack.IsPack(body)) return [Of(body)];
        try
        {
            return TaskPack.Read(body).Envelopes.Select(Of).ToArray();
        }
        catch (TaskEnvelopeException ex)
        {
            return [new(null, null, null, null, ex.Message)];
        }
    }
}
