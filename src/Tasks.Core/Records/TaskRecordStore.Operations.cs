using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>What an operator does to records: dead letters requeued or purged, a record deleted, a task cancelled by id, and the cancel requests workers read.</summary>
public abstract partial class TaskRecordStore
{
    /// <summary>
    /// Records that dead letters were sent back to their queues (their ids kept): each reads as
    /// Enqueued again, its history kept, until a worker runs it. The host's <see cref="ITaskDeadLetters"/>
    /// and the CLI call it after a requeue; call it if you requeue through the transport yourself.
    /// </summary>
    public async ValueTask MarkRequeuedAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var now = Time.GetUtcNow();
        foreach (var id in ids)
        {
            if (TaskHeaders.DueOf(id) is not { } due) continue;
            var write = new RecordWrite(id) { State = TaskState.Enqueued, StateAt = now, Attempt = 0 }; // its attempts count afresh
            var (liveTable, failedTable) = (RecordFormat.LiveTable(due), RecordFormat.FailedTable(due));
            var row = RecordFormat.ToEntity(write, due);
            var failed = await ReadRowAsync(failedTable, row.PartitionKey, row.RowKey, cancellationToken).ConfigureAwait(false);
            if (failed is null && await ReadRowAsync(liveTable, row.PartitionKey, row.RowKey, cancellationToken).ConfigureAwait(false) is null) continue; // never recorded

            // Its continuations wait for its new outcome, and its new message must be allowed to run.
            await Flows.UnsealAsync(id, cancellationToken).ConfigureAwait(false);
            await Flows.ForgetRunClaimAsync(id, cancellationToken).ConfigureAwait(false);
            if (RecordFormat.Expired(due, Options.SucceededRetention, now))
            {
                await WriteOrThrowAsync([write], cancellationToken).ConfigureAwait(false); // its live table is gone: it stays in the failed-record table
                continue;
            }

            // Back to the live table, whole, so it lives and expires as a task that has not failed.
            var moved = new RecordEntity(row.PartitionKey, row.RowKey);
            foreach (var (name, value) in (failed?.Properties ?? []).Concat(row.Properties)) moved.Properties[name] = value;
            await WithTableAsync(liveTable, async () => { await MergeAsync(liveTable, [moved], cancellationToken).ConfigureAwait(false); return true; }).ConfigureAwait(false);
            if (failed is not null) await DeleteAsync(failedTable, failed.PartitionKey, failed.RowKey, failed.ETag, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Records that dead letters were purged: their tasks stay dead-lettered, with nothing left to
    /// requeue, and the continuations still waiting for them to succeed are cancelled.
    /// </summary>
    public async ValueTask MarkPurgedAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count == 0) return;
        await WriteOrThrowAsync(ids.Select(id => new RecordWrite(id) { Purged = true }).ToArray(), cancellationToken).ConfigureAwait(false);
        foreach (var id in ids)
        {
            if (await GetAsync(id, cancellationToken).ConfigureAwait(false) is { Continuable: true }) await Flows.ReleaseContinuationsAsync(null, id, TaskState.Cancelled, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Deletes a task's record (both its rows); false if there was none.</summary>
    internal async ValueTask<bool> DeleteRecordAsync(string id, CancellationToken cancellationToken)
    {
        if (TaskHeaders.DueOf(id) is not { } due) return false;
        var (partition, row) = (RecordFormat.RecordPartition(id), RecordFormat.RecordRow(id, due));
        var deleted = false;
        foreach (var table in new[] { RecordFormat.LiveTable(due), RecordFormat.FailedTable(due) })
        {
            try
            {
                deleted |= await DeleteAsync(table, partition, row, null, cancellationToken).ConfigureAwait(false);
            }
            catch (RecordTableMissingException)
            {
                // Dropped by retention: nothing to delete there.
            }
        }

        return deleted;
    }

    // ---- Cancel.

    /// <inheritdoc />
    public ValueTask<TaskCancelResult> CancelAsync(string id, CancellationToken cancellationToken = default) => CancelAsync(id, deleting: false, cancellationToken);

    /// <summary>A cancel; with <paramref name="deleting"/>, for a delete: the workers write nothing more of the task, so its record stays gone.</summary>
    internal async ValueTask<TaskCancelResult> CancelAsync(string id, bool deleting, CancellationToken cancellationToken)
    {
        var record = await GetAsync(id, cancellationToken).ConfigureAwait(false);
        if (record is null) return new TaskCancelResult(TaskCancelOutcome.NotFound, null);
        if (record.IsFinished) return new TaskCancelResult(TaskCancelOutcome.AlreadyFinished, record.State);

        // The request first: a worker that receives the task from now on settles it as cancelled.
        var now = Time.GetUtcNow();
        var table = RecordFormat.FailedTable(now);
        var request = new RecordEntity(RecordFormat.CancelPartition, id).Set("RequestedAt", now).Set("Deleted", deleting ? true : null);
        await WithTableAsync(table, () => ReplaceAsync(table, request, null, cancellationToken)).ConfigureAwait(false);

        var write = new RecordWrite(id) { CancelRequestedAt = now };
        if (record.State == TaskState.Running)
        {
            await WriteOrThrowAsync([write], cancellationToken).ConfigureAwait(false);
            return new TaskCancelResult(TaskCancelOutcome.Requested, TaskState.Running);
        }

        write.State = TaskState.Cancelled;
        write.StateAt = write.FinishedAt = now;
        write.Reason = "Cancelled by id before it ran.";
        await WriteOrThrowAsync([write], cancellationToken).ConfigureAwait(false);
        if (record.UniqueKey is { } key) await UniqueLocks.ReleaseAsync(key, id, cancellationToken).ConfigureAwait(false);
        if (record.Continuable) await Flows.ReleaseContinuationsAsync(null, id, TaskState.Cancelled, cancellationToken).ConfigureAwait(false); // its continuations are cancelled with it
        return new TaskCancelResult(TaskCancelOutcome.Cancelled, TaskState.Cancelled);
    }

    /// <summary>The ids whose cancel was asked for at or after <paramref name="since"/> (by the store's clock): one query per day since then.</summary>
    internal async ValueTask<IReadOnlyList<(string Id, bool Deleted)>> ReadCancelRequestsAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        var ids = new List<(string, bool)>();
        for (var day = new DateTimeOffset(since.UtcDateTime.Date, TimeSpan.Zero); day <= now; day = day.AddDays(1))
        {
            foreach (var row in await QueryOrEmptyAsync(RecordFormat.FailedTable(day), new RecordQuery(RecordFormat.CancelPartition, TimestampFrom: since), cancellationToken).ConfigureAwait(false))
                ids.Add((row.RowKey, row.Get<bool>("Deleted") == true));
        }

        return ids;
    }
}
