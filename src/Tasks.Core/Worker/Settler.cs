using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>
/// Settles one message as its run decided: its continuations released first (when it may have some), then
/// completed, retried, released, deferred (over a limit) or dead-lettered on the transport, never cancelled by a stop (a finished task must
/// not run again for want of a delete); then its payload deleted, its batch counted, and the result told.
/// </summary>
internal sealed class Settler(ITaskTransport transport, FlowCoordinator flows, PayloadFetcher payloads, Requeuer requeuer, Action<TaskRunResult> ran, ILogger logger)
{
    public async Task SettleAsync(ReceivedTaskMessage message, TaskRunResult result)
    {
        if (!await flows.ReleaseContinuationsAsync(result, message).ConfigureAwait(false)) return;
        try
        {
            // Settling is not cancelled by a stop: a finished task must not run again for want of a delete.
            var settled = result.Outcome switch
            {
                TaskOutcome.Completed or TaskOutcome.Cancelled or TaskOutcome.Skipped => transport.CompleteAsync(message, CancellationToken.None),
                TaskOutcome.Retried => transport.ReleaseAsync(message, result.RetryDelay.GetValueOrDefault(), CancellationToken.None),
                TaskOutcome.Released => transport.ReleaseAsync(message, TimeSpan.Zero, CancellationToken.None),
                TaskOutcome.Deferred => new ValueTask(requeuer.DeferAsync(message, message, result.RetryDelay.GetValueOrDefault())),
                _ => transport.DeadLetterAsync(message, DeadLetterDetails.From(result.Reason!, result.Exception, message.Attempt), CancellationToken.None),
            };
            await settled.ConfigureAwait(false);
        }
        catch (TaskLeaseLostException ex)
        {
            WorkerLog.LeaseLost(logger, ex, message.MessageId, message.Queue);
            return;
        }
        catch (Exception ex)
        {
            WorkerLog.SettleFailed(logger, ex, message.MessageId, message.Queue);
            return;
        }

        if (result.Outcome is TaskOutcome.Completed or TaskOutcome.Cancelled) await payloads.DeleteAsync(message).ConfigureAwait(false);
        if (result.Outcome == TaskOutcome.Completed) WorkerLog.Completed(logger, result.TaskName!, result.MessageId, result.Attempt);
        flows.CountBatchTask(result);
        TasksTelemetry.CountProcessed(result);
        ran(result);
    }
}
