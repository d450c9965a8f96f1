using System.Collections.Generic;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Tasks;

/// <summary>The names to subscribe to with OpenTelemetry: <c>AddSource("Tasks")</c> and <c>AddMeter("Tasks")</c>.</summary>
public static class TasksTelemetry
{
    /// <summary>The ActivitySource and Meter name.</summary>
    public const string Name = "Tasks";

    internal const string TaskNameTag = "tasks.name";
    internal const string QueueTag = "messaging.destination.name"; // OpenTelemetry messaging conventions
    internal const string OperationTag = "messaging.operation.type"; // likewise: "send" or "process"
    internal const string SystemTag = "messaging.system"; // likewise: the client library, as KubeMQ's and others' do
    internal const string OutcomeTag = "tasks.outcome";
    internal const string AttemptTag = "tasks.attempt";
    internal const string MessageIdTag = "messaging.message.id"; // OpenTelemetry messaging conventions
    internal const string BatchSizeTag = "messaging.batch.message_count"; // likewise

    /// <summary>Tags a span with what every messaging span carries: the system and the kind of operation.</summary>
    internal static void TagOperation(System.Diagnostics.Activity? activity, string operation)
    {
        activity?.SetTag(SystemTag, "tasks");
        activity?.SetTag(OperationTag, operation);
    }

    internal static readonly ActivitySource Source = new(Name);
    internal static readonly Meter Meter = new(Name);
    internal static readonly Counter<long> Enqueued = Meter.CreateCounter<long>("tasks.enqueued", description: "Tasks sent to a transport.");
    internal static readonly Counter<long> Processed = Meter.CreateCounter<long>("tasks.processed", description: "Task runs, by outcome: completed, retried, dead-lettered, released.");

    /// <summary>Counts a run by task and outcome; builds nothing while no one listens (a run at the floor allocates nothing for it).</summary>
    internal static void CountProcessed(TaskRunResult result)
    {
        if (!Processed.Enabled) return;
        var outcome = result.Outcome switch
        {
            TaskOutcome.Completed => nameof(TaskOutcome.Completed),
            TaskOutcome.Retried => nameof(TaskOutcome.Retried),
            TaskOutcome.DeadLettered => nameof(TaskOutcome.DeadLettered),
            TaskOutcome.Released => nameof(TaskOutcome.Released),
            TaskOutcome.Cancelled => nameof(TaskOutcome.Cancelled),
            TaskOutcome.Deferred => nameof(TaskOutcome.Deferred),
            _ => nameof(TaskOutcome.Skipped),
        };
        Processed.Add(1, new KeyValuePair<string, object?>(TaskNameTag, result.TaskName), new KeyValuePair<string, object?>(OutcomeTag, outcome));
    }
    internal static readonly Counter<long> Started = Meter.CreateCounter<long>("tasks.started", description: "Task runs started.");
    internal static readonly Histogram<double> QueueLag = Meter.CreateHistogram<double>("tasks.queue_lag", unit: "ms", description: "From enqueue to the start of a run (across clocks: the producer's and the worker's).");
    internal static readonly ObservableGauge<long> QueueDepth = Meter.CreateObservableGauge("tasks.queue.depth", ObserveDepths, unit: "{message}", description: "Messages in each queue (state: waiting, which counts delayed and leased ones too) and its dead letters (state: dead_lettered), as last read.");

    /// <summary>The depths a host last read, by queue (see <c>QueueDepthSampler</c>).</summary>
    internal static readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskQueueDepth> Depths = new(System.StringComparer.Ordinal);

    private static System.Collections.Generic.IEnumerable<Measurement<long>> ObserveDepths()
    {
        foreach (var depth in Depths.Values)
        {
            yield return new(depth.Messages, new(QueueTag, depth.Queue), new("tasks.state", "waiting"));
            yield return new(depth.DeadLetters, new(QueueTag, depth.Queue), new("tasks.state", "dead_lettered"));
        }
    }

    internal static readonly Counter<long> RecordWriteFailures = Meter.CreateCounter<long>("tasks.records.write_failures", unit: "{write}", description: "Record writes the store refused or did not answer; each is tried again.");
    internal static readonly Counter<long> PayloadOrphansDeleted = Meter.CreateCounter<long>("tasks.payloads.orphans_deleted", unit: "{payload}", description: "Payloads the sweep deleted: stored for messages that are gone (an enqueue that failed after its upload, a message that expired).");
    internal static readonly Counter<long> RecordWritesDropped = Meter.CreateCounter<long>("tasks.records.dropped", unit: "{write}", description: "Record writes given up: more waited for a store that is down than TaskRecordOptions.MaxPendingWrites.");
    internal static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("tasks.duration", unit: "ms", description: "How long task methods ran.");
}
