using System;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>
/// Runs a pack (many tasks in one message, from a bulk enqueue): each task runs as if it came alone, with its own
/// id, attempt, timeout and policy. Those that must run again go back as messages of their own, dead letters are
/// stored one by one, and only then is the pack deleted: a crash in between runs some tasks twice, never loses one.
/// </summary>
internal sealed class PackRunner(
    ITaskTransport transport,
    TaskRunner runner,
    Settler settler,
    Requeuer requeuer,
    RunTracker tracker,
    RunRecorder recorder,
    FlowCoordinator flows,
    Action<TaskRunResult> ran,
    CancellationToken stopping,
    ILogger logger,
    TimeProvider time)
{
    public async Task RunAsync(ReceivedTaskMessage pack, QueueSlots slots, bool holdsSlot)
    {
        TaskPack.Contents contents;
        try
        {
            contents = TaskPack.Read(pack.Body);
        }
        catch (TaskEnvelopeException ex)
        {
            if (holdsSlot) slots.Release();
            await settler.SettleAsync(pack, recorder.DeadLettered(pack, null, ex.Message, ex, null)).ConfigureAwait(false);
            return;
        }

        pack.MessageId = contents.PackId ?? pack.TransportMessageId;
        var results = new TaskRunResult?[contents.Envelopes.Count];
        var inner = new ReceivedTaskMessage[results.Length];
        var (settles, failure) = await tracker.UnderLeaseAsync(pack, $"(pack of {results.Length} tasks)", time.GetTimestamp(),
            static state => state.Packs.RunPackedTasksAsync(state.pack, state.contents, state.inner, state.results, state.slots),
            (Packs: this, pack, contents, inner, results, slots)).ConfigureAwait(false);
        if (holdsSlot) slots.Release();
        if (failure is not null) ExceptionDispatchInfo.Throw(failure); // each task's failure is caught where it ran: this is a fault of the worker's

        // False: a stop gave up on the pack and released it whole, so its tasks run again, finished or not.
        if (!settles) return;
        await SettlePackAsync(pack, contents, inner, results).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs the tasks of a pack in its slot, and in parallel in any slot that is free, so a pack
    /// of slow tasks uses the worker's concurrency. A task not started when the worker stops keeps
    /// a null result: it goes back to the queue unrun.
    /// </summary>
    private async Task RunPackedTasksAsync(ReceivedTaskMessage pack, TaskPack.Contents contents, ReceivedTaskMessage[] inner, TaskRunResult?[] results, QueueSlots slots)
    {
        var parallel = new List<Task>();
        for (var i = 0; i < results.Length; i++)
        {
            if (stopping.IsCancellationRequested) break;
            // Known by its place in the pack until its envelope is read (and, if it cannot be, in its dead letter).
            inner[i] = new ReceivedTaskMessage(pack.Queue, pack.TransportMessageId, contents.Envelopes[i], contents.AttemptOn(pack.Attempt))
            {
                MessageId = $"{pack.MessageId}#{i + 1}",
                WaitingSince = contents.Waiting?.Since,
                Deferrals = contents.Waiting?.Deferrals ?? 0,
            };
            if (slots.TryAcquire()) parallel.Add(RunPackedTaskAsync(inner, results, i, slots, ownsSlot: true));
            else await RunPackedTaskAsync(inner, results, i, slots, ownsSlot: false).ConfigureAwait(false);
        }

        await Task.WhenAll(parallel).ConfigureAwait(false);
    }

    private async Task RunPackedTaskAsync(ReceivedTaskMessage[] inner, TaskRunResult?[] results, int index, QueueSlots slots, bool ownsSlot)
    {
        try
        {
            if (ownsSlot) await Task.Yield(); // in a slot of its own, it runs beside the loop that started it
            var result = results[index] = await runner.ExecuteAsync(inner[index], inPack: true).ConfigureAwait(false);
            // Said as each task ends, not when the pack is settled, so the log tells when it ran.
            if (result is { Outcome: TaskOutcome.Completed } completed) WorkerLog.Completed(logger, completed.TaskName!, completed.MessageId, completed.Attempt);
        }
        catch (Exception ex)
        {
            // Left without a result, it goes back to the queue with the pack's other unfinished tasks.
            WorkerLog.HandlingFailed(logger, ex, inner[index].MessageId, inner[index].Queue);
        }
        finally
        {
            if (ownsSlot) slots.Release();
        }
    }

    private async Task SettlePackAsync(ReceivedTaskMessage pack, TaskPack.Contents contents, ReceivedTaskMessage[] inner, TaskRunResult?[] results)
    {
        var unrun = new List<ReadOnlyMemory<byte>>();
        var sends = new List<Task>();
        var deferredInPlace = false;
        try
        {
            for (var i = 0; i < results.Length; i++)
            {
                switch (results[i]?.Outcome)
                {
                    case TaskOutcome.Completed or TaskOutcome.Cancelled or TaskOutcome.Skipped:
                        break;
                    case TaskOutcome.Retried when results.Length == 1 && await requeuer.RetryInPlaceAsync(pack, contents.Envelopes[i], contents, results[i]!.Value.RetryDelay.GetValueOrDefault()).ConfigureAwait(false):
                        deferredInPlace = true; // a pack of one is the task's own message: it is retried in it
                        break;
                    case TaskOutcome.Retried:
                        // Alone, after its delay, counting the attempt it made here.
                        sends.Add(requeuer.SendAsync(pack.Queue, [contents.Envelopes[i]], inner[i].Attempt, results[i]!.Value.RetryDelay.GetValueOrDefault()));
                        break;
                    case TaskOutcome.Deferred when results.Length == 1:
                        // A pack of one is the task's own message: it waits in it.
                        await requeuer.DeferAsync(pack, inner[i], results[i]!.Value.RetryDelay.GetValueOrDefault(), contents).ConfigureAwait(false);
                        deferredInPlace = true;
                        break;
                    case TaskOutcome.Deferred:
                        sends.Add(requeuer.DeferFromPackAsync(pack.Queue, inner[i], results[i]!.Value.RetryDelay.GetValueOrDefault()));
                        break;
                    case TaskOutcome.DeadLettered:
                        sends.Add(transport.AddDeadLetterAsync(pack.Queue, inner[i].MessageId, contents.Envelopes[i], DeadLetterDetails.From(results[i]!.Value.Reason!, results[i]!.Value.Exception, inner[i].Attempt), CancellationToken.None).AsTask());
                        break;
                    default:
                        unrun.Add(contents.Envelopes[i]); // not started, released by a stop, or its handling failed
                        if (results[i] is null) tracker.CountReleased(); // a released run counted itself
                        break;
                }
            }

            await Task.WhenAll(sends).ConfigureAwait(false);
            foreach (var result in results)
            {
                if (result is { } ended && !await flows.ReleaseContinuationsAsync(ended, pack).ConfigureAwait(false)) return; // the pack comes back, and runs again
            }

            // Unrun tasks have not used this delivery's attempt.
            if (unrun.Count > 0) await requeuer.SendAsync(pack.Queue, unrun, contents.AttemptOn(pack.Attempt) - 1, TimeSpan.Zero, contents.Waiting is { } wait ? wait with { Rewrites = 0 } : null).ConfigureAwait(false);
            if (!deferredInPlace) await transport.CompleteAsync(pack, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The pack stays in the queue and comes back when its lease ends: its tasks run again, none is lost.
            if (ex is TaskLeaseLostException) WorkerLog.LeaseLost(logger, ex, pack.MessageId, pack.Queue);
            else WorkerLog.SettleFailed(logger, ex, pack.MessageId, pack.Queue);
            return;
        }

        flows.CountBatchPack(pack.MessageId, results);
        foreach (var result in results)
        {
            if (result is not { } ended) continue;
            TasksTelemetry.CountProcessed(ended);
            ran(ended);
        }
    }
}
