using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Continuations and batches (docs/continuations.md), kept in the failed-record table of the day of
/// the parent or batch (kept 14 days, as long as a dead-lettered parent may wait for a requeue):
/// a continuation's envelope waits in a row under its parent until the parent is sealed with its
/// outcome; a batch counts its tasks per pack (and per task only where a task ended alone), and
/// its callback is claimed by a conditional insert. Releases are at least once, and a released task
/// claims its run by another conditional insert, so it runs once however often it was released.
/// A service over the store's table primitives, as the unique locks are.
/// </summary>
internal sealed class FlowRows(IRecordTables tables, RecordWrites writes, TimeProvider time)
{
    private const int RowsPerTransaction = 100;

    private const string SealRow = "~seal";
    private const string TotalRow = "total";
    private const string CallbackPartition = "callbacks";

    private static string ChildrenPartition(string parentId) => "c-" + parentId;

    private static string BatchPartition(string batchId) => "b-" + batchId;

    private static string ClaimPartition(string id) => "claim" + (RecordFormat.Hash(id) % RecordFormat.Buckets).ToString(CultureInfo.InvariantCulture);

    private static string FlowTable(string id)
        => TaskHeaders.DueOf(id) is { } due ? RecordFormat.FailedTable(due) : throw new ArgumentException($"'{id}' is not an id of a task or batch of this library.", nameof(id));

