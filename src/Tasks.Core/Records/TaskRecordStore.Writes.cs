using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// The writes: records created at enqueue, merged by workers, moved to the failed-record table at a
/// dead letter; counters, heartbeats, unique locks and retention. An operator's acts are in TaskRecordStore.Operations.cs.
/// </summary>
public abstract partial class TaskRecordStore
{
    /// <summary>The most rows a store takes in one batch (Azure Table storage: 100 per transaction).</summary>
    protected const int MaxBatch = 100;

    // ---- The table operations a store implements. Each throws RecordTableMissingException for a table that does not exist.

    /// <summary>Inserts rows of one partition in one transaction; false, with nothing written, if any of them exists.</summary>
    protected abstract ValueTask<bool> InsertAsync(string table, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken);

    /// <summary>Merges rows of one partition into what is there (creating what is not), in one transaction: the properties given replace theirs, the others stay.</summary>
    protected abstract ValueTask MergeAsync(string table, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken);

    /// <summary>Writes a row whole, replacing what is there. With <paramref name="expectedETag"/>, only if the row is still that version (false if not, or if it is gone).</summary>
    protected abstract ValueTask<bool> ReplaceAsync(string table, RecordEntity row, string? expectedETag, CancellationToken cancellationToken);

    /// <summary>A row with its ETag and timestamp, or null if there is none.</summary>
    protected abstract ValueTask<RecordEntity?> ReadAsync(string table, string partition, string row, CancellationToken cancellationToken);

    /// <summary>Deletes a row (only if it is still <paramref name="expectedETag"/>, if given); false if it was gone or had changed.</summary>
    protected abstract ValueTask<bool> DeleteAsync(string table, string partition, string row, string? expectedETag, CancellationToken cancellationToken);

    /// <summary>The rows of a range of one partition, in row-key order, at most <see cref="RecordQuery.Top"/>.</summary>
    protected abstract ValueTask<IReadOnlyList<RecordEntity>> QueryAsync(string table, RecordQuery query, CancellationToken cancellationToken);

    /// <summary>Creates a table if it does not exist.</summary>
    protected abstract ValueTask CreateTableAsync(string table, CancellationToken cancellationToken);

    /// <summary>Drops a table and its rows, if it exists.</summary>
    protected abstract ValueTask DropTableAsync(string table, CancellationToken cancellationToken);

    /// <summary>The tables of this store (names as the store knows them, without a service's prefix).</summary>
    protected abstract ValueTask<IReadOnlyList<string>> ListTablesAsync(CancellationToken cancellationToken);

    // ---- Records.

    /// <summary>
    /// The records of tasks just enqueued: inserted with their first state; where a worker has
    /// written first (it ran the task before this write arrived), merged without a state, so the
    /// worker's state stands.
    /// </summary>
    internal async ValueTask CreateAsync(IReadOnlyList<RecordWrite> writes, CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        await Task.WhenAll(Batches(writes, now).Select(async batch =>
        {
            var rows = batch.Writes.Select(w => RecordFormat.ToEntity(w.Write, w.Due)).ToArray();
            if (await WithTableAsync(batch.Table, () => InsertAsync(batch.Table, rows, cancellationToken)).ConfigureAwait(false)) return;
            var merged = batch.Writes.Select(w => RecordFormat.ToEntity(w.Write.WithoutState(), w.Due)).ToArray();
            await WithTableAsync(batch.Table, async () => { await MergeAsync(batch.Table, merged, cancellationToken).ConfigureAwait(false); return true; }).ConfigureAwait(false);
        })).ConfigureAwait(false);
    }

