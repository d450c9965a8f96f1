using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Tasks;

/// <summary>
/// The one place a process writes records from: writes of a task coalesce in memory (a short task's
/// start and end become one), and a flush every <see cref="TaskRecordOptions.FlushInterval"/> sends
/// them in batches per table partition, never from the receive loop. A store that is down slows
/// nothing: the writes wait here (up to <see cref="TaskRecordOptions.MaxPendingWrites"/>), are counted,
/// and go out when it answers again. Also writes this process's counters (<see cref="ProcessCounters"/>).
/// </summary>
internal sealed partial class TaskRecordWriter : IAsyncDisposable
{
    private readonly object gate = new();
    private readonly ILogger logger;
    private readonly TimeProvider time;
    private readonly SemaphoreSlim flushing = new(1, 1);
    private Dictionary<string, RecordWrite> pending = new(StringComparer.Ordinal);
    private List<(string Lock, string Id, bool? Sent)> releases = new(); // Sent null: released
    private Dictionary<string, List<RecordEntity>> batchRows = new(StringComparer.Ordinal);

    /// <summary>Called after a flush wrote the counts of these batches (a worker then checks whether they are complete).</summary>
    public Func<IReadOnlyList<string>, Task>? BatchesCounted { get; set; }
    private readonly ProcessCounters counters;
    private Task loop = Task.CompletedTask;
    private bool looping;
    private Task countLoop = Task.CompletedTask;
    private bool countingBatches;
    private bool disposed;
    private TimeSpan backoff;
    private long lastFailureLog;

    public TaskRecordWriter(TaskRecordStore store, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        Store = store ?? throw new ArgumentNullException(nameof(store));
        this.logger = logger ?? NullLogger.Instance;
        time = timeProvider ?? TimeProvider.System;
        Options = store.Options;
        WriterId = TaskWorkerIdentity.NewId();
        counters = new ProcessCounters(store, WriterId, time);
    }

    public TaskRecordStore Store { get; }

    public TaskRecordOptions Options { get; }

    /// <summary>This process's name in the counter rows: each process writes only its own.</summary>
    public string WriterId { get; }

    /// <summary>Writes waiting for the next flush.</summary>
    public int Pending
    {
        get { lock (gate) return pending.Count; }
    }

    /// <summary>Adds a write; it goes out with the next flush, merged with any other of its task.</summary>
    public void Write(RecordWrite write)
    {
        Store.Watcher.Observe(write); // before the merge below: the write is the event, and may be merged into another
        lock (gate)
        {
            if (pending.TryGetValue(write.Id, out var earlier)) earlier.Merge(write);
            else if (pending.Count >= Options.MaxPendingWrites) TasksTelemetry.RecordWritesDropped.Add(1);
            else pending[write.Id] = write;
            StartLoop();
        }
    }

    /// <summary>Ends a unique task's lock with the next flush (if the task still holds it).</summary>
    public void ReleaseUnique(string uniqueLock, string id) => AddRelease(uniqueLock, id, sent: null);

    /// <summary>Marks a unique task's lock, with the next flush, as its message sent or not (when the store failed to be told at once).</summary>
    public void MarkUnique(string uniqueLock, string id, bool sent) => AddRelease(uniqueLock, id, sent);

    private void AddRelease(string uniqueLock, string id, bool? sent)
    {
        lock (gate)
        {
            releases.Add((uniqueLock, id, sent));
            StartLoop();
        }
    }

    /// <summary>
    /// Counts tasks of a tracked batch: a pack's successes, or a task that ended alone. Written at once, not with the
    /// next flush, so a batch's callback starts within a round trip of its last task's end; counts that come while a
    /// write is out go together in the next. What fails waits for the next flush.
    /// </summary>
    public void CountBatch(string batchId, RecordEntity row)
    {
        lock (gate)
        {
            if (!batchRows.TryGetValue(batchId, out var rows)) batchRows[batchId] = rows = new List<RecordEntity>();
            rows.Add(row);
            StartLoop();
            if (countingBatches || disposed) return;
            countingBatches = true;
            countLoop = Task.Run(CountBatchesAsync);
        }
    }

    private async Task CountBatchesAsync()
    {
        while (true)
        {
            Dictionary<string, List<RecordEntity>> counted;
            lock (gate)
            {
                if (batchRows.Count == 0 || backoff > TimeSpan.Zero)
                {
                    // Nothing more, or the store is failing: the flush loop tries again with its backoff.
                    countingBatches = false;
                    return;
                }

                counted = batchRows;
                batchRows = new Dictionary<string, List<RecordEntity>>(StringComparer.Ordinal);
            }

            try
            {
                if (!await WriteBatchesAsync(counted, CancellationToken.None).ConfigureAwait(false))
                {
                    lock (gate) countingBatches = false;
                    return;
                }
            }
            catch (Exception ex)
            {
                Log.FlushFailed(logger, ex);
            }
        }
    }

    /// <summary>Counts events of <paramref name="field"/> (a <see cref="ProcessCounters"/> field) in the minute of <paramref name="at"/>, written with the next flush.</summary>
    public void Count(int field, DateTimeOffset at, int count = 1)
    {
        if (!Options.Counters || count == 0) return;
        counters.Add(field, at, count);
        lock (gate) StartLoop();
    }

    private async Task<bool> WriteCountsAsync(CancellationToken cancellationToken)
    {
        try
        {
            await counters.WriteAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.FlushFailed(logger, ex);
            return false;
        }
    }

    private void StartLoop()
    {
        if (looping || disposed) return;
        looping = true;
        loop = Task.Run(LoopAsync);
    }

