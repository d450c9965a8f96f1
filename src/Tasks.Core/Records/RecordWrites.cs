using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// The writes of records: created at enqueue, merged by workers in batches per table and partition, moved to the
/// failed-record table at a dead letter or a cancel, deleted at an operator's delete; and the day tables dropped
/// whole past their retention. A failed write is returned to its caller with what it threw.
/// </summary>
internal sealed class RecordWrites(IRecordTables tables, TaskRecordOptions options, TimeProvider time)
{
    /// <summary>
    /// The records of tasks just enqueued: inserted with their first state; where a worker has
    /// written first (it ran the task before this write arrived), merged without a state, so the
    /// worker's state stands.
    /// </summary>
    public async ValueTask CreateAsync(IReadOnlyList<RecordWrite> writes, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await Task.WhenAll(Partitions(writes, now).SelectMany(partition => Transactions(CreatedRows(partition.Writes), partition.Table)).Select(async batch =>
        {
            var rows = batch.Rows.Select(r => r.Entity(w => w)).ToArray();
            if (await tables.WithTableAsync(batch.Table, () => tables.InsertAsync(batch.Table, rows, cancellationToken)).ConfigureAwait(false)) return;
            var merged = batch.Rows.Select(r => r.Entity(w => w.WithoutState())).ToArray();
            await tables.MergeInAsync(batch.Table, merged, cancellationToken).ConfigureAwait(false);
        })).ConfigureAwait(false);
    }

    /// <summary>The rows the records of tasks just enqueued take: one per task, but one for the members of a record group that fit in a row.</summary>
    private static IEnumerable<CreatedRow> CreatedRows(IReadOnlyList<(RecordWrite Write, DateTimeOffset Due)> writes)
    {
        foreach (var group in writes.GroupBy(w => TaskHeaders.GroupOf(w.Write.Id)?.GroupId))
        {
            var members = group.ToArray();
            if (group.Key is { } groupId && members.Length > 1 && members.Max(m => RecordFormat.MemberChars(m.Write)) <= MaxMemberChars && members.Sum(m => RecordFormat.MemberChars(m.Write)) <= MaxGroupChars)
                yield return new CreatedRow(groupId, members.Select(m => m.Write).ToArray(), members[0].Due);
            else
                foreach (var (write, due) in members) yield return new CreatedRow(null, [write], due);
        }
    }

    /// <summary>Rows in transactions of at most <see cref="RecordTables.MaxBatch"/> rows and 4 MB (Azure Table storage's limits), with room to spare.</summary>
    private static IEnumerable<(string Table, CreatedRow[] Rows)> Transactions(IEnumerable<CreatedRow> rows, string table)
    {
        var transaction = new List<CreatedRow>();
        var chars = 0;
        foreach (var row in rows)
        {
            var rowChars = row.Writes.Sum(RecordFormat.MemberChars) + 1_000;
            if (transaction.Count == RecordTables.MaxBatch || (transaction.Count > 0 && chars + rowChars > MaxTransactionChars))
            {
                yield return (table, transaction.ToArray());
                (transaction, chars) = (new List<CreatedRow>(), 0);
            }

            transaction.Add(row);
            chars += rowChars;
        }

        if (transaction.Count > 0) yield return (table, transaction.ToArray());
    }

    private const int MaxTransactionChars = 1_500_000;

    /// <summary>A property holds at most 64 KB (32 K characters); a row 1 MB, with room for the shared properties.</summary>
    private const int MaxMemberChars = 30_000;

    private const int MaxGroupChars = 400_000;

    /// <summary>A row of records just enqueued: one task's, or a group's (<paramref name="GroupId"/>).</summary>
    private sealed record CreatedRow(string? GroupId, RecordWrite[] Writes, DateTimeOffset Due)
    {
        public RecordEntity Entity(Func<RecordWrite, RecordWrite> shape)
            => GroupId is { } groupId ? RecordFormat.ToGroupEntity(groupId, Writes.Select(shape).ToArray(), Due) : RecordFormat.ToEntity(shape(Writes[0]), Due);
    }

    /// <summary>
    /// A worker's writes: merged into the day's live table in batches per partition; a dead letter
    /// or a cancel moves its record to the failed-record table. Returns the writes that failed, to try again, and
    /// what the first of them threw: to this caller, not kept where concurrent callers would read each other's.
    /// </summary>
    public async ValueTask<RecordWriteResult> WriteAsync(IReadOnlyList<RecordWrite> writes, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var failed = new List<RecordWrite>();
        Exception? firstError = null;
        async Task Try(IEnumerable<RecordWrite> these, Func<Task> write)
        {
            try
            {
                await write().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                lock (failed) failed.AddRange(these);
                Interlocked.CompareExchange(ref firstError, ex, null);
            }
        }

        var merges = Batches(writes.Where(w => !w.MovesToFailed).ToArray(), now).Select(batch => Try(
            batch.Writes.Select(w => w.Write),
            () => tables.MergeInAsync(batch.Table, batch.Writes.Select(w => RecordFormat.ToEntity(w.Write, w.Due)).ToArray(), cancellationToken)));
        var moves = writes.Where(w => w.MovesToFailed).Select(write => Try([write], () => MoveToFailedAsync(write, now, cancellationToken)));
        await Task.WhenAll(merges.Concat(moves)).ConfigureAwait(false);
        return new RecordWriteResult(failed, firstError);
    }