    /// <summary>A continuation's envelope, waiting under its parent until the parent is sealed.</summary>
    public async ValueTask RegisterContinuationAsync(string parentId, string childId, string queue, ReadOnlyMemory<byte> envelope, TimeSpan delay, bool anyOutcome, CancellationToken cancellationToken)
    {
        var table = FlowTable(parentId);
        var row = ContinuationRow(parentId, childId, queue, envelope, delay, anyOutcome);
        await tables.ReplaceInAsync(table, row, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Releases (or cancels) at once a continuation just registered under a parent found sealed with <paramref name="outcome"/>.</summary>
    public ValueTask<bool> ReleaseRegisteredAsync(ITaskTransport transport, string parentId, string childId, string queue, ReadOnlyMemory<byte> envelope, TimeSpan delay, bool anyOutcome, TaskState outcome, CancellationToken cancellationToken)
        => ReleaseChildAsync(transport, FlowTable(parentId), ContinuationRow(parentId, childId, queue, envelope, delay, anyOutcome), outcome, cancellationToken);

    private static RecordEntity ContinuationRow(string parentId, string childId, string queue, ReadOnlyMemory<byte> envelope, TimeSpan delay, bool anyOutcome)
        => new RecordEntity(ChildrenPartition(parentId), childId)
            .Set("Queue", queue)
            .Set("Envelope", envelope.ToArray())
            .Set("DelayMs", (long)delay.TotalMilliseconds)
            .Set("AnyOutcome", anyOutcome)
            .Set("State", "Waiting");

    /// <summary>The outcome a parent was sealed with, or null if it has not settled (or was requeued since).</summary>
    public async ValueTask<TaskState?> ReadSealAsync(string parentId, CancellationToken cancellationToken)
        => await tables.ReadRowAsync(FlowTable(parentId), ChildrenPartition(parentId), SealRow, cancellationToken).ConfigureAwait(false) is { } seal
           && Enum.TryParse<TaskState>(seal.GetString("Outcome"), out var outcome) ? outcome : null;

    /// <summary>
    /// Seals a parent with its final <paramref name="outcome"/>, then releases its waiting continuations:
    /// each is sent (after success, or after any outcome for those that asked), or cancelled with the
    /// parent (and its own continuations with it), or left waiting (a dead-lettered parent may be
    /// requeued). The seal comes first: a continuation registered meanwhile reads it and releases itself.
    /// Returns the ids released or cancelled.
    /// </summary>
    public async ValueTask<IReadOnlyList<string>> ReleaseContinuationsAsync(ITaskTransport? transport, string parentId, TaskState outcome, CancellationToken cancellationToken)
    {
        var table = FlowTable(parentId);
        var seal = new RecordEntity(ChildrenPartition(parentId), SealRow).Set("Outcome", outcome.ToString()).Set("SealedAt", time.GetUtcNow());
        await tables.ReplaceInAsync(table, seal, null, cancellationToken).ConfigureAwait(false);
        TaskRecordStore.ReleasePoint?.Invoke("sealed", parentId);
        var done = new List<string>();
        foreach (var child in await tables.QueryOrEmptyAsync(table, new RecordQuery(ChildrenPartition(parentId), RowTo: SealRow), cancellationToken).ConfigureAwait(false))
        {
            if (child.GetString("State") != "Waiting") continue;
            if (await ReleaseChildAsync(transport, table, child, outcome, cancellationToken).ConfigureAwait(false)) done.Add(child.RowKey);
        }

        return done;
    }

    /// <summary>Releases (or cancels) one waiting continuation for its parent's <paramref name="outcome"/>; false if it stays waiting.</summary>
    public async ValueTask<bool> ReleaseChildAsync(ITaskTransport? transport, string table, RecordEntity child, TaskState outcome, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var id = child.RowKey;
        if (outcome == TaskState.Cancelled)
        {
            await writes.WriteOrThrowAsync([new RecordWrite(id) { State = TaskState.Cancelled, StateAt = now, FinishedAt = now, Reason = "Cancelled with the task it waited for." }], cancellationToken).ConfigureAwait(false);
            await MarkChildAsync(table, child, "Cancelled", cancellationToken).ConfigureAwait(false);
            await ReleaseContinuationsAsync(transport, id, TaskState.Cancelled, cancellationToken).ConfigureAwait(false);
            return true;
        }

        if (outcome != TaskState.Succeeded && child.Get<bool>("AnyOutcome") != true) return false;
        if (transport is null) throw new InvalidOperationException("A continuation is released through a transport.");
        var envelope = (byte[])child.Properties["Envelope"]!;
        var delay = TimeSpan.FromMilliseconds(child.Get<long>("DelayMs") ?? 0);
        // The record first: written after the send, it could land after its worker's and undo it.
        await writes.WriteOrThrowAsync([new RecordWrite(id) { State = delay > TimeSpan.Zero ? TaskState.Scheduled : TaskState.Enqueued, StateAt = now, ScheduledFor = delay > TimeSpan.Zero ? now + delay : null }], cancellationToken).ConfigureAwait(false);
        await transport.SendAsync(child.GetString("Queue")!, new OutgoingTaskMessage(id, envelope, delay, null), cancellationToken).ConfigureAwait(false);
        TaskRecordStore.ReleasePoint?.Invoke("sent", child.PartitionKey[2..]);
        await MarkChildAsync(table, child, "Released", cancellationToken).ConfigureAwait(false);
        return true;
    }

    private async Task MarkChildAsync(string table, RecordEntity child, string state, CancellationToken cancellationToken)
    {
        var marked = new RecordEntity(child.PartitionKey, child.RowKey).Set("State", state);
        await tables.MergeAsync(table, [marked], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Takes back a parent's seal: it was requeued, and its continuations wait for its new outcome.</summary>
    public async ValueTask UnsealAsync(string parentId, CancellationToken cancellationToken)
    {
        try
        {
            await tables.DeleteAsync(FlowTable(parentId), ChildrenPartition(parentId), SealRow, null, cancellationToken).ConfigureAwait(false);
        }
        catch (RecordTableMissingException)
        {
            // No continuation was ever registered under it.
        }
    }

    /// <summary>The continuations registered under a parent, with their state (Waiting, Released, Cancelled).</summary>
    public async ValueTask<IReadOnlyList<(string Id, string State)>> ContinuationsAsync(string parentId, CancellationToken cancellationToken)
        => (await tables.QueryOrEmptyAsync(FlowTable(parentId), new RecordQuery(ChildrenPartition(parentId), RowTo: SealRow), cancellationToken).ConfigureAwait(false))
            .Select(r => (r.RowKey, r.GetString("State") ?? "")).ToArray();

    /// <summary>
    /// Claims the run of a released task for <paramref name="transportMessageId"/> (a conditional insert):
    /// false if another message of the same task claimed it (a release sent twice), so this copy must not run.
    /// </summary>
    public async ValueTask<bool> ClaimRunAsync(string id, string transportMessageId, CancellationToken cancellationToken)
    {
        var table = FlowTable(id);
        var claim = new RecordEntity(ClaimPartition(id), id).Set("Transport", transportMessageId).Set("ClaimedAt", time.GetUtcNow());
        if (await tables.InsertRowAsync(table, claim, cancellationToken).ConfigureAwait(false)) return true;
        return (await tables.ReadRowAsync(table, ClaimPartition(id), id, cancellationToken).ConfigureAwait(false))?.GetString("Transport") is not { } holder || holder == transportMessageId;
    }

    /// <summary>Forgets a task's run claim: a requeued dead letter is a new message that must run.</summary>
    public async ValueTask ForgetRunClaimAsync(string id, CancellationToken cancellationToken)
    {
        try
        {
            await tables.DeleteAsync(FlowTable(id), ClaimPartition(id), id, null, cancellationToken).ConfigureAwait(false);
        }
        catch (RecordTableMissingException)
        {
            // Never claimed.
        }
    }

    // ---- Batches.

    /// <summary>A tracked batch: how many tasks it has, and the callback to send once they have all ended.</summary>
    public async ValueTask CreateBatchAsync(string batchId, int total, string? callbackId, string? callbackQueue, ReadOnlyMemory<byte> callbackEnvelope, CancellationToken cancellationToken)
    {
        var table = FlowTable(batchId);
        var row = new RecordEntity(BatchPartition(batchId), TotalRow)
            .Set("Total", total)
            .Set("CreatedAt", time.GetUtcNow())
            .Set("CallbackId", callbackId)
            .Set("CallbackQueue", callbackQueue)
            .Set("CallbackEnvelope", callbackEnvelope.IsEmpty ? null : callbackEnvelope.ToArray());
        await tables.ReplaceInAsync(table, row, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A batch's counting rows of one flush: a pack's successes (<c>p-{pack}</c>), or a task that ended alone (<c>t-{task}</c>).</summary>
    public async ValueTask WriteBatchCountsAsync(string batchId, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken)
    {
        var table = FlowTable(batchId);
        for (var i = 0; i < rows.Count; i += RowsPerTransaction)
        {
            var chunk = rows.Skip(i).Take(RowsPerTransaction).ToArray();
            await tables.MergeInAsync(table, chunk, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The tasks of a pack that succeeded: their ids, a thousand to a property, so a pack run twice counts each once.</summary>
    public static RecordEntity PackCountRow(string batchId, string packId, IReadOnlyList<string> succeeded)
    {
        var row = new RecordEntity(BatchPartition(batchId), "p-" + packId);
        for (var i = 0; i * 1000 < succeeded.Count; i++)
            row.Set("S" + i.ToString(CultureInfo.InvariantCulture), string.Join(",", succeeded.Skip(i * 1000).Take(1000)));
        return row;
    }

    public static RecordEntity TaskCountRow(string batchId, string taskId, TaskState state) => new RecordEntity(BatchPartition(batchId), "t-" + taskId).Set("State", state.ToString());

    /// <summary>A tracked batch's counts and callback, or null.</summary>
    public async ValueTask<TaskBatchRecord?> GetBatchAsync(string batchId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batchId);
        if (TaskHeaders.DueOf(batchId) is null) return null;
        var rows = await tables.QueryOrEmptyAsync(FlowTable(batchId), new RecordQuery(BatchPartition(batchId)), cancellationToken).ConfigureAwait(false);
        var total = rows.FirstOrDefault(r => r.RowKey == TotalRow);
        if (total is null) return null;
        // Each task once, by its id: a task that ended alone (retried out of its pack, or requeued) in its own row, which wins.
        var ended = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pack in rows.Where(r => r.RowKey.StartsWith("p-", StringComparison.Ordinal)))
        {
            foreach (var ids in pack.Properties.Where(p => p.Key.Length > 1 && p.Key[0] == 'S').Select(p => p.Value as string))
            {
                foreach (var id in (ids ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries)) ended[id] = nameof(TaskState.Succeeded);
            }
        }

        foreach (var task in rows.Where(r => r.RowKey.StartsWith("t-", StringComparison.Ordinal))) ended[task.RowKey[2..]] = task.GetString("State") ?? "";
        var succeeded = ended.Values.Count(s => s == nameof(TaskState.Succeeded));
        var failed = ended.Values.Count(s => s == nameof(TaskState.DeadLettered));
        var cancelled = ended.Values.Count(s => s == nameof(TaskState.Cancelled));
        var count = total.Get<int>("Total") ?? 0;
        var callback = await tables.ReadRowAsync(FlowTable(batchId), CallbackPartition, batchId, cancellationToken).ConfigureAwait(false);
        return new TaskBatchRecord(batchId, count, succeeded, failed, cancelled, Math.Max(0, count - succeeded - failed - cancelled),
            total.Get<DateTimeOffset>("CreatedAt"), total.GetString("CallbackId"), callback is null ? null : callback.Get<bool>("Sent") == true ? callback.Timestamp : null);
    }

    /// <summary>
    /// If every task of the batch has ended, claims its callback (a conditional insert: of the workers
    /// that see it complete, one wins), sends it and marks it sent. True if this call sent it.
    /// </summary>
    public async ValueTask<bool> CompleteBatchAsync(ITaskTransport transport, string batchId, CancellationToken cancellationToken)
    {
        var batch = await GetBatchAsync(batchId, cancellationToken).ConfigureAwait(false);
        if (batch is not { Pending: 0 } || batch.CallbackId is null) return false;
        var table = FlowTable(batchId);
        var claim = new RecordEntity(CallbackPartition, batchId).Set("Sent", false).Set("ClaimedAt", time.GetUtcNow());
        if (!await tables.InsertRowAsync(table, claim, cancellationToken).ConfigureAwait(false)) return false;
        TaskRecordStore.ReleasePoint?.Invoke("claimed", batchId);
        await SendCallbackAsync(transport, table, batchId, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Sends the callbacks claimed more than <paramref name="olderThan"/> ago and not marked sent: their
    /// claimer was lost between the claim and the send. (A claimer lost after the send sends it twice;
    /// the callback's run claim makes it run once.) Returns the batches whose callback it sent.
    /// </summary>
    public async ValueTask<IReadOnlyList<string>> SweepCallbacksAsync(ITaskTransport transport, TimeSpan olderThan, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var sent = new List<string>();
        foreach (var day in new[] { now.AddDays(-1), now })
        {
            var table = RecordFormat.FailedTable(day);
            foreach (var claim in await tables.QueryOrEmptyAsync(table, new RecordQuery(CallbackPartition), cancellationToken).ConfigureAwait(false))
            {
                if (claim.Get<bool>("Sent") != false || (claim.Get<DateTimeOffset>("ClaimedAt") ?? now) > now - olderThan) continue;
                await SendCallbackAsync(transport, table, claim.RowKey, cancellationToken).ConfigureAwait(false);
                sent.Add(claim.RowKey);
            }
        }

        return sent;
    }

    private async Task SendCallbackAsync(ITaskTransport transport, string table, string batchId, CancellationToken cancellationToken)
    {
        var total = await tables.ReadRowAsync(table, BatchPartition(batchId), TotalRow, cancellationToken).ConfigureAwait(false);
        if (total?.GetString("CallbackId") is not { } callbackId || total.Properties.GetValueOrDefault("CallbackEnvelope") is not byte[] envelope) return;
        await writes.WriteOrThrowAsync([new RecordWrite(callbackId) { State = TaskState.Enqueued, StateAt = time.GetUtcNow() }], cancellationToken).ConfigureAwait(false);
        await transport.SendAsync(total.GetString("CallbackQueue")!, new OutgoingTaskMessage(callbackId, envelope, TimeSpan.Zero, null), cancellationToken).ConfigureAwait(false);
        TaskRecordStore.ReleasePoint?.Invoke("sent", batchId);
        await tables.MergeAsync(table, [new RecordEntity(CallbackPartition, batchId).Set("Sent", true)], cancellationToken).ConfigureAwait(false);
    }
}
