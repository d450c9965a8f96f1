using System;
using System.Buffers;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Sends a client's envelopes: in their message when they fit, or stored in the transport's payload store with a
/// reference sent in their place; checks their size first (nothing sent, nothing stored for one too large), and
/// turns whatever the transport throws into one <see cref="TaskEnqueueException"/> that names the task and queue.
/// </summary>
internal sealed class EnvelopeSender(ITaskTransport transport, EnvelopeWriter envelopes, TimeSpan recordRetention)
{
    /// <summary>How long a message waits at most when its enqueue names no time-to-live: Azure's default.</summary>
    private static readonly TimeSpan DefaultTimeToLive = TimeSpan.FromDays(7);

    // What the transport can do, resolved once.
    private readonly ITaskPayloadStore? payloads = transport as ITaskPayloadStore;

    /// <summary>The largest envelope that travels in its message; larger ones travel in the payload store.</summary>
    public int InlineLimit => payloads is { } store ? Math.Min(store.PayloadThresholdBytes, transport.MaxMessageBytes) : transport.MaxMessageBytes;

    /// <summary>Whether an envelope of <paramref name="size"/> bytes travels in the payload store (<see cref="CheckSize"/> passed).</summary>
    public bool Offloads(int size) => size > InlineLimit;

    /// <summary>Throws if an envelope of <paramref name="size"/> bytes cannot be enqueued at all: nothing is sent, nothing stored.</summary>
    public void CheckSize(TaskDefinition task, int size)
    {
        if (payloads is not { } store)
        {
            if (size > transport.MaxMessageBytes) throw new TaskMessageTooLargeException(task.Name, task.Queue, size, transport.MaxMessageBytes);
            return;
        }

        if (size > store.MaxEnvelopeBytes)
            throw new TaskMessageTooLargeException(task.Name, task.Queue, size, store.MaxEnvelopeBytes,
                "That limit is the transport's MaxEnvelopeBytes (on Azure AzureQueueOptions.MaxEnvelopeBytes, in configuration Tasks:Azure:MaxEnvelopeBytes, up to 1 GiB), set in the process that enqueues; " +
                "a worker holds about twice an envelope in memory while its task runs. Or store the data elsewhere and pass its key.");
    }

    /// <summary>When a message sent now, due at <paramref name="due"/>, expires at the latest: until then its payload must stay.</summary>
    public static DateTimeOffset KeepUntil(DateTimeOffset due, TimeSpan? timeToLive)
        => timeToLive is { } ttl && ttl < TimeSpan.Zero ? DateTimeOffset.MaxValue : due + (timeToLive ?? DefaultTimeToLive);

    /// <summary>How long the payload of a continuation or a batch callback stays: it waits unsent for as long as its record lives, then for a message's lifetime.</summary>
    public DateTimeOffset WaitingKeepUntil(DateTimeOffset now) => now + recordRetention + DefaultTimeToLive;

    /// <summary>
    /// Stores <paramref name="envelope"/> in the payload store and writes the reference its message carries
    /// into <paramref name="reference"/>; returns the payload's name, to delete it if the send fails.
    /// </summary>
    public async ValueTask<string> OffloadAsync(string taskName, string queue, string messageId, ReadOnlyMemory<byte> envelope, DateTimeOffset now, string? parent, DateTimeOffset keepUntil, ArrayBufferWriter<byte> reference, CancellationToken cancellationToken)
    {
        string name;
        try
        {
            name = await payloads!.UploadPayloadAsync(queue, messageId, envelope, keepUntil, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new TaskEnqueueException(taskName, queue, $"Task '{taskName}' was not enqueued: its envelope ({envelope.Length:N0} bytes, more than the {InlineLimit:N0} a message carries) could not be stored in the payload store: {ex.Message}", ex);
        }

        TaskPayloadReference.Write(reference, name, envelope.Span, messageId, now, taskName, parent, envelopes.Signer);
        return name;
    }

    /// <summary>Deletes the payload of a message that was not sent; if that fails too, the sweep removes it after its keep-until time.</summary>
    public async Task ForgetPayloadAsync(string name)
    {
        try
        {
            await payloads!.DeletePayloadAsync(name, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Left for the sweep: the enqueue's own failure is what the caller needs to see.
        }
    }

    public async ValueTask SendAsync(string taskName, string queue, string messageId, ReadOnlyMemory<byte> body, TaskEnqueueOptions? options, CancellationToken cancellationToken)
    {
        try
        {
            await transport.SendAsync(queue, Outgoing(messageId, body, options), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Whatever the transport throws (an SDK's own exception, an AggregateException of its
            // retries), the caller catches one documented exception that names the task and the queue.
            throw new TaskEnqueueException(taskName, queue, $"Task '{taskName}' was not enqueued on queue '{queue}': {ex.Message}", ex);
        }
    }

    /// <summary>Sends a message whose failure the caller words itself (a pack of a batch, a released continuation).</summary>
    public ValueTask SendMessageAsync(string queue, OutgoingTaskMessage message, CancellationToken cancellationToken) => transport.SendAsync(queue, message, cancellationToken);

    /// <summary>A message as the enqueue options shape it: every send of a single task or a batch goes through here.</summary>
    public static OutgoingTaskMessage Outgoing(string messageId, ReadOnlyMemory<byte> body, TaskEnqueueOptions? options)
        => new(messageId, body, options?.Delay ?? TimeSpan.Zero, options?.TimeToLive) { ShardKey = options?.ShardKey };
}
