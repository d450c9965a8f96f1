using System;
using System.Buffers;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Continuations (<see cref="TaskEnqueueOptions.After"/>), chains and tracked batches (<see cref="TaskBatch.OnCompleted"/>)
/// on the client's side: what waits is written in the record store before anything that could release it is sent.
/// </summary>
internal sealed class FlowEnqueuer(EnvelopeWriter envelopes, EnvelopeSender sender, EnqueueRecords records, ITaskTransport transport, TimeProvider time)
{
    /// <summary>
    /// A continuation: its envelope waits under its parent, and its record reads AwaitingParent, until
    /// the parent's worker seals the parent's outcome and releases it. If the parent has settled
    /// already (its seal is there), this call releases it at once.
    /// </summary>
    public async ValueTask<string> EnqueueAfterAsync<TArguments>(TaskDefinition<TArguments> task, TArguments arguments, string parentId, TaskEnqueueOptions options, CancellationToken cancellationToken)
        where TArguments : class
    {
        if (options.UniqueFor is not null || options.UniqueKey is not null || task.UniqueFor is not null)
            throw new ArgumentException($"Task '{task.Name}' is unique and a continuation at once: a continuation runs once already, when its parent releases it.", nameof(options));
        var store = records.Store;
        var parent = await store.GetAsync(parentId, cancellationToken).ConfigureAwait(false)
            ?? throw new ArgumentException($"There is no task {parentId} to continue: it was never recorded, or its record has expired.", nameof(options));
        if (!parent.Continuable && parent.State is not (TaskState.Succeeded or TaskState.Cancelled) && !(parent.State == TaskState.DeadLettered && options.AfterAnyOutcome))
            throw new ArgumentException(
                $"Task {parentId} ({parent.TaskName}) was not enqueued to take continuations, and has not finished: its worker would never release '{task.Name}'. " +
                "Enqueue the parent with new TaskEnqueueOptions { AllowContinuations = true }, or enqueue both with client.EnqueueChainAsync(...).", nameof(options));

        var now = time.GetUtcNow();
        var childId = TaskHeaders.NewMessageId(now);
        var buffer = new ArrayBufferWriter<byte>(256);
        var layout = envelopes.Write(buffer, task, arguments, childId, now, new EnvelopeHeaders(Activity.Current?.Id, Continuable: options.AllowContinuations, Parent: parentId), options);
        sender.CheckSize(task, buffer.WrittenCount);

        var offloads = sender.Offloads(buffer.WrittenCount);
        var record = records.EnqueuedRecord(task, childId, now, null, buffer.WrittenMemory[layout.ArgumentsStart..layout.ArgumentsEnd], null, offloads);
        (record.State, record.ParentId, record.Continuable) = (TaskState.AwaitingParent, parentId, options.AllowContinuations ? true : null);
        if (offloads)
        {
            // What waits under the parent, and is sent when it is released, is the reference.
            var reference = new ArrayBufferWriter<byte>(256);
            await sender.OffloadAsync(task.Name, task.Queue, childId, buffer.WrittenMemory, now, parentId, sender.WaitingKeepUntil(now), reference, cancellationToken).ConfigureAwait(false);
            buffer = reference;
        }

        try
        {
            await store.Writes.CreateAsync([record], cancellationToken).ConfigureAwait(false);
            records.Writer.Write(new RecordWrite(parentId) { ChildIds = [childId] });
            var outcome = parent.Continuable
                ? await RegisterAsync(store, parentId, childId, task.Queue, buffer.WrittenMemory, options, cancellationToken).ConfigureAwait(false)
                : parent.State; // finished, and never sealed: its record says how
            if (outcome is { } ended)
            {
                if (parent.Continuable) await store.Flows.ReleaseRegisteredAsync(transport, parentId, childId, task.Queue, buffer.WrittenMemory, options.Delay, options.AfterAnyOutcome, ended, cancellationToken).ConfigureAwait(false);
                else await ReleaseUnsealedAsync(store, task.Queue, buffer.WrittenMemory, options.Delay, ended, childId, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not (ArgumentException or TaskEnqueueException or OperationCanceledException))
        {
            throw new TaskEnqueueException(task.Name, task.Queue, $"Continuation '{task.Name}' of task {parentId} was not enqueued: the record store ({store.Describe()}) failed: {ex.Message}", ex);
        }

        records.CountEnqueued(now);
        return childId;
    }

    /// <summary>Writes the continuation's row, then reads the parent's seal: a parent sealed meanwhile is one whose worker may have missed this row.</summary>
    private static async Task<TaskState?> RegisterAsync(TaskRecordStore store, string parentId, string childId, string queue, ReadOnlyMemory<byte> envelope, TaskEnqueueOptions options, CancellationToken cancellationToken)
    {
        await store.Flows.RegisterContinuationAsync(parentId, childId, queue, envelope, options.Delay, options.AfterAnyOutcome, cancellationToken).ConfigureAwait(false);
        return await store.Flows.ReadSealAsync(parentId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A parent that was never continuable but has finished: the continuation is sent, or cancelled, now.</summary>
    private async Task ReleaseUnsealedAsync(TaskRecordStore store, string queue, ReadOnlyMemory<byte> envelope, TimeSpan delay, TaskState outcome, string childId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (outcome == TaskState.Cancelled)
        {
            await store.Writes.WriteOrThrowAsync([new RecordWrite(childId) { State = TaskState.Cancelled, StateAt = now, FinishedAt = now, Reason = "Cancelled with the task it waited for." }], cancellationToken).ConfigureAwait(false);
            return;
        }

        await store.Writes.WriteOrThrowAsync([new RecordWrite(childId) { State = TaskState.Enqueued, StateAt = now }], cancellationToken).ConfigureAwait(false); // before the send: after it, it could undo its worker's
        await sender.SendMessageAsync(queue, new OutgoingTaskMessage(childId, envelope, delay, null), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A chain, accepted whole or refused: every step's record and every waiting step's row are written first,
    /// then the first step is sent. A store or a send that fails refuses the chain with <see cref="TaskEnqueueException"/>
    /// before any step can run; the records say it was not enqueued.
    /// </summary>
    public async ValueTask<IReadOnlyList<string>> EnqueueChainAsync(IReadOnlyList<PreparedTask> steps, CancellationToken cancellationToken)
    {
        var first = steps[0].Definition;
        foreach (var step in steps)
        {
            if (step.Definition.UniqueFor is not null)
                throw new ArgumentException($"Task '{step.Definition.Name}' is unique, and a step of a chain: a step runs once already, when the step before it releases it.", nameof(steps));
        }

        var now = time.GetUtcNow();
        var ids = new string[steps.Count];
        for (var i = 0; i < ids.Length; i++) ids[i] = TaskHeaders.NewMessageId(now);
        var writes = new RecordWrite[steps.Count];
        var stepEnvelopes = new ArrayBufferWriter<byte>[steps.Count];
        var payloads = new List<string>();
        try
        {
            for (var i = 0; i < steps.Count; i++)
            {
                var task = steps[i].Definition;
                var (parent, last) = (i == 0 ? null : ids[i - 1], i == steps.Count - 1);
                var buffer = new ArrayBufferWriter<byte>(256);
                var layout = steps[i].Write(buffer, ids[i], now, new EnvelopeHeaders(Activity.Current?.Id, Continuable: !last, Parent: parent), null, envelopes);
                sender.CheckSize(task, buffer.WrittenCount);
                var offloads = sender.Offloads(buffer.WrittenCount);
                var record = records.EnqueuedRecord(task, ids[i], now, null, buffer.WrittenMemory[layout.ArgumentsStart..layout.ArgumentsEnd], null, offloads);
                if (parent is not null) (record.State, record.ParentId) = (TaskState.AwaitingParent, parent);
                if (!last) (record.Continuable, record.ChildIds) = (true, [ids[i + 1]]);
                if (offloads)
                {
                    var reference = new ArrayBufferWriter<byte>(256);
                    payloads.Add(await sender.OffloadAsync(task.Name, task.Queue, ids[i], buffer.WrittenMemory, now, parent, parent is null ? EnvelopeSender.KeepUntil(now, null) : sender.WaitingKeepUntil(now), reference, cancellationToken).ConfigureAwait(false));
                    buffer = reference;
                }

                (writes[i], stepEnvelopes[i]) = (record, buffer);
            }

            try
            {
                await records.Store.Writes.CreateAsync(writes, cancellationToken).ConfigureAwait(false);
                for (var i = 1; i < steps.Count; i++)
                    await records.Store.Flows.RegisterContinuationAsync(ids[i - 1], ids[i], steps[i].Definition.Queue, stepEnvelopes[i].WrittenMemory, TimeSpan.Zero, anyOutcome: false, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                throw new TaskEnqueueException(first.Name, first.Queue, $"The chain from '{first.Name}' was not enqueued, and none of its steps runs: the record store ({records.Store.Describe()}) failed: {ex.Message}", ex);
            }

            await sender.SendAsync(first.Name, first.Queue, ids[0], stepEnvelopes[0].WrittenMemory, null, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            foreach (var payload in payloads) await sender.ForgetPayloadAsync(payload).ConfigureAwait(false);
            records.NotSent(writes.Where(w => w is not null).ToArray());
            throw;
        }

        records.CountEnqueued(now, steps.Count);
        return ids;
    }

    /// <summary>A tracked batch's row: its total, and its callback's envelope (with a fixed id, and the batch as its parent), whose record waits.</summary>
    public async Task CreateBatchAsync(TaskBatch batch, string batchId, int total, DateTimeOffset now, CancellationToken cancellationToken)
    {
        string? callbackId = null;
        var envelope = new ArrayBufferWriter<byte>(256);
        if (batch.OnCompleted is { } callback)
        {
            callbackId = TaskHeaders.NewMessageId(now);
            var layout = callback.Write(envelope, callbackId, now, new EnvelopeHeaders(Activity.Current?.Id, Parent: batchId), null, envelopes);
            sender.CheckSize(callback.Definition, envelope.WrittenCount);
            var offloads = sender.Offloads(envelope.WrittenCount);
            var record = records.EnqueuedRecord(callback.Definition, callbackId, now, null, envelope.WrittenMemory[layout.ArgumentsStart..layout.ArgumentsEnd], null, offloads);
            (record.State, record.ParentId, record.BatchId) = (TaskState.AwaitingParent, batchId, batchId);
            if (offloads)
            {
                var reference = new ArrayBufferWriter<byte>(256);
                await sender.OffloadAsync(callback.Definition.Name, callback.Definition.Queue, callbackId, envelope.WrittenMemory, now, batchId, sender.WaitingKeepUntil(now), reference, cancellationToken).ConfigureAwait(false);
                envelope = reference;
            }

            await records.Store.Writes.CreateAsync([record], cancellationToken).ConfigureAwait(false);
        }

        try
        {
            await records.Store.Flows.CreateBatchAsync(batchId, total, callbackId, batch.OnCompleted?.Definition.Queue, envelope.WrittenMemory, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new TaskEnqueueException(batch.OnCompleted?.Definition.Name ?? "(batch)", batch.OnCompleted?.Definition.Queue ?? "", $"The batch was not enqueued: its row could not be written in the record store ({records.Store.Describe()}): {ex.Message}", ex);
        }
    }
}