    /// <summary>
    /// A worker's writes: merged into the day's live table in batches per partition; a dead letter
    /// or a cancel moves its record to the failed-record table. Returns the writes that failed, to try again, and
    /// what the first of them threw: to this caller, not kept where concurrent callers would read each other's.
    /// </summary>
    internal async ValueTask<RecordWriteResult> WriteAsync(IReadOnlyList<RecordWrite> writes, CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        var failed = new List<RecordWrite>();
        Exception? firstError = null;
        var moves = writes.Where(w => w.MovesToFailed).ToArray();
        var merges = writes.Where(w => !w.MovesToFailed).ToArray();
        var work = Batches(merges, now).Select(async batch =>
        {
            try
            {
                var rows = batch.Writes.Select(w => RecordFormat.ToEntity(w.Write, w.Due)).ToArray();
                await WithTableAsync(batch.Table, async () => { await MergeAsync(batch.Table, rows, cancellationToken).ConfigureAwait(false); return true; }).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                lock (failed) failed.AddRange(batch.Writes.Select(w => w.Write));
                Interlocked.CompareExchange(ref firstError, ex, null);
            }
        }).Concat(moves.Select(async write =>
        {
            try
            {
                await MoveToFailedAsync(write, now, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                lock (failed) failed.Add(write);
                Interlocked.CompareExchange(ref firstError, ex, null);
            }
        }));
        await Task.WhenAll(work).ConfigureAwait(false);
        return new RecordWriteResult(failed, firstError);
    }

    /// <summary>Writes, and throws what the first failed write threw (as it is: a transient fault stays one), for a write its caller must not go on without.</summary>
    internal async ValueTask WriteOrThrowAsync(IReadOnlyList<RecordWrite> writes, CancellationToken cancellationToken)
    {
        var result = await WriteAsync(writes, cancellationToken).ConfigureAwait(false);
        if (result.Error is { } error) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
    }

    /// <summary>
    /// Moves a record to the failed-record table, where it outlives its day's live table: the live
    /// row (arguments, history) and this write merged into one row there, then the live row deleted.
    /// A crash in between leaves both rows, and a read merges them.
    /// </summary>
    private async Task MoveToFailedAsync(RecordWrite write, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (TaskHeaders.DueOf(write.Id) is not { } due || RecordFormat.Expired(due, Options.FailedRetention, now)) return;
        var (liveTable, failedTable) = (RecordFormat.LiveTable(due), RecordFormat.FailedTable(due));
        var row = RecordFormat.ToEntity(write, due);
        var live = await ReadRowAsync(liveTable, row.PartitionKey, row.RowKey, cancellationToken).ConfigureAwait(false);
        var moved = new RecordEntity(row.PartitionKey, row.RowKey);
        foreach (var (name, value) in (live?.Properties ?? []).Concat(row.Properties)) moved.Properties[name] = value;
        await WithTableAsync(failedTable, async () => { await MergeAsync(failedTable, [moved], cancellationToken).ConfigureAwait(false); return true; }).ConfigureAwait(false);
        if (live is not null)
        {
            try
            {
                await DeleteAsync(liveTable, live.PartitionKey, live.RowKey, live.ETag, cancellationToken).ConfigureAwait(false);
            }
            catch (RecordTableMissingException)
            {
                // Dropped by retention meanwhile: nothing left to delete.
            }
        }
    }

    /// <summary>Writes grouped by table and partition, at most <see cref="MaxBatch"/> a batch; a live table past its retention sends them to the failed-record table.</summary>
    private IEnumerable<(string Table, IReadOnlyList<(RecordWrite Write, DateTimeOffset Due)> Writes)> Batches(IReadOnlyList<RecordWrite> writes, DateTimeOffset now)
    {
        var placed = new List<(string Table, string Partition, RecordWrite Write, DateTimeOffset Due)>();
        foreach (var write in writes)
        {
            if (TaskHeaders.DueOf(write.Id) is not { } due) continue; // not an id of ours: a message enqueued by an older version
            var table = !RecordFormat.Expired(due, Options.SucceededRetention, now) ? RecordFormat.LiveTable(due)
                : !RecordFormat.Expired(due, Options.FailedRetention, now) ? RecordFormat.FailedTable(due)
                : null;
            if (table is not null) placed.Add((table, RecordFormat.RecordPartition(write.Id), write, due));
        }

        foreach (var group in placed.GroupBy(p => (p.Table, p.Partition)))
        {
            var items = group.Select(p => (p.Write, p.Due)).ToArray();
            for (var i = 0; i < items.Length; i += MaxBatch) yield return (group.Key.Table, items[i..Math.Min(i + MaxBatch, items.Length)]);
        }
    }

    /// <summary>Runs a write; if its table does not exist yet, creates it and runs the write again.</summary>
    internal async Task<bool> WithTableAsync(string table, Func<ValueTask<bool>> write)
    {
        try
        {
            return await write().ConfigureAwait(false);
        }
        catch (RecordTableMissingException)
        {
            await CreateTableAsync(table, CancellationToken.None).ConfigureAwait(false);
            return await write().ConfigureAwait(false);
        }
    }

    // ---- Single rows, for the types that keep their own rows here (UniqueLocks).

    internal Task<bool> InsertRowAsync(string table, RecordEntity row, CancellationToken cancellationToken) => WithTableAsync(table, () => InsertAsync(table, [row], cancellationToken));

    internal ValueTask<bool> InsertRowsAsync(string table, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken) => InsertAsync(table, rows, cancellationToken);

    internal ValueTask MergeRowsAsync(string table, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken) => MergeAsync(table, rows, cancellationToken);

    internal ValueTask<bool> ReplaceRowAsync(string table, RecordEntity row, string? expectedETag, CancellationToken cancellationToken) => ReplaceAsync(table, row, expectedETag, cancellationToken);

    internal ValueTask<bool> DeleteRowAsync(string table, string partition, string row, string? expectedETag, CancellationToken cancellationToken) => DeleteAsync(table, partition, row, expectedETag, cancellationToken);

    // ---- Counters and heartbeats.

    /// <summary>A process's own counter rows of a day: absolute totals, replaced whole, so no two processes write the same row.</summary>
    internal async ValueTask WriteCountsAsync(DateTimeOffset day, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken)
    {
        var table = RecordFormat.FailedTable(day);
        for (var i = 0; i < rows.Count; i += MaxBatch)
        {
            var batch = rows.Skip(i).Take(MaxBatch).ToArray();
            await WithTableAsync(table, async () => { await MergeAsync(table, batch, cancellationToken).ConfigureAwait(false); return true; }).ConfigureAwait(false);
        }
    }

    /// <summary>Writes a worker's heartbeat (<paramref name="stopped"/> at its end).</summary>
    internal async ValueTask WriteHeartbeatAsync(TaskWorkerIdentity worker, IReadOnlyCollection<string> queues, IReadOnlyCollection<(string Id, string Queue)> running, DateTimeOffset startedAt, bool stopped, CancellationToken cancellationToken)
    {
        var row = new RecordEntity(RecordFormat.WorkerPartition, worker.Id)
            .Set("Machine", worker.Machine)
            .Set("Pid", worker.ProcessId)
            .Set("Queues", string.Join(",", queues))
            .Set("Running", string.Join(",", running.Take(100).Select(r => r.Id)))
            .Set("InFlight", string.Join(",", running.GroupBy(r => r.Queue, StringComparer.Ordinal).Select(g => $"{g.Key}={g.Count()}")))
            .Set("StartedAt", startedAt)
            .Set("LastSeen", Time.GetUtcNow())
            .Set("Stopped", stopped);
        await WithTableAsync(RecordFormat.WorkersTable, () => ReplaceAsync(RecordFormat.WorkersTable, row, null, cancellationToken)).ConfigureAwait(false);
    }

    // ---- Retention.

    /// <summary>
    /// Drops the day tables past their retention, whole (no row is deleted one by one), and forgets
    /// workers silent for a day. Safe to run in every worker at once. Returns the tables dropped.
    /// </summary>
    internal async ValueTask<IReadOnlyList<string>> ExpireAsync(CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        var dropped = new List<string>();
        foreach (var table in await ListTablesAsync(cancellationToken).ConfigureAwait(false))
        {
            if (RecordFormat.DayTable(table) is not { } day) continue;
            if (!RecordFormat.Expired(day.Day, day.Failed ? Options.FailedRetention : Options.SucceededRetention, now)) continue;
            await DropTableAsync(table, cancellationToken).ConfigureAwait(false);
            dropped.Add(table);
        }

        foreach (var worker in await QueryOrEmptyAsync(RecordFormat.WorkersTable, new RecordQuery(RecordFormat.WorkerPartition), cancellationToken).ConfigureAwait(false))
        {
            if ((worker.Get<DateTimeOffset>("LastSeen") ?? DateTimeOffset.MinValue) < now - ForgetWorkersAfter)
                await DeleteAsync(RecordFormat.WorkersTable, worker.PartitionKey, worker.RowKey, worker.ETag, cancellationToken).ConfigureAwait(false);
        }

        return dropped;
    }
}

/// <summary>The writes that failed (to try again), and what the first of them threw.</summary>
internal readonly record struct RecordWriteResult(IReadOnlyList<RecordWrite> Failed, Exception? Error);