    private async Task LoopAsync()
    {
        while (true)
        {
            try
            {
                await Task.Delay(Options.FlushInterval + backoff, time).ConfigureAwait(false);
                await FlushAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.FlushFailed(logger, ex);
            }

            lock (gate)
            {
                // Idle: the loop ends, and the next write starts it again.
                if (pending.Count == 0 && !counters.HasUnwritten && releases.Count == 0 && batchRows.Count == 0 || disposed)
                {
                    looping = false;
                    return;
                }
            }
        }
    }

    /// <summary>Sends what is pending now (a worker's stop, a test); what fails stays pending.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        await flushing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Dictionary<string, RecordWrite> batch;
            List<(string Lock, string Id, bool? Sent)> released;
            Dictionary<string, List<RecordEntity>> counted;
            lock (gate)
            {
                (batch, released, counted) = (pending, releases, batchRows);
                pending = new Dictionary<string, RecordWrite>(StringComparer.Ordinal);
                releases = new List<(string, string, bool?)>();
                batchRows = new Dictionary<string, List<RecordEntity>>(StringComparer.Ordinal);
            }

            var (failed, error) = batch.Count == 0 ? new RecordWriteResult([], null) : await WriteOrFailAsync(batch.Values.ToArray(), cancellationToken).ConfigureAwait(false);
            var countsWritten = await WriteCountsAsync(cancellationToken).ConfigureAwait(false);
            var releasesDone = await ReleaseAsync(released, cancellationToken).ConfigureAwait(false);
            var batchesDone = await WriteBatchesAsync(counted, cancellationToken).ConfigureAwait(false);
            if (failed.Count == 0 && countsWritten && releasesDone && batchesDone)
            {
                backoff = TimeSpan.Zero;
                return;
            }

            TasksTelemetry.RecordWriteFailures.Add(Math.Max(1, failed.Count));
            lock (gate)
            {
                // Back under the writes that came meanwhile: those are newer.
                foreach (var write in failed)
                {
                    if (pending.TryGetValue(write.Id, out var newer))
                    {
                        write.Merge(newer);
                        pending[write.Id] = write;
                    }
                    else if (pending.Count < Options.MaxPendingWrites) pending[write.Id] = write;
                    else TasksTelemetry.RecordWritesDropped.Add(1);
                }
            }

            backoff = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(30).Ticks, Math.Max(Options.FlushInterval.Ticks, backoff.Ticks * 2)));
            var now = Stopwatch.GetTimestamp();
            if (Stopwatch.GetElapsedTime(Interlocked.Read(ref lastFailureLog), now) > TimeSpan.FromSeconds(30))
            {
                Interlocked.Exchange(ref lastFailureLog, now);
                Log.WritesFailed(logger, error, failed.Count, Store.Describe(), backoff);
            }
        }
        finally
        {
            flushing.Release();
        }
    }

    /// <summary>Writes the batches' counting rows; tells <see cref="BatchesCounted"/> of those written, keeps the others for the next flush.</summary>
    private async Task<bool> WriteBatchesAsync(Dictionary<string, List<RecordEntity>> counted, CancellationToken cancellationToken)
    {
        if (counted.Count == 0) return true;
        var written = new List<string>();
        foreach (var (batchId, rows) in counted)
        {
            try
            {
                await Store.Flows.WriteBatchCountsAsync(batchId, rows, cancellationToken).ConfigureAwait(false);
                written.Add(batchId);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.FlushFailed(logger, ex);
                lock (gate)
                {
                    if (!batchRows.TryGetValue(batchId, out var again)) batchRows[batchId] = again = new List<RecordEntity>();
                    again.InsertRange(0, rows);
                }
            }
        }

        if (written.Count > 0 && BatchesCounted is { } onCounted) await onCounted(written).ConfigureAwait(false);
        return written.Count == counted.Count;
    }

    private async Task<bool> ReleaseAsync(List<(string Lock, string Id, bool? Sent)> released, CancellationToken cancellationToken)
    {
        var failed = new List<(string, string, bool?)>();
        foreach (var (uniqueLock, id, sent) in released)
        {
            try
            {
                if (sent is { } wasSent) await Store.UniqueLocks.MarkAsync(uniqueLock, id, wasSent, cancellationToken).ConfigureAwait(false);
                else await Store.UniqueLocks.ReleaseAsync(uniqueLock, id, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                failed.Add((uniqueLock, id, sent));
                Log.FlushFailed(logger, ex);
            }
        }

        if (failed.Count == 0) return true;
        lock (gate) releases.AddRange(failed);
        return false;
    }

    private async Task<RecordWriteResult> WriteOrFailAsync(IReadOnlyList<RecordWrite> writes, CancellationToken cancellationToken)
    {
        try
        {
            return await Store.Writes.WriteAsync(writes, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.FlushFailed(logger, ex);
            return new RecordWriteResult(writes, ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        lock (gate) disposed = true;
        await loop.ConfigureAwait(false);
        await countLoop.ConfigureAwait(false);
        await FlushAsync(CancellationToken.None).ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Writing task records to {Store} failed; {Count} record write(s), and any counters and lock changes, wait in memory and are tried again in {Backoff} (tasks run and settle as before)")]
        public static partial void WritesFailed(ILogger logger, Exception? exception, int count, string store, TimeSpan backoff);

        [LoggerMessage(2, LogLevel.Warning, "Writing task records failed; they are tried again")]
        public static partial void FlushFailed(ILogger logger, Exception exception);
    }
}
