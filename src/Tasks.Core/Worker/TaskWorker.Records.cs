using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// What a worker tells the task records: each run's start and end (into the writer, which coalesces
/// and batches them: no storage call on the run path), its heartbeat, and the cancel requests it
/// polls for, one query per interval whatever it runs.
/// </summary>
public sealed partial class TaskWorker
{
    private static readonly TimeSpan CancelLookBack = TimeSpan.FromDays(7); // the longest a message waits in an Azure queue
    private static readonly TimeSpan CancelOverlap = TimeSpan.FromMinutes(2); // each poll reads again the requests of the last two minutes: clocks may differ that much
    private static readonly TimeSpan ExpiryInterval = TimeSpan.FromHours(1);

    private readonly TaskRecordWriter? records;
    private readonly TaskWorkerIdentity identity = TaskWorkerIdentity.ForThisProcess();
    // What this worker runs now, by task id: for heartbeats, and so a cancel request finds its run.
    private readonly ConcurrentDictionary<string, (RunCancellation Cancellation, string Queue)> runsById = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> cancelRequested = new(StringComparer.Ordinal);

    // Tasks deleted by an operator (a cancel for a delete): nothing more is written of them, so their records stay gone.
    private readonly ConcurrentDictionary<string, DateTimeOffset> deletedIds = new(StringComparer.Ordinal);

    /// <summary>The writer, for a task whose record may be written; null for one an operator deleted.</summary>
    private TaskRecordWriter? RecordsOf(string id) => records is not null && !deletedIds.ContainsKey(id) ? records : null;
    private readonly CancellationTokenSource stopRecords = new();
    private Task recording = Task.CompletedTask;
    private DateTimeOffset startedAt;
    private int recordsStopped;

    /// <summary>Who this worker is in heartbeats and records.</summary>
    public TaskWorkerIdentity Identity => identity;

    /// <summary>The record store this worker writes to, or null.</summary>
    public TaskRecordStore? Records => records?.Store;

    private bool CancelsById => records is { Options.Cancellation: true };

    /// <summary>
    /// A record store that refuses the credentials fails the start; one that does not answer yet only
    /// warns (records wait for it). Then, before the first receive, the cancel requests of the last week:
    /// a task cancelled while no worker ran must not run when one starts.
    /// </summary>
    private async Task CheckRecordsAsync(CancellationToken cancellationToken)
    {
        if (records is null) return;
        cancelsSince = time.GetUtcNow() - CancelLookBack;
        try
        {
            await records.Store.CheckAsync(cancellationToken).ConfigureAwait(false);
            if (records.Options.Cancellation)
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(30));
                cancelsSince = await PollCancelsAsync(cancelsSince, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (TaskTransportException ex) when (ex.IsTransient)
        {
            Log.RecordsFailed(logger, ex, records.Store.Describe());
        }
        catch (Exception ex) when (ex is not TaskTransportException && !cancellationToken.IsCancellationRequested)
        {
            // Tasks run all the same; a task cancelled while no worker ran may run until the poll catches up.
            Log.RecordsFailed(logger, ex, records.Store.Describe());
        }
    }

    private DateTimeOffset cancelsSince;

    private void StartRecords()
    {
        if (records is null) return;
        startedAt = time.GetUtcNow();
        records.BatchesCounted = CompleteBatchesAsync;
        recording = Task.Run(() => RecordsLoopAsync(stopRecords.Token));
    }

    private async Task StopRecordsAsync()
    {
        if (records is null || !loopsStarted || Interlocked.Exchange(ref recordsStopped, 1) == 1) return;
        stopRecords.Cancel();
        await recording.ConfigureAwait(false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)); // a store that is down must not hold the stop
        try
        {
            if (records.Options.Heartbeats) await records.Store.WriteHeartbeatAsync(identity, Queues, Array.Empty<(string, string)>(), startedAt, stopped: true, timeout.Token).ConfigureAwait(false);
            await records.FlushAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.RecordsFailed(logger, ex, records.Store.Describe());
        }
    }

