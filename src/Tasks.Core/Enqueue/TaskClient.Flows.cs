using System;
using System.Buffers;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>Continuations (<see cref="TaskEnqueueOptions.After"/>) and tracked batches (<see cref="TaskBatch.OnCompleted"/>), kept in the record store.</summary>
public sealed partial class TaskClient
{
    /// <summary>Whether the task is enqueued to take continuations (they need the record store).</summary>
    private bool Continuable(TaskDefinition task, TaskEnqueueOptions? options)
    {
        if (options?.AllowContinuations != true) return false;
        return records is not null ? true : throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' is enqueued to take continuations (AllowContinuations), which wait in a record store, and this client has none.");
    }

    /// <summary>
    /// A continuation: its envelope waits under its parent, and its record reads AwaitingParent, until
    /// the parent's worker seals the parent's outcome and releases it. If the parent has settled
    /// already (its seal is there), this call releases it at once.
    /// </summary>
    private async ValueTask<string> EnqueueAfterAsync<TArguments>(TaskDefinition<TArguments> task, TArguments arguments, string parentId, TaskEnqueueOptions options, CancellationToken cancellationToken)
        where TArguments : class
    {
        if (records is null)
            throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' is a continuation (After), which waits in a record store, and this client has none. Configure records in the host, or pass a TaskRecordStore to the TaskClient.");
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
        var layout = WriteEnvelope(buffer, task, arguments, childId, now, new EnvelopeHeaders(Activity.Current?.Id, Continuable: Continuable(task, options), Parent: parentId), options);
        CheckSize(task, buffer.WrittenCount);

        var offloads = Offloads(buffer.WrittenCount);
        var record = EnqueuedRecord(task, childId, now, null, buffer.WrittenMemory[layout.ArgumentsStart..layout.ArgumentsEnd], null, offloads);
        (record.State, record.ParentId, record.Continuable) = (TaskState.AwaitingParent, parentId, options.AllowContinuations ? true : null);
        if (offloads)
        {
            // What waits under the parent, and is sent when it is released, is the reference.
            var reference = new ArrayBufferWriter<byte>(256);
            await OffloadAsync(task, childId, buffer.WrittenMemory, now, parentId, WaitingKeepUntil(now), reference, cancellationToken).ConfigureAwait(false);
            buffer = reference;
        }

        try
        {
            await store.CreateAsync([record], cancellationToken).ConfigureAwait(false);
            records.Write(new RecordWrite(parentId) { ChildIds = [childId] });
            var outcome = parent.Continuable
                ? await RegisterAsync(store, parentId, childId, task.Queue, buffer.WrittenMemory, options, cancellationToken).ConfigureAwait(false)
                : parent.State; // finished, and never sealed: its record says how
            if (outcome is { } ended)
            {
                var row = new Transports.RecordEntity("c-" + parentId, childId)
                    .Set("Queue", task.Queue).Set("Envelope", buffer.WrittenSpan.ToArray()).Set("DelayMs", (long)options.Delay.TotalMilliseconds).Set("AnyOutcome", options.AfterAnyOutcome).Set("State", "Waiting");
                if (parent.Continuable) await store.ReleaseChildAsync(transport, FailedTableOf(parentId), row, ended, cancellationToken).ConfigureAwait(false);
                else await ReleaseUnsealedAsync(store, row, ended, childId, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not (ArgumentException or TaskEnqueueException or OperationCanceledException))
        {
            throw new TaskEnqueueException(task.Name, task.Queue, $"Continuation '{task.Name}' of task {parentId} was not enqueued: the record store ({store.Describe()}) failed: {ex.Message}", ex);
        }

        records.Count(TaskRecordWriter.EnqueuedField, now);
        return childId;
    }

    /// <summary>Writes the continuation's row, then reads the parent's seal: a parent sealed meanwhile is one whose worker may have missed this row.</summary>
    private static async Task<TaskState?> RegisterAsync(TaskRecordStore store, string parentId, string childId, string queue, ReadOnlyMemory<byte> envelope, TaskEnqueueOptions options, CancellationToken cancellationToken)
    {
        await store.RegisterContinuationAsync(parentId, childId, queue, envelope, options.Delay, options.AfterAnyOutcome, cancellationToken).ConfigureAwait(false);
        return await store.ReadSealAsync(parentId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A parent that was never continuable but has finished: the continuation is sent, or cancelled, now.</summary>
    private async Task ReleaseUnsealedAsync(TaskRecordStore store, Transports.RecordEntity row, TaskState outcome, string childId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (outcome == TaskState.Cancelled)
        {
            await store.WriteAsync([new RecordWrite(childId) { State = TaskState.Cancelled, StateAt = now, FinishedAt = now, Reason = "Cancelled with the task it waited for." }], cancellationToken).ConfigureAwait(false);
            return;
        }

        await store.WriteAsync([new RecordWrite(childId) { State = TaskState.Enqueued, StateAt = now }], cancellationToken).ConfigureAwait(false); // before the send: after it, it could undo its worker's
        await transport.SendAsync(row.GetString("Queue")!, new OutgoingTaskMessage(childId, (byte[])row.Properties["Envelope"]!, TimeSpan.FromMilliseconds(row.Get<long>("DelayMs") ?? 0), null), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A chain, accepted whole or refused: every step's record and every waiting step's row are written first,
    /// then the first step is sent. A store or a send that fails refuses the chain with <see cref="TaskEnqueueException"/>
    /// before any step can run; the records say it was not enqueued.
    /// </summary>
    internal async ValueTask<IReadOnlyList<string>> EnqueueChainAsync(IReadOnlyList<PreparedTask> steps, CancellationToken cancellationToken)
    {
        var first = steps[0].Definition;
        if (records is null)
            throw new TaskEnqueueException(first.Name, first.Queue, $"A chain of tasks from '{first.Name}' waits in a record store, and this client has none. Configure records in the host, or pass a TaskRecordStore to the TaskClient.");
        foreach (var step in steps)
        {
            if (step.Definition.UniqueFor is not null)
                throw new ArgumentException($"Task '{step.Definition.Name}' is unique, and a step of a chain: a step runs once already, when the step before it releases it.", nameof(steps));
        }

        var now = time.GetUtcNow();
        var ids = new string[steps.Count];
        for (var i = 0; i < ids.Length; i++) ids[i] = TaskHeaders.NewMessageId(now);
        var writes = new RecordWrite[steps.Count];
        var envelopes = new ArrayBufferWriter<byte>[steps.Count];
        var payloads = new List<string>();
        try
        {
            for (var i = 0; i < steps.Count; i++)
            {
                var task = steps[i].Definition;
                var (parent, last) = (i == 0 ? null : ids[i - 1], i == steps.Count - 1);
                var buffer = new ArrayBufferWriter<byte>(256);
                var layout = steps[i].Write(buffer, ids[i], now, new EnvelopeHeaders(Activity.Current?.Id, Continuable: !last, Parent: parent), null, this);
                CheckSize(task, buffer.WrittenCount);
                var offloads = Offloads(buffer.WrittenCount);
                var record = EnqueuedRecord(task, ids[i], now, null, buffer.WrittenMemory[layout.ArgumentsStart..layout.ArgumentsEnd], null, offloads);
                if (parent is not null) (record.State, record.ParentId) = (TaskState.AwaitingParent, parent);
                if (!last) (record.Continuable, record.ChildIds) = (true, [ids[i + 1]]);
                if (offloads)
                {
                    var reference = new ArrayBufferWriter<byte>(256);
                    payloads.Add(await OffloadAsync(task, ids[i], buffer.WrittenMemory, now, parent, parent is null ? KeepUntil(now, null) : WaitingKeepUntil(now), reference, cancellationToken).ConfigureAwait(false));
                    buffer = reference;
                }

                (writes[i], envelopes[i]) = (record, buffer);
            }

            try
            {
                await records.Store.CreateAsync(writes, cancellationToken).ConfigureAwait(false);
                for (var i = 1; i < steps.Count; i++)
                    await records.Store.RegisterContinuationAsync(ids[i - 1], ids[i], steps[i].Definition.Queue, envelopes[i].WrittenMemory, TimeSpan.Zero, anyOutcome: false, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                throw new TaskEnqueueException(first.Name, first.Queue, $"The chain from '{first.Name}' was not enqueued, and none of its steps runs: the record store ({records.Store.Describe()}) failed: {ex.Message}", ex);
            }

            await SendAsync(first, ids[0], envelopes[0].WrittenMemory, null, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            foreach (var payload in payloads) await ForgetPayloadAsync(payload).ConfigureAwait(false);
            NotSent(writes.Where(w => w is not null).ToArray());
            throw;
        }

        for (var i = 0; i < steps.Count; i++) records.Count(TaskRecordWriter.EnqueuedField, now);
        return ids;
    }

    private static string FailedTableOf(string id) => RecordFormat.FailedTable(TaskHeaders.DueOf(id)!.Value);

    /// <summary>A tracked batch's row: its total, and its callback's envelope (with a fixed id, and the batch as its parent), whose record waits.</summary>
    private async Task CreateBatchAsync(TaskBatch batch, string batchId, int total, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (records is null)
            throw new TaskEnqueueException(batch.OnCompleted?.Definition.Name ?? "(batch)", batch.OnCompleted?.Definition.Queue ?? "", "A batch with a callback (OnCompleted) or tracked counts needs a record store, and this client has none.");
        string? callbackId = null;
        var envelope = new ArrayBufferWriter<byte>(256);
        if (batch.OnCompleted is { } callback)
        {
            callbackId = TaskHeaders.NewMessageId(now);
            var layout = callback.Write(envelope, callbackId, now, new EnvelopeHeaders(Activity.Current?.Id, Parent: batchId), null, this);
            CheckSize(callback.Definition, envelope.WrittenCount);
            var offloads = Offloads(envelope.WrittenCount);
            var record = EnqueuedRecord(callback.Definition, callbackId, now, null, envelope.WrittenMemory[layout.ArgumentsStart..layout.ArgumentsEnd], null, offloads);
            (record.State, record.ParentId, record.BatchId) = (TaskState.AwaitingParent, batchId, batchId);
            if (offloads)
            {
                var reference = new ArrayBufferWriter<byte>(256);
                await OffloadAsync(callback.Definition, callbackId, envelope.WrittenMemory, now, batchId, WaitingKeepUntil(now), reference, cancellationToken).ConfigureAwait(false);
                envelope = reference;
            }

            await records.Store.CreateAsync([record], cancellationToken).ConfigureAwait(false);
        }

        try
        {
            await records.Store.CreateBatchAsync(batchId, total, callbackId, batch.OnCompleted?.Definition.Queue, envelope.WrittenMemory, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new TaskEnqueueException(batch.OnCompleted?.Definition.Name ?? "(batch)", batch.OnCompleted?.Definition.Queue ?? "", $"The batch was not enqueued: its row could not be written in the record store ({records.Store.Describe()}): {ex.Message}", ex);
        }
    }
}

/// <summary>Chains of tasks, each run after the one before it succeeds.</summary>
public static class TaskClientFlows
{
    /// <summary>
    /// Enqueues <paramref name="first"/>, then each of <paramref name="then"/> as a continuation of the
    /// one before (<see cref="TaskEnqueueOptions.After"/>): charge, then ship, then mail. Each step's
    /// arguments are checked by the compiler where it is prepared (<c>XxxAsync.Prepare(...)</c>).
    /// Returns the ids, in order. On a <see cref="TaskClient"/> the chain is accepted whole or refused: every step is
    /// recorded before the first is sent, and a failure throws <see cref="TaskEnqueueException"/> before any step can run.
    /// </summary>
    public static async ValueTask<IReadOnlyList<string>> EnqueueChainAsync(this ITaskClient client, PreparedTask first, params PreparedTask[] then)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(then);
        if (client is TaskClient tasks) return await tasks.EnqueueChainAsync([first, .. then], CancellationToken.None).ConfigureAwait(false);
        var ids = new List<string>(then.Length + 1) { await first.EnqueueAsync(client, new TaskEnqueueOptions { AllowContinuations = then.Length > 0 }, CancellationToken.None).ConfigureAwait(false) };
        for (var i = 0; i < then.Length; i++)
            ids.Add(await then[i].EnqueueAsync(client, new TaskEnqueueOptions { After = ids[^1], AllowContinuations = i < then.Length - 1 }, CancellationToken.None).ConfigureAwait(false));
        return ids;
    }
}
