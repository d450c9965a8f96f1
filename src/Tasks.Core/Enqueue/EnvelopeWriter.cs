using System;
using System.Buffers;
using System.Collections.Generic;
using System.Linq;
using MessagePack;

namespace Tasks;

/// <summary>
/// Writes the envelopes of a client: its serializer options, its signing key, and the headers its enqueue filters
/// add. Every enqueue path (a task, a batch, a chain, a continuation, a batch's callback) writes through here.
/// </summary>
internal sealed class EnvelopeWriter(MessagePackSerializerOptions serializerOptions, EnvelopeSigner? signer, IEnumerable<ITaskEnqueueFilter>? filters)
{
    private readonly ITaskEnqueueFilter[] filters = filters?.ToArray() ?? [];

    /// <summary>Signs payload references as it signs envelopes.</summary>
    public EnvelopeSigner? Signer => signer;

    public EnvelopeLayout Write<TArguments>(ArrayBufferWriter<byte> buffer, TaskDefinition<TArguments> task, TArguments arguments, string messageId, DateTimeOffset now, in EnvelopeHeaders headers, TaskEnqueueOptions? options)
        where TArguments : class
    {
        var filtered = filters.Length == 0 ? headers : headers with { Added = Filter(task, arguments, options) };
        try
        {
            return TaskEnvelope.Write(buffer, task, arguments, messageId, now, filtered, serializerOptions, signer);
        }
        catch (Exception ex)
        {
            throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' was not enqueued: its arguments could not be written ({ex.Message}).", ex);
        }
    }

    private IReadOnlyList<KeyValuePair<string, string>>? Filter(TaskDefinition task, object arguments, TaskEnqueueOptions? options)
    {
        var context = new TaskEnqueueContext(task, arguments, options);
        foreach (var filter in filters)
        {
            try
            {
                filter.OnEnqueuing(context);
            }
            catch (Exception ex)
            {
                throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' was not enqueued: its enqueue filter {filter.GetType().Name} threw {ex.GetType().Name}: {ex.Message}", ex);
            }
        }

        return context.Added;
    }
}