    private async Task RecordsLoopAsync(CancellationToken stopping)
    {
        var options = records!.Options;
        var since = cancelsSince;
        var nextHeartbeat = DateTimeOffset.MinValue;
        var nextExpiry = DateTimeOffset.MinValue;
        var nextSweep = DateTimeOffset.MinValue;
        var tick = options.Cancellation ? TimeSpan.FromTicks(Math.Min(options.CancelPollInterval.Ticks, options.HeartbeatInterval.Ticks)) : options.HeartbeatInterval;
        while (!stopping.IsCancellationRequested)
        {
            var now = time.GetUtcNow();
            try
            {
                if (options.Cancellation) since = await PollCancelsAsync(since, stopping).ConfigureAwait(false);
                if (options.Heartbeats && now >= nextHeartbeat)
                {
                    nextHeartbeat = now + options.HeartbeatInterval;
                    await records.Store.WriteHeartbeatAsync(identity, Queues, runsById.ToArray().Select(r => (r.Key, r.Value.Queue)).ToArray(), startedAt, stopped: false, stopping).ConfigureAwait(false);
                }

                if (now >= nextSweep)
                {
                    nextSweep = now + TimeSpan.FromSeconds(10);
                    await SweepCallbacksAsync(stopping).ConfigureAwait(false);
                }

                if (now >= nextExpiry)
                {
                    nextExpiry = now + ExpiryInterval;
                    foreach (var table in await records.Store.ExpireAsync(stopping).ConfigureAwait(false)) Log.RecordTableDropped(logger, table);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Log.RecordsFailed(logger, ex, records.Store.Describe());
            }

            try
            {
                await Task.Delay(tick, time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Reads the cancel requests since the last poll and fires the token of each such task this
    /// worker runs. Returns the next poll's start: a little before this one, so a request the
    /// store stamped by a clock behind ours is not missed (those read twice are known already).
    /// </summary>
    private async Task<DateTimeOffset> PollCancelsAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        var polled = time.GetUtcNow();
        var requests = await records!.Store.ReadCancelRequestsAsync(since, cancellationToken).ConfigureAwait(false);
        foreach (var (id, deleted) in requests)
        {
            if (deleted) deletedIds.TryAdd(id, polled);
            if (!cancelRequested.TryAdd(id, polled)) continue;
            if (runsById.TryGetValue(id, out var run))
            {
                Log.CancelRequested(logger, id);
                run.Cancellation.CancelByRequest();
            }
        }

        // No message waits longer than a week in a queue: older requests can be forgotten.
        foreach (var (id, seen) in cancelRequested)
        {
            if (seen < polled - CancelLookBack) cancelRequested.TryRemove(id, out _);
        }

        foreach (var (id, seen) in deletedIds)
        {
            if (seen < polled - CancelLookBack) deletedIds.TryRemove(id, out _);
        }

        return polled - CancelOverlap > since ? polled - CancelOverlap : since;
    }

    /// <summary>
    /// Registers a run so a cancel request can reach it; false if its task was cancelled before it
    /// started (it must not run). Unregister with <see cref="RunEnded"/>.
    /// </summary>
    private bool RunStarting(string id, string queue, RunCancellation cancellation)
    {
        if (records is null) return true;
        runsById[id] = (cancellation, queue);
        if (!CancelsById || !cancelRequested.ContainsKey(id)) return true;
        runsById.TryRemove(id, out _);
        return false;
    }

    private void RunEnded(string id)
    {
        if (records is not null) runsById.TryRemove(id, out _);
    }

    private void RecordStarted(ReceivedTaskMessage message, TaskDefinition task, DateTimeOffset started)
    {
        var records = RecordsOf(message.MessageId);
        if (records is null) return;
        var write = new RecordWrite(message.MessageId)
        {
            TaskName = task.Name,
            Queue = message.Queue,
            MaxAttempts = task.MaxAttempts,
            State = TaskState.Running,
            StateAt = started,
            Attempt = message.Attempt,
            StartedAt = message.Attempt == 1 ? started : null,
            Worker = identity,
        };
        write.AddAttempt(new TaskAttempt(message.Attempt, started, null, null, identity, null));
        records.Write(write);
        records.Count(TaskRecordWriter.StartedField, started);
    }

    /// <summary>The end of a run: its history entry, and the state it leaves the task in (a dead letter's is written by <see cref="RecordDeadLettered"/>).</summary>
    private void RecordEnded(ReceivedTaskMessage message, DecodedEnvelope decoded, DateTimeOffset started, RunDecision decision)
    {
        var records = RecordsOf(message.MessageId);
        if (records is null) return;
        var now = time.GetUtcNow();
        var write = new RecordWrite(message.MessageId) { Attempt = message.Attempt, Worker = identity };
        write.AddAttempt(new TaskAttempt(message.Attempt, started, now, decision.Outcome, identity, RecordFormat.Trim(decision.Failure, records.Options)));
        switch (decision.Outcome)
        {
            case TaskOutcome.Completed:
                (write.State, write.FinishedAt) = (TaskState.Succeeded, now);
                records.Count(TaskRecordWriter.SucceededField, now);
                break;
            case TaskOutcome.Retried:
                (write.State, write.NextAttemptAt) = (TaskState.Retrying, now + decision.RetryDelay.GetValueOrDefault());
                records.Count(TaskRecordWriter.RetriedField, now);
                break;
            case TaskOutcome.Released:
                write.State = TaskState.Enqueued; // back in its queue for another worker
                break;
            case TaskOutcome.Cancelled:
                (write.State, write.FinishedAt, write.Reason) = (TaskState.Cancelled, now, decision.Reason ?? "Cancelled by id while it ran: its token fired.");
                records.Count(TaskRecordWriter.CancelledField, now);
                break;
        }

        if (write.State is not null) write.StateAt = now;
        records.Write(write);
        if (decision.Outcome is TaskOutcome.Completed or TaskOutcome.Cancelled) ReleaseUnique(message, decoded);
    }

    /// <summary>A task cancelled before it ran: settled as cancelled, never run.</summary>
    private TaskRunResult CancelledBeforeRun(ReceivedTaskMessage message, DecodedEnvelope decoded)
    {
        Log.CancelledBeforeRun(logger, decoded.Definition.Name, message.MessageId);
        if (RecordsOf(message.MessageId) is { } records)
        {
            var now = time.GetUtcNow();
            records.Write(new RecordWrite(message.MessageId) { TaskName = decoded.Definition.Name, Queue = message.Queue, State = TaskState.Cancelled, StateAt = now, FinishedAt = now, Reason = "Cancelled by id before it ran." });
            records.Count(TaskRecordWriter.CancelledField, now);
            ReleaseUnique(message, decoded);
        }

        return Result(message, decoded.Definition.Name, TaskOutcome.Cancelled);
    }

    private void RecordDeadLettered(ReceivedTaskMessage message, string? taskName, string reason, DecodedEnvelope? decoded)
    {
        var records = RecordsOf(message.MessageId);
        if (records is null) return;
        var now = time.GetUtcNow();
        records.Write(new RecordWrite(message.MessageId) { TaskName = taskName, Queue = message.Queue, State = TaskState.DeadLettered, StateAt = now, FinishedAt = now, Reason = reason });
        records.Count(TaskRecordWriter.DeadLetteredField, now);
        if (decoded is { } envelope) ReleaseUnique(message, envelope);
    }

    /// <summary>A unique task that settled frees its lock (its headers are read only for a unique task).</summary>
    private void ReleaseUnique(ReceivedTaskMessage message, DecodedEnvelope decoded)
    {
        if (decoded.Definition.UniqueFor is null && !decoded.HasUniqueHeader) return;
        if (decoded.ReadHeaders().TryGetValue(TaskHeaders.Unique, out var uniqueLock)) records!.ReleaseUnique(uniqueLock, message.MessageId);
    }
}
