using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>Settling a run: complete, retry, release or dead-letter it on the transport, and abandon runs that outlive a stop.</summary>
public sealed partial class TaskWorker
{
    private async Task SettleAsync(ReceivedTaskMessage message, TaskRunResult result)
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

        if (result.Outcome is TaskOutcome.Completed or TaskOutcome.Cancelled) await DeletePayloadAsync(message).ConfigureAwait(false);
        if (result.Outcome == TaskOutcome.Completed) WorkerLog.Completed(logger, result.TaskName!, result.MessageId, result.Attempt);
        flows.CountBatchTask(result);
        TasksTelemetry.Processed.Add(1, new KeyValuePair<string, object?>(TasksTelemetry.TaskNameTag, result.TaskName), new KeyValuePair<string, object?>(TasksTelemetry.OutcomeTag, result.Outcome.ToString()));
        TaskRan?.Invoke(result);
    }
}
