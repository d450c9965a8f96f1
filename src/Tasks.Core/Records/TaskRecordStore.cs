using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Where task records are kept: rows in day tables (see docs/records.md), over the few table
/// operations a store implements (<see cref="InMemoryTaskRecordStore"/>, <c>AzureTableTaskRecordStore</c>).
/// The layout, the merging of writes, the moves between tables and the retention are here, the
/// same for every store. Written by the enqueuer and the workers; read as <see cref="ITaskRecords"/>.
/// </summary>
/// <remarks>
/// A façade over services that each own their rows, all over the store's table operations (<see cref="IRecordTables"/>):
/// reads, writes, counters, worker rows, unique locks, continuation and batch rows, and an operator's acts.
/// </remarks>
public abstract class TaskRecordStore : ITaskRecords, IRecordTables
{
    /// <summary>The most rows a store takes in one batch (Azure Table storage: 100 per transaction).</summary>
    protected const int MaxBatch = RecordTables.MaxBatch;

    private readonly RecordReads reads;
    private readonly RecordOperations operations;

    /// <summary>Creates the store.</summary>
    /// <param name="options">Retention and the rest; the defaults if null.</param>
    /// <param name="timeProvider">The clock of retention, scheduled states and gone workers.</param>
    protected TaskRecordStore(TaskRecordOptions? options, TimeProvider? timeProvider)
    {
        Options = options ?? new TaskRecordOptions();
        Options.Validate();
        Time = timeProvider ?? TimeProvider.System;
        Writes = new RecordWrites(this, Options, Time);
        Workers = new WorkerRows(this, Options, Time);
        Counts = new RecordCounts(this);
        UniqueLocks = new UniqueLocks(this, Time);
        Flows = new FlowRows(this, Writes, Time);
        reads = new RecordReads(this, Workers, Options, Time);
        operations = new RecordOperations(this, reads, Writes, UniqueLocks, Flows, Options, Time);
        Watcher = new TaskWatcher(this, Options.WatchInterval, Time);
    }

    /// <summary>Streams of task events and waits for tasks to end: this process's at once, others' from the store (<see cref="TaskRecordOptions.WatchInterval"/>).</summary>
    public TaskWatcher Watcher { get; }

    /// <summary>Records created, merged, moved to the failed-record table, deleted; day tables dropped past their retention.</summary>
    internal RecordWrites Writes { get; }

    /// <summary>The workers' heartbeats.</summary>
    internal WorkerRows Workers { get; }

    /// <summary>Each process's counter rows, and their sums.</summary>
    internal RecordCounts Counts { get; }

    /// <summary>The locks of unique tasks, kept in this store.</summary>
    internal UniqueLocks UniqueLocks { get; }

    /// <summary>Continuations, tracked batches and run claims.</summary>
    internal FlowRows Flows { get; }

    /// <summary>
    /// For the fault tests: called at each step of a release (sealed, sent, claimed), where a crash is
    /// the worst, with the id of the parent or batch released.
    /// </summary>
    internal static Action<string, string>? ReleasePoint { get; set; }

    /// <summary>What the records keep and for how long.</summary>
    public TaskRecordOptions Options { get; }

    /// <summary>The store's clock.</summary>
    protected TimeProvider Time { get; }

    /// <summary>What the start log says of this store: its kind and endpoint, never a secret.</summary>
    public virtual string Describe() => GetType().Name;

    /// <summary>
    /// Checks at start that the store can be used. Throws <see cref="TaskTransportException"/>; one that
    /// is not <see cref="TaskTransportException.IsTransient"/> (credentials refused) stops the host,
    /// since records would never be written; a store that does not answer only warns.
    /// </summary>
    public virtual ValueTask CheckAsync(CancellationToken cancellationToken = default) => default;

    /// <inheritdoc />
    public ValueTask<TaskRecord?> GetAsync(string id, CancellationToken cancellationToken = default) => reads.GetAsync(id, cancellationToken);

    /// <inheritdoc />
    public ValueTask<TaskRecordPage> ListAsync(TaskRecordQuery query, CancellationToken cancellationToken = default) => reads.ListAsync(query, cancellationToken);

