using System;
using System.Buffers;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>Envelopes too large for a message: stored in the transport's payload store, with a reference sent in their place.</summary>
public sealed partial class TaskClient
{
    /// <summary>How long a message waits at most when its enqueue names no time-to-live: Azure's default.</summary>
    private static readonly TimeSpan DefaultTimeToLive = TimeSpan.FromDays(7);

    private ITaskPayloadStore? PayloadStore => transport as ITaskPayloadStore;

    /// <summary>The largest envelope that travels in its message; larger ones travel in the payload store.</summary>
    private int InlineLimit => PayloadStore is { } store ? Math.Min(store.PayloadThresholdBytes, transport.MaxMessageBytes) : transport.MaxMessageBytes;

    /// <summary>Whether an envelope of <paramref name="size"/> bytes travels in the payload store (<see cref="CheckSize"/> passed).</summary>
    private bool Offloads(int size) => size > InlineLimit;

    /// <summary>Throws if an envelope of <paramref name="size"/> bytes cannot be enqueued at all: nothing is sent, nothing stored.</summary>
    private void CheckSize(TaskDefinition task, int size)
    {
        if (PayloadStore is not { } store)
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
    private static DateTimeOffset KeepUntil(DateTimeOffset due, TimeSpan? timeToLive)
        => timeToLive is { } ttl && ttl < TimeSpan.Zero ? DateTimeOffset.MaxValue : due + (timeToLive ?? DefaultTimeToLive);

    /// <summary>How long the payload of a continuation or a batch callback stays: it waits unsent for as long as its record lives, then for a message's lifetime.</summary>
    private DateTimeOffset WaitingKeepUntil(DateTimeOffset now) => now + (records?.Options.FailedRetention ?? TimeSpan.Zero) + DefaultTimeToLive;

    /// <summary>
    /// Stores <paramref name="envelope"/> in the payload store and writes the reference its message carries
    /// into <paramref name="reference"/>; returns the payload's name, to delete it if the send fails.
    /// </summary>
    private async ValueTask<string> OffloadAsync(TaskDefinition task, string messageId, ReadOnlyMemory<byte> envelope, DateTimeOffset now, string? parent, DateTimeOffset keepUntil, ArrayBufferWriter<byte> reference, CancellationToken cancellationToken)
    {
        string name;
        try
        {
            name = await PayloadStore!.UploadPayloadAsync(task.Queue, messageId, envelope, keepUntil, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' was not enqueued: its envelope ({envelope.Length:N0} bytes, more than the {InlineLimit:N0} a message carries) could not be stored in the payload store: {ex.Message}", ex);
        }

        TaskPayloadReference.Write(reference, name, envelope.Span, messageId, now, task.Name, parent, signer);
        return name;
    }

    /// <summary>Deletes the payload of a message that was not sent; if that fails too, the sweep removes it after its keep-until time.</summary>
    private async Task ForgetPayloadAsync(string name)
    {
        try
        {
            await PayloadStore!.DeletePayloadAsync(name, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Left for the sweep: the enqueue's own failure is what the caller needs to see.
        }
    }
}
