using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// What an operator does to records: dead letters marked requeued or purged, a task cancelled by id (its request
/// written where workers read it), and the cancel requests workers read.
/// </summary>
internal sealed class RecordOperations(IRecordTables tables, RecordReads reads, RecordWrites writes, UniqueLocks uniqueLocks, FlowRows flows, TaskRecordOptions options, TimeProvider time)
{
    public async ValueTask MarkRequeuedAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var now = time.GetUtcNow();
        foreach (var id in ids)
        {
            if (RecordFormat.DueOfTask(id) is not { } due) continue;
            var write = new RecordWrite(id) { State = TaskState.Enqueued, StateAt = now, Attempt = 0 }; // its attempts count afresh
            var (liveTable, failedTable) = (RecordFormat.LiveTable(due), RecordFormat.FailedTable(due));
            var row = RecordFormat.ToEntity(write, due);
            var failed = await tables.ReadRowAsync(failedTable, row.PartitionKey, row.RowKey, cancellationToken).ConfigureAwait(false);
            if (failed is null && await tables.ReadRowAsync(liveTable, row.PartitionKey, row.RowKey, cancellationToken).ConfigureAwait(false) is null) continue; // never recorded

            // Its continuations wait for its new outcome, and its new message must be allowed to run.
            await flows.UnsealAsync(id, cancellationToken).ConfigureAwait(false);
            await flows.ForgetRunClaimAsync(id, cancellationToken).ConfigureAwait(false);
            if (RecordFormat.Expired(due, options.SucceededRetention, now))
            {
                await writes.WriteOrThrowAsync([write], cancellationToken).ConfigureAwait(false); // its live table is gone: it stays in the failed-record table
                continue;
            }

            // Back to the live table, whole, so it lives and expires as a task that has not failed.
            await tables.MergeInAsync(liveTable, [RecordFormat.Combine(failed, row)], cancellationToken).ConfigureAwait(false);
            if (failed is not null) await tables.DeleteAsync(failedTable, failed.PartitionKey, failed.RowKey, failed.ETag, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask MarkPurgedAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count == 0) return;
        await writes.WriteOrThrowAsync(ids.Select(id => new RecordWrite(id) { Purged = true }).ToArray(), cancellationToken).ConfigureAwait(false);
        foreach (var id in ids)
        {
            if (await reads.GetAsync(id, cancellationToken).ConfigureAwait(false) is { Continuable: true }) await flows.ReleaseContinuationsAsync(null, id, TaskState.Cancelled, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A cancel; with <paramref name="deleting"/>, for a delete: the workers write nothing more of the task, so its record stays gone.</summary>
    public async ValueTask<TaskCancelResult> CancelAsync(string id, bool deleting, CancellationToken cancellationToken)
    {
        var record = await reads.GetAsync(id, cancellationToken).ConfigureAwait(false);
        if (record is null) return new TaskCancelResult(TaskCancelOutcome.NotFound, null);
        if (record.IsFinished) return new TaskCancelResult(TaskCancelOutcome.AlreadyFinished, record.State);

        // The request first: a worker that receives the task from now on settles it as cancelled.
        var now = time.GetUtcNow();
        var request = new RecordEntity(RecordFormat.CancelPartition, id).Set("RequestedAt", now).Set("Deleted", deleting ? true : null);
        await tables.ReplaceInAsync(RecordFormat.FailedTable(now), request, null, cancellationToken).ConfigureAwait(false);

        var write = new RecordWrite(id) { CancelRequestedAt = now };
        if (record.State == TaskState.Running)
        {
            await writes.WriteOrThrowAsync([write], cancellationToken).ConfigureAwait(false);
            return new TaskCancelResult(TaskCancelOutcome.Requested, TaskState.Running);
        }

        write.State = TaskState.Cancelled;
        write.StateAt = write.FinishedAt = now;
        write.Reason = "Cancelled by id before it ran.";
        await writes.WriteOrThrowAsync([write], cancellationToken).ConfigureAwait(false);
        if (record.UniqueKey is { } key) await uniqueLocks.ReleaseAsync(key, id, cancellationToken).ConfigureAwait(false);
        if (record.Continuable) await flows.ReleaseContinuationsAsync(null, id, TaskState.Cancelled, cancellationToken).ConfigureAwait(false); // its continuations are cancelled with it
        return new TaskCancelResult(TaskCancelOutcome.Cancelled, TaskState.Cancelled);
    }

    /// <summary>The ids whose cancel was asked for at or after <paramref name="since"/> (by the store's clock): one query per day since then.</summary>
    public async ValueTask<IReadOnlyList<(string Id, bool Deleted)>> ReadCancelRequestsAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var ids = new List<(string, bool)>();
        for (var day = new DateTimeOffset(since.UtcDateTime.Date, TimeSpan.Zero); day <= now; day = day.AddDays(1))
        {
            foreach (var row in await tables.QueryOrEmptyAsync(RecordFormat.FailedTable(day), new RecordQuery(RecordFormat.CancelPartition, TimestampFrom: since), cancellationToken).ConfigureAwait(false))
                ids.Add((row.RowKey, row.Get<bool>("Deleted") == true));
        }

        return ids;
    }
}
