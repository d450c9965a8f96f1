using System;
using System.Buffers;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Tasks.Transports;

namespace Tasks;

/// <summary>
/// Sends tasks back to their queue in packs of their own, carrying the attempts they made (a pack's retried or unrun
/// tasks), and puts a task over a limit back without using an attempt: in place where the transport can rewrite a
/// message (one call, no second copy), else as a new message before the old one is deleted.
/// </summary>
internal sealed class Requeuer(ITaskTransport transport, TaskLimiter? limiter, TimeProvider time)
{
    private readonly ITaskMessageReplacer? replacer = transport as ITaskMessageReplacer;

    /// <summary>Sends <paramref name="envelopes"/> to <paramref name="queue"/> as one pack, which carries the attempts they made.</summary>
    public async Task SendAsync(string queue, IReadOnlyList<ReadOnlyMemory<byte>> envelopes, int priorAttempts, TimeSpan delay, LimitWait? waiting = null)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var packId = TaskHeaders.NewMessageId();
        TaskPack.Write(buffer, envelopes, packId, time.GetUtcNow(), priorAttempts, waiting);
        await transport.SendAsync(queue, new OutgoingTaskMessage(packId, buffer.WrittenMemory, delay, null), CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>
    /// A task over a limit that came in a message of its own (<paramref name="carrier"/>: a plain envelope, or a pack of one
    /// whose <paramref name="prior"/> contents it was): the message becomes a pack of one that says the task waits,
    /// visible after <paramref name="delay"/>, and the delivery that found the limit full is not counted as an attempt.
    /// </summary>
    public async Task DeferAsync(ReceivedTaskMessage carrier, ReceivedTaskMessage task, TimeSpan delay, TaskPack.Contents? prior = null)
    {
        if (TaskPayloadReference.IsReference(carrier.Body))
        {
            // Its envelope travels in the payload store, and a pack holds envelopes: the delivery counts as an attempt.
            await transport.ReleaseAsync(carrier, delay, CancellationToken.None).ConfigureAwait(false);
            return;
        }

        var since = task.WaitingSince ?? time.GetUtcNow();
        if (replacer is not null)
        {
            var buffer = new ArrayBufferWriter<byte>();
            var waiting = new LimitWait(since, task.Deferrals + 1, (prior?.Waiting?.Rewrites ?? 0) + 1);
            TaskPack.Write(buffer, [task.Envelope], prior?.PackId ?? TaskHeaders.NewMessageId(), time.GetUtcNow(), prior?.PriorAttempts ?? 0, waiting);
            await replacer.ReplaceAsync(carrier, buffer.WrittenMemory, delay, CancellationToken.None).ConfigureAwait(false);
            limiter?.Sleeping(task.MessageId, carrier, delay); // its receipt is current: a place freed here wakes it
            return;
        }

        await SendAsync(carrier.Queue, [task.Envelope], task.Attempt - 1, delay, new LimitWait(since, task.Deferrals + 1, 0)).ConfigureAwait(false);
        await transport.CompleteAsync(carrier, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>
    /// A task that failed in a pack of one (its own message, rewritten by a deferral): retried in that message, rewritten in
    /// place, so it keeps its message id, under which it may hold its run claim (a task from an outbox, a continuation): a
    /// new message would find the claim held by this one and be dropped as a copy. The delivery counts as an attempt; the
    /// wait for a limit starts again. False where the transport cannot rewrite a message, or the envelope is in the
    /// payload store: the caller sends it again as before.
    /// </summary>
    public async Task<bool> RetryInPlaceAsync(ReceivedTaskMessage pack, ReadOnlyMemory<byte> envelope, TaskPack.Contents contents, TimeSpan delay)
    {
        if (replacer is null || TaskPayloadReference.IsReference(pack.Body)) return false;
        var buffer = new ArrayBufferWriter<byte>();
        // The deliveries that were deferrals stay uncounted (Rewrites); this one counts, as it ran.
        var waiting = contents.Waiting is { } wait ? new LimitWait(time.GetUtcNow(), 0, wait.Rewrites) : (LimitWait?)null;
        TaskPack.Write(buffer, [envelope], contents.PackId ?? pack.MessageId, time.GetUtcNow(), contents.PriorAttempts, waiting);
        await replacer.ReplaceAsync(pack, buffer.WrittenMemory, delay, CancellationToken.None).ConfigureAwait(false);
        return true;
    }

    /// <summary>A task over a limit that came in a pack of many: a pack of one of its own, carrying the attempts it made and its wait.</summary>
    public Task DeferFromPackAsync(string queue, ReceivedTaskMessage task, TimeSpan delay)
        => SendAsync(queue, [task.Envelope], task.Attempt - 1, delay, new LimitWait(task.WaitingSince ?? time.GetUtcNow(), task.Deferrals + 1, 0));
}
