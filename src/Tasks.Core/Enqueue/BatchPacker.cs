using System;
using System.Buffers;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Sends the envelopes of a batch, queue by queue, in packs as large as a message may be. A task too
/// large for a message travels alone, through the payload store: packs are split to fit, never offloaded.
/// </summary>
internal sealed class BatchPacker(EnvelopeSender sender, EnqueueRecords? records, TimeProvider time, ReadOnlyMemory<byte> envelopes, int[] ends, string[] ids, IReadOnlyList<PreparedTask> entries, bool[] held, TaskEnqueueOptions? options)
{
    /// <summary>The ids of the tasks sent so far.</summary>
    public HashSet<string> Sent { get; } = new(StringComparer.Ordinal);

    private readonly List<int> pack = new();
    private readonly ArrayBufferWriter<byte> packBuffer = new();
    private int sent;

    private ReadOnlyMemory<byte> Envelope(int i) => envelopes[(i == 0 ? 0 : ends[i - 1])..ends[i]];

    public async Task SendAsync(CancellationToken cancellationToken)
    {
        var room = sender.InlineLimit - TaskPack.FixedOverhead;
        foreach (var queue in entries.Where((_, i) => !held[i]).Select(e => e.Definition.Queue).Distinct(StringComparer.Ordinal).ToArray())
        {
            var size = 0;
            for (var i = 0; i < entries.Count; i++)
            {
                if (entries[i].Definition.Queue != queue || held[i]) continue;
                var needed = Envelope(i).Length + TaskPack.PerEnvelopeOverhead;
                if (pack.Count > 0 && size + needed > room)
                {
                    await FlushAsync(queue, cancellationToken).ConfigureAwait(false);
                    size = 0;
                }

                pack.Add(i);
                size += needed;
            }

            if (pack.Count > 0) await FlushAsync(queue, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task FlushAsync(string queue, CancellationToken cancellationToken)
    {
        // A task alone travels as a plain envelope: a pack of one would only add bytes.
        string messageId;
        ReadOnlyMemory<byte> body;
        packBuffer.ResetWrittenCount();
        if (pack.Count == 1)
        {
            (messageId, body) = (ids[pack[0]], Envelope(pack[0]));
        }
        else
        {
            messageId = TaskHeaders.NewMessageId();
            TaskPack.Write(packBuffer, pack.Select(Envelope).ToArray(), messageId, time.GetUtcNow(), priorAttempts: 0);
            body = packBuffer.WrittenMemory;
        }

        string? payload = null;
        try
        {
            if (sender.Offloads(body.Length))
            {
                var now = time.GetUtcNow();
                payload = await sender.OffloadAsync(entries[pack[0]].Definition.Name, entries[pack[0]].Definition.Queue, messageId, body, now, null, EnvelopeSender.KeepUntil(now + (options?.Delay ?? TimeSpan.Zero), options?.TimeToLive), packBuffer, cancellationToken).ConfigureAwait(false);
                body = packBuffer.WrittenMemory;
            }

            await sender.SendMessageAsync(queue, EnvelopeSender.Outgoing(messageId, body, options), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (payload is not null) await sender.ForgetPayloadAsync(payload).ConfigureAwait(false);
            var first = entries[pack[0]].Definition.Name;
            throw new TaskEnqueueException(first, queue, $"{pack.Count} tasks of the batch (the first '{first}', id {ids[pack[0]]}) were not enqueued on queue '{queue}'; {sent} of its {entries.Count} tasks were sent before: {ex.Message}", ex);
        }

        sent += pack.Count;
        foreach (var i in pack)
        {
            Sent.Add(ids[i]);
            TasksTelemetry.Enqueued.Add(1, new KeyValuePair<string, object?>(TasksTelemetry.TaskNameTag, entries[i].Definition.Name));
        }

        records?.CountEnqueued(time.GetUtcNow(), pack.Count);
        pack.Clear();
    }
}
