using System;
using System.Buffers;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>Bulk enqueue: a batch's envelopes written first, then sent queue by queue in packs as large as a message may be.</summary>
public sealed partial class TaskClient
{
    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<string>> EnqueueBatchAsync(TaskBatch batch, TaskEnqueueOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var entries = batch.Entries;
        var ids = new string[entries.Count];
        if (ids.Length == 0) return ids;
        using var activity = TasksTelemetry.Source.HasListeners() ? TasksTelemetry.Source.StartActivity("enqueue batch", ActivityKind.Producer) : null;
        activity?.SetTag(TasksTelemetry.BatchSizeTag, ids.Length);
        TasksTelemetry.TagOperation(activity, "send");

        // Every envelope is written before anything is sent: a task too large, or arguments that
        // cannot be written, fail the whole batch with nothing sent.
        var now = time.GetUtcNow();
        var due = now + (options?.Delay ?? TimeSpan.Zero);
        var batchId = batch.OnCompleted is not null || batch.Tracked ? TaskHeaders.NewMessageId(now) : null;
        var envelopes = new ArrayBufferWriter<byte>(ids.Length * 128);
        var ends = new int[ids.Length];
        var layouts = new EnvelopeLayout[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            var task = entries[i].Definition;
            var start = envelopes.WrittenCount;
            ids[i] = TaskHeaders.NewMessageId(due);
            layouts[i] = entries[i].Write(envelopes, ids[i], now, new EnvelopeHeaders(Activity.Current?.Id, UniqueFor(task, options) is not null, options?.UniqueKey, Continuable(task, options), Batch: batchId), options, this);
            ends[i] = envelopes.WrittenCount;
            CheckSize(task, ends[i] - start);
        }

        // A unique task whose like is enqueued or running keeps that task's id and is not sent.
        var held = new bool[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            if (layouts[i].UniqueLock is not { } uniqueLock || UniqueFor(entries[i].Definition, options) is not { } lockFor) continue;
            if (await ClaimUniqueAsync(entries[i].Definition, uniqueLock, ids[i], now + lockFor, cancellationToken).ConfigureAwait(false) is { } existing)
                (ids[i], held[i]) = (existing, true);
        }

        var written = new List<RecordWrite>(records is null ? 0 : ids.Length);
        for (var i = 0; i < ids.Length && records is not null; i++)
        {
            if (held[i]) continue;
            var record = EnqueuedRecord(entries[i].Definition, ids[i], now, options, envelopes.WrittenMemory[layouts[i].ArgumentsStart..layouts[i].ArgumentsEnd], layouts[i].UniqueLock, Offloads(ends[i] - (i == 0 ? 0 : ends[i - 1])));
            record.BatchId = batchId;
            written.Add(record);
        }

        // A tracked batch exists, with its total and its callback, before any of its tasks can end.
        if (batchId is not null) await CreateBatchAsync(batch, batchId, held.Count(h => !h), now, cancellationToken).ConfigureAwait(false);

        var recording = written.Count == 0 ? Task.CompletedTask : CreateRecordsAsync(written);
        var packer = new BatchPacker(this, envelopes.WrittenMemory, ends, ids, entries, held, options);
        try
        {
            await packer.SendAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // What was sent keeps its record; what was not is marked so.
            NotSent(written.Where(w => !packer.Sent.Contains(w.Id)).ToArray());
            await TellUniqueLocksAsync(packer.Sent).ConfigureAwait(false);
            throw;
        }

        await TellUniqueLocksAsync(packer.Sent).ConfigureAwait(false);

        await recording.ConfigureAwait(false);
        batch.Id = batchId;
        return ids;

        async Task TellUniqueLocksAsync(HashSet<string> sent)
        {
            for (var i = 0; i < ids.Length; i++)
            {
                if (!held[i] && layouts[i].UniqueLock is { } uniqueLock && UniqueFor(entries[i].Definition, options) is not null)
                    await TellUniqueLockAsync(uniqueLock, ids[i], sent.Contains(ids[i])).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Sends the envelopes of a batch, queue by queue, in packs as large as a message may be. A task too
    /// large for a message travels alone, through the payload store: packs are split to fit, never offloaded.
    /// </summary>
    private sealed class BatchPacker(TaskClient client, ReadOnlyMemory<byte> envelopes, int[] ends, string[] ids, IReadOnlyList<PreparedTask> entries, bool[] held, TaskEnqueueOptions? options)
    {
        /// <summary>The ids of the tasks sent so far.</summary>
        public HashSet<string> Sent { get; } = new(StringComparer.Ordinal);

        private readonly List<int> pack = new();
        private readonly ArrayBufferWriter<byte> packBuffer = new();
        private int sent;

        private ReadOnlyMemory<byte> Envelope(int i) => envelopes[(i == 0 ? 0 : ends[i - 1])..ends[i]];

        public async Task SendAsync(CancellationToken cancellationToken)
        {
            var room = client.InlineLimit - TaskPack.FixedOverhead;
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
                TaskPack.Write(packBuffer, pack.Select(Envelope).ToArray(), messageId, client.time.GetUtcNow(), priorAttempts: 0);
                body = packBuffer.WrittenMemory;
            }

            string? payload = null;
            try
            {
                if (client.Offloads(body.Length))
                {
                    var now = client.time.GetUtcNow();
                    payload = await client.OffloadAsync(entries[pack[0]].Definition, messageId, body, now, null, KeepUntil(now + (options?.Delay ?? TimeSpan.Zero), options?.TimeToLive), packBuffer, cancellationToken).ConfigureAwait(false);
                    body = packBuffer.WrittenMemory;
                }

                await client.transport.SendAsync(queue, Outgoing(messageId, body, options), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                if (payload is not null) await client.ForgetPayloadAsync(payload).ConfigureAwait(false);
                var first = entries[pack[0]].Definition.Name;
                throw new TaskEnqueueException(first, queue, $"{pack.Count} tasks of the batch (the first '{first}', id {ids[pack[0]]}) were not enqueued on queue '{queue}'; {sent} of its {entries.Count} tasks were sent before: {ex.Message}", ex);
            }

            sent += pack.Count;
            foreach (var i in pack)
            {
                Sent.Add(ids[i]);
                TasksTelemetry.Enqueued.Add(1, new KeyValuePair<string, object?>(TasksTelemetry.TaskNameTag, entries[i].Definition.Name));
            }

            client.records?.Count(TaskRecordWriter.EnqueuedField, client.time.GetUtcNow(), pack.Count);
            pack.Clear();
        }
    }
}
