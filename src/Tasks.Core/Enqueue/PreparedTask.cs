using System;
using System.Buffers;
using System.ComponentModel;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// A task and its typed arguments, not yet enqueued: what the generated <c>XxxAsync.Prepare(...)</c>
/// returns, for a chain (<see cref="TaskClientFlows.EnqueueChainAsync"/>), a batch's callback
/// (<see cref="TaskBatch.OnCompleted"/>) or a batch. The compiler checks the arguments where it is prepared.
/// </summary>
public abstract class PreparedTask
{
    private protected PreparedTask()
    {
    }

    /// <summary>The task.</summary>
    public abstract TaskDefinition Definition { get; }

    /// <summary>Called by generated code.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static PreparedTask Of<TArguments>(TaskDefinition<TArguments> task, TArguments arguments)
        where TArguments : class
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(arguments);
        return new Typed<TArguments>(task, arguments);
    }

    /// <summary>Sends this task alone, typed, on any client.</summary>
    internal abstract ValueTask<string> EnqueueAsync(ITaskClient client, TaskEnqueueOptions? options, CancellationToken cancellationToken);

    /// <summary>Writes this task's envelope with <paramref name="messageId"/>.</summary>
    internal abstract EnvelopeLayout Write(ArrayBufferWriter<byte> output, string messageId, DateTimeOffset now, in EnvelopeHeaders headers, TaskEnqueueOptions? options, EnvelopeWriter envelopes);

    private sealed class Typed<TArguments>(TaskDefinition<TArguments> task, TArguments arguments) : PreparedTask
        where TArguments : class
    {
        public override TaskDefinition Definition => task;

        internal override ValueTask<string> EnqueueAsync(ITaskClient client, TaskEnqueueOptions? options, CancellationToken cancellationToken)
            => client.EnqueueAsync(task, arguments, options, cancellationToken);

        internal override EnvelopeLayout Write(ArrayBufferWriter<byte> output, string messageId, DateTimeOffset now, in EnvelopeHeaders headers, TaskEnqueueOptions? options, EnvelopeWriter envelopes)
            => envelopes.Write(output, task, arguments, messageId, now, headers, options);
    }
}
