using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>
/// Continuations and batches on the worker's side: a released task claims its run (so a release sent
/// twice runs once); a continuable task seals its outcome and releases its continuations before its
/// message is settled (a crash in between runs it again and releases them again, never loses them);
/// a task of a tracked batch is counted when it settles (per pack for a pack), and the worker that
/// counts a batch's last task sends its callback. The record store sends what it releases.
/// </summary>
internal sealed class FlowCoordinator(TaskRecordWriter? records, ITaskTransport transport, LeaseKeeper leases, TaskWorkerOptions options, CancellationToken aborting, ILogger logger, TimeProvider time)
{
    private static readonly TimeSpan CallbackSweepAge = TimeSpan.FromSeconds(30);

    /// <summary>What a task's headers say of continuations and batches (read only when the envelope has such a header).</summary>
    public static (bool Continuable, string? Parent, string? Batch) FlowOf(DecodedEnvelope decoded)
    {
        if (!decoded.HasFlowHeader) return default;
        var headers = decoded.ReadHeaders();
        return (headers.ContainsKey(TaskHeaders.Continuable), headers.GetValueOrDefault(TaskHeaders.Parent), headers.GetValueOrDefault(TaskHeaders.Batch));
    }

    public static TaskRunResult? Flowing(TaskRunResult? result, (bool Continuable, string? Parent, string? Batch) flow)
        => result is not { } ended || (!flow.Continuable && flow.Batch is null) ? result : ended with { Continuable = flow.Continuable, BatchId = flow.Batch };

    /// <summary>
    /// A task's run, claimed for this message: <see cref="RunClaim.Copy"/> if another message of the same task claimed it
    /// first (a continuation released twice across a crash, a task sent twice from an outbox). A store that does not
    /// answer lets it run (at least once), unless <paramref name="waitForStore"/>: then it waits for the store.
    /// </summary>
    public async Task<RunClaim> ClaimRunAsync(ReceivedTaskMessage message, bool waitForStore = false)
    {
        if (records is null) return RunClaim.Run; // without records, nothing tells a second copy from the first
        try
        {
            return await records!.Store.Flows.ClaimRunAsync(message.MessageId, message.InstanceId, CancellationToken.None).ConfigureAwait(false) ? RunClaim.Run : RunClaim.Copy;
        }
        catch (Exception ex)
        {
            WorkerLog.RecordsFailed(logger, ex, records!.Store.Describe());
            return waitForStore ? RunClaim.WaitForStore : RunClaim.Run;
        }
    }

    /// <summary>
    /// How long a task whose run claim could not be taken waits before it looks again: 2 s, doubling to a minute, by its
    /// waits so far (deferrals; attempts, for one whose envelope is in the payload store, whose waits count as attempts).
    /// </summary>
    public static TimeSpan ClaimWait(ReceivedTaskMessage message) => TimeSpan.FromSeconds(Math.Min(60, 2 << Math.Min(Math.Max(message.Deferrals, message.Attempt - 1), 5)));

    /// <summary>
    /// Before a continuable task's message is settled: its outcome sealed and its continuations released.
    /// A store that fails or hangs is tried again, with a growing wait, for as long as the lease of
    /// <paramref name="leased"/> (the task's message, or its pack) can be renewed, so the task, which has
    /// run, does not come back and run again. False if the lease was lost or the worker is stopping: the
    /// message comes back, and the task runs again then (at least once).
    /// </summary>
    public async Task<bool> ReleaseContinuationsAsync(TaskRunResult result, ReceivedTaskMessage leased)
    {
        if (!result.Continuable || records is null || result.FinalState is not { } outcome) return true;
        LeaseHold? hold = null;
        var wait = TimeSpan.FromMilliseconds(500);
        try
        {
            while (true)
            {
                try
                {
                    await records.Store.Flows.ReleaseContinuationsAsync(transport, result.MessageId, outcome, CancellationToken.None).ConfigureAwait(false);
                    return true;
                }
                catch (Exception ex) when (hold is not { Lost: true } && !aborting.IsCancellationRequested)
                {
                    // The lease was last renewed up to half a lease ago: renewed now, then on the usual schedule.
                    hold ??= leases.HoldRenewingNow(leased);
                    WorkerLog.ReleaseWaiting(logger, ex, result.MessageId, records.Store.Describe(), wait);
                    try
                    {
                        await Task.Delay(wait, time, aborting).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        // Stopping: tried once more, then left to come back.
                    }

                    // At most 5 s (or half a lease): the continuations go out within that of the store answering again.
                    wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, Math.Min(options.LeaseDuration.Ticks / 2, TimeSpan.FromSeconds(5).Ticks)));
                }
                catch (Exception ex)
                {
                    WorkerLog.ReleaseFailed(logger, ex, result.MessageId);
                    return false;
                }
            }
        }
        finally
        {
            if (hold is not null) await hold.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A task of a tracked batch that settled alone: its own counting row.</summary>
    public void CountBatchTask(TaskRunResult result)
    {
        if (records is null || result.BatchId is not { } batch || result.FinalState is not { } state) return;
        records.CountBatch(batch, FlowRows.TaskCountRow(batch, result.MessageId, state));
    }

    /// <summary>The tasks of a pack that settled: one row of successes per batch, a row of its own for each other end.</summary>
    public void CountBatchPack(string packId, IEnumerable<TaskRunResult?> results)
    {
        if (records is null) return;
        foreach (var batch in results.Where(r => r is { BatchId: not null, FinalState: not null }).Select(r => r!.Value).GroupBy(r => r.BatchId!))
        {
            var succeeded = batch.Where(r => r.Outcome == TaskOutcome.Completed).Select(r => r.MessageId).ToArray();
            if (succeeded.Length > 0) records.CountBatch(batch.Key, FlowRows.PackCountRow(batch.Key, packId, succeeded));
            foreach (var other in batch.Where(r => r.Outcome != TaskOutcome.Completed)) CountBatchTask(other);
        }
    }

    /// <summary>After a flush counted these batches: the callback of each that has ended, sent once.</summary>
    public async Task CompleteBatchesAsync(IReadOnlyList<string> batches)
    {
        foreach (var batch in batches)
        {
            try
            {
                if (await records!.Store.Flows.CompleteBatchAsync(transport, batch, CancellationToken.None).ConfigureAwait(false)) WorkerLog.BatchCompleted(logger, batch);
            }
            catch (Exception ex)
            {
                // The sweep sends a callback claimed and not sent; a check that failed before the claim waits for the next count.
                WorkerLog.RecordsFailed(logger, ex, records!.Store.Describe());
            }
        }
    }

    public async Task SweepCallbacksAsync(CancellationToken cancellationToken)
    {
        foreach (var batch in await records!.Store.Flows.SweepCallbacksAsync(transport, CallbackSweepAge, cancellationToken).ConfigureAwait(false)) WorkerLog.BatchCompleted(logger, batch);
    }
}

/// <summary>What a message's claim of its task's run decided.</summary>
internal enum RunClaim
{
    /// <summary>This message runs the task.</summary>
    Run,

    /// <summary>Another message of the task claimed its run: this one is a copy, dropped.</summary>
    Copy,

    /// <summary>The record store did not answer, and the task waits for it rather than perhaps run twice.</summary>
    WaitForStore,
}
