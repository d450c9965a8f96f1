using System;
using System.Buffers;
using System.Collections.Generic;
using System.ComponentModel;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Tasks to enqueue together: add them with the generated <c>XxxAsync.AddTo(batch, …)</c>, then
/// send them with <see cref="ITaskClient.EnqueueBatchAsync"/>. The client packs the tasks of each
/// queue into as few messages as the transport's size limit allows, so a thousand small tasks
/// cost a couple of queue operations instead of a thousand. Every task keeps its own message id,
/// attempts and dead letter: a worker runs each task of a pack on its own and sends back, as
/// messages of their own, only those that must run again.
/// </summary>
public sealed class TaskBatch
{
    private readonly List<Entry> entries = new();

    /// <summary>The tasks added so far.</summary>
    public int Count => entries.Count;

    /// <summary>Adds a task; called by the generated <c>AddTo</c> methods.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public void Add<TArguments>(TaskDefinition<TArguments> task, TArguments arguments)
        where TArguments : class
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(arguments);
        entries.Add(new Entry<TArguments>(task, arguments));
    }

    internal IReadOnlyList<Entry> Entries => entries;

    /// <summary>One task of the batch, typed, so that a client can write or send it without reflection.</summary>
    internal abstract class Entry
    {
        public abstract TaskDefinition Definition { get; }

        /// <summary>Sends this task alone: the behaviour of a client that does not pack.</summary>
        public abstract ValueTask<string> EnqueueAsync(ITaskClient client, TaskEnqueueOptions? options, CancellationToken cancellationToken);

        /// <summary>Writes this task's envelope with <paramref name="messageId"/>.</summary>
        public abstract EnvelopeLayout Write(ArrayBufferWriter<byte> output, string messageId, DateTimeOffset now, bool unique, string? uniqueKey, TaskClient client);
    }

    private sealed class Entry<TArguments>(TaskDefinition<TArguments> task, TArguments arguments) : Entry
        where TArguments : class
    {
        public override TaskDefinition Definition => task;

        public override ValueTask<string> EnqueueAsync(ITaskClient client, TaskEnqueueOptions? options, CancellationToken cancellationToken)
            => client.EnqueueAsync(task, arguments, options, cancellationToken);

        public override EnvelopeLayout Write(ArrayBufferWriter<byte> output, string messageId, DateTimeOffset now, bool unique, string? uniqueKey, TaskClient client)
            => client.WriteEnvelope(output, task, arguments, messageId, now, unique, uniqueKey);
    }
}