    /// <summary>Writes, and throws what the first failed write threw (as it is: a transient fault stays one), for a write its caller must not go on without.</summary>
    public async ValueTask WriteOrThrowAsync(IReadOnlyList<RecordWrite> writes, CancellationToken cancellationToken)
    {
        var result = await WriteAsync(writes, cancellationToken).ConfigureAwait(false);
        if (result.Error is { } error) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
    }

    /// <summary>Deletes a task's record (both its rows); false if there was none.</summary>
    public async ValueTask<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        if (RecordFormat.DueOfTask(id) is not { } due) return false;
        var (partition, row) = (RecordFormat.RecordPartition(id), RecordFormat.RecordRow(id, due));
        var deleted = false;
        foreach (var table in new[] { RecordFormat.LiveTable(due), RecordFormat.FailedTable(due) })
            deleted |= await tables.DeleteIfThereAsync(table, partition, row, null, cancellationToken).ConfigureAwait(false);
        if (TaskHeaders.GroupOf(id) is { } group && await tables.ReadGroupMemberAsync(id, due, cancellationToken).ConfigureAwait(false) is not null)
        {
            await tables.MergeInAsync(RecordFormat.LiveTable(due), [RecordFormat.DeletedMember(group.GroupId, group.Index, due)], cancellationToken).ConfigureAwait(false);
            deleted = true;
        }

        return deleted;
    }

    /// <summary>Drops the day tables past their retention, whole (no row is deleted one by one); returns those dropped.</summary>
    public async ValueTask<IReadOnlyList<string>> DropExpiredTablesAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var dropped = new List<string>();
        foreach (var table in await tables.ListTablesAsync(cancellationToken).ConfigureAwait(false))
        {
            if (RecordFormat.DayTable(table) is not { } day) continue;
            if (!RecordFormat.Expired(day.Day, day.Failed ? options.FailedRetention : options.SucceededRetention, now)) continue;
            await tables.DropTableAsync(table, cancellationToken).ConfigureAwait(false);
            dropped.Add(table);
        }

        return dropped;
    }

    /// <summary>
    /// Moves a record to the failed-record table, where it outlives its day's live table: the live
    /// row (arguments, history; and a group member's part of its group's row) and this write merged into one row there,
    /// then the live row deleted; not if the live row's state is newer than the write's.
    /// A crash in between leaves both rows, and a read merges them.
    /// </summary>
    private async Task MoveToFailedAsync(RecordWrite write, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (RecordFormat.DueOfTask(write.Id) is not { } due || RecordFormat.Expired(due, options.FailedRetention, now)) return;
        var (liveTable, failedTable) = (RecordFormat.LiveTable(due), RecordFormat.FailedTable(due));
        var row = RecordFormat.ToEntity(write, due);
        var live = await tables.ReadRowAsync(liveTable, row.PartitionKey, row.RowKey, cancellationToken).ConfigureAwait(false);

        // A state newer than this write's stands: a send given up at its deadline that arrived all the same, and ran,
        // before its "not sent" write could land (that write waited in the writer while the store did not answer).
        if (live?.Get<DateTimeOffset>("StateAt") is { } liveAt && write.StateAt is { } writtenAt && liveAt > writtenAt && live.GetString("State") is not null) return;
        var enqueued = await tables.ReadGroupMemberAsync(write.Id, due, cancellationToken).ConfigureAwait(false);
        await tables.MergeInAsync(failedTable, [RecordFormat.Combine(enqueued is null ? live : RecordFormat.Combine(enqueued, live ?? row), row)], cancellationToken).ConfigureAwait(false);
        if (live is not null) await tables.DeleteIfThereAsync(liveTable, live.PartitionKey, live.RowKey, live.ETag, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes grouped by table and partition, at most <see cref="RecordTables.MaxBatch"/> a batch; a live table past its retention sends them to the failed-record table.</summary>
    private IEnumerable<(string Table, (RecordWrite Write, DateTimeOffset Due)[] Writes)> Batches(IReadOnlyList<RecordWrite> writes, DateTimeOffset now)
        => Partitions(writes, now).SelectMany(partition => partition.Writes.Chunk(RecordTables.MaxBatch).Select(chunk => (partition.Table, chunk)));

    private IEnumerable<(string Table, IReadOnlyList<(RecordWrite Write, DateTimeOffset Due)> Writes)> Partitions(IReadOnlyList<RecordWrite> writes, DateTimeOffset now)
    {
        var placed = new List<(string Table, string Partition, RecordWrite Write, DateTimeOffset Due)>();
        foreach (var write in writes)
        {
            if (RecordFormat.DueOfTask(write.Id) is not { } due) continue; // not an id of ours: a message enqueued by an older version
            var table = !RecordFormat.Expired(due, options.SucceededRetention, now) ? RecordFormat.LiveTable(due)
                : !RecordFormat.Expired(due, options.FailedRetention, now) ? RecordFormat.FailedTable(due)
                : null;
            if (table is not null) placed.Add((table, RecordFormat.RecordPartition(write.Id), write, due));
        }

        return placed.GroupBy(p => (p.Table, p.Partition)).Select(group => (group.Key.Table, (IReadOnlyList<(RecordWrite, DateTimeOffset)>)group.Select(p => (p.Write, p.Due)).ToArray()));
    }
}

/// <summary>The writes that failed (to try again), and what the first of them threw.</summary>
internal readonly record struct RecordWriteResult(IReadOnlyList<RecordWrite> Failed, Exception? Error);