    /// <inheritdoc />
    public ValueTask<TaskBatchRecord?> GetBatchAsync(string batchId, CancellationToken cancellationToken = default) => Flows.GetBatchAsync(batchId, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TaskWorkerInfo>> ListWorkersAsync(CancellationToken cancellationToken = default) => Workers.ListAsync(cancellationToken);

    /// <inheritdoc />
    public ValueTask<TaskStateCounts> CountAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default) => Counts.CountAsync(from, to, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TaskStateCounts>> CountPerMinuteAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken = default) => Counts.CountPerMinuteAsync(from, to, cancellationToken);

    /// <summary>
    /// Records that dead letters were sent back to their queues (their ids kept): each reads as
    /// Enqueued again, its history kept, until a worker runs it. The host's <see cref="ITaskDeadLetters"/>
    /// and the CLI call it after a requeue; call it if you requeue through the transport yourself.
    /// </summary>
    public ValueTask MarkRequeuedAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken = default) => operations.MarkRequeuedAsync(ids, cancellationToken);

    /// <summary>
    /// Records that dead letters were purged: their tasks stay dead-lettered, with nothing left to
    /// requeue, and the continuations still waiting for them to succeed are cancelled.
    /// </summary>
    public ValueTask MarkPurgedAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken = default) => operations.MarkPurgedAsync(ids, cancellationToken);

    /// <inheritdoc />
    public ValueTask<TaskCancelResult> CancelAsync(string id, CancellationToken cancellationToken = default) => operations.CancelAsync(id, deleting: false, cancellationToken);

    /// <summary>A cancel; with <paramref name="deleting"/>, for a delete: the workers write nothing more of the task, so its record stays gone.</summary>
    internal ValueTask<TaskCancelResult> CancelAsync(string id, bool deleting, CancellationToken cancellationToken) => operations.CancelAsync(id, deleting, cancellationToken);

    /// <summary>The ids whose cancel was asked for at or after <paramref name="since"/> (by the store's clock).</summary>
    internal ValueTask<IReadOnlyList<(string Id, bool Deleted)>> ReadCancelRequestsAsync(DateTimeOffset since, CancellationToken cancellationToken) => operations.ReadCancelRequestsAsync(since, cancellationToken);

    /// <summary>
    /// Drops the day tables past their retention, whole (no row is deleted one by one), and forgets
    /// workers silent for a day. Safe to run in every worker at once. Returns the tables dropped.
    /// </summary>
    internal async ValueTask<IReadOnlyList<string>> ExpireAsync(CancellationToken cancellationToken)
    {
        var dropped = await Writes.DropExpiredTablesAsync(cancellationToken).ConfigureAwait(false);
        await Workers.ForgetSilentAsync(cancellationToken).ConfigureAwait(false);
        return dropped;
    }

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

    ValueTask<bool> IRecordTables.InsertAsync(string table, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken) => InsertAsync(table, rows, cancellationToken);

    ValueTask IRecordTables.MergeAsync(string table, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken) => MergeAsync(table, rows, cancellationToken);

    ValueTask<bool> IRecordTables.ReplaceAsync(string table, RecordEntity row, string? expectedETag, CancellationToken cancellationToken) => ReplaceAsync(table, row, expectedETag, cancellationToken);

    ValueTask<RecordEntity?> IRecordTables.ReadAsync(string table, string partition, string row, CancellationToken cancellationToken) => ReadAsync(table, partition, row, cancellationToken);

    ValueTask<bool> IRecordTables.DeleteAsync(string table, string partition, string row, string? expectedETag, CancellationToken cancellationToken) => DeleteAsync(table, partition, row, expectedETag, cancellationToken);

    ValueTask<IReadOnlyList<RecordEntity>> IRecordTables.QueryAsync(string table, RecordQuery query, CancellationToken cancellationToken) => QueryAsync(table, query, cancellationToken);

    ValueTask IRecordTables.CreateTableAsync(string table, CancellationToken cancellationToken) => CreateTableAsync(table, cancellationToken);

    ValueTask IRecordTables.DropTableAsync(string table, CancellationToken cancellationToken) => DropTableAsync(table, cancellationToken);

    ValueTask<IReadOnlyList<string>> IRecordTables.ListTablesAsync(CancellationToken cancellationToken) => ListTablesAsync(cancellationToken);
}
