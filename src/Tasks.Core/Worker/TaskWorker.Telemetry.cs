using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace Tasks;

/// <summary>What a run tells OpenTelemetry: its consumer span, the start counter and the queue lag.</summary>
public sealed partial class TaskWorker
{
    private void RecordStart(TaskDefinition task, DecodedEnvelope decoded)
    {
        var name = new KeyValuePair<string, object?>(TasksTelemetry.TaskNameTag, task.Name);
        TasksTelemetry.Started.Add(1, name);
        // The headers are decoded only for a listener: the hot path keeps them encoded.
        if (TasksTelemetry.QueueLag.Enabled && TaskHeaders.EnqueuedAtOf(decoded.ReadHeaders()) is { } enqueuedAt)
            TasksTelemetry.QueueLag.Record(Math.Max(0, (time.GetUtcNow() - enqueuedAt).TotalMilliseconds), name);
    }

    private static Activity? StartProcessActivity(ReceivedTaskMessage message, DecodedEnvelope decoded)
    {
        if (!TasksTelemetry.Source.HasListeners()) return null;
        decoded.ReadHeaders().TryGetValue(TaskHeaders.TraceParent, out var traceParent);
        ActivityContext.TryParse(traceParent, null, out var parent);
        var activity = TasksTelemetry.Source.StartActivity($"process {decoded.Definition.Name}", ActivityKind.Consumer, parent);
        activity?.SetTag(TasksTelemetry.TaskNameTag, decoded.Definition.Name);
        activity?.SetTag(TasksTelemetry.QueueTag, message.Queue);
        TasksTelemetry.TagOperation(activity, "process");
        activity?.SetTag(TasksTelemetry.AttemptTag, message.Attempt);
        activity?.SetTag(TasksTelemetry.MessageIdTag, message.MessageId);
        return activity;
    }
}
