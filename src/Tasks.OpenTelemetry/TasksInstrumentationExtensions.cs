using System;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Tasks;

namespace OpenTelemetry;

/// <summary>
/// Registers Tasks with OpenTelemetry. Traces: a producer span per enqueue and a consumer span per
/// run, the run's span a child of the enqueue's through the envelope's <c>traceparent</c>, so one
/// trace goes from the request that enqueued to the task's work across the queue. Metrics: tasks
/// enqueued and processed (by task name and outcome) and run durations.
/// </summary>
public static class TasksInstrumentationExtensions
{
    /// <summary>Subscribes the tracer provider to Tasks' spans.</summary>
    public static TracerProviderBuilder AddTasksInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(TasksTelemetry.Name);
    }

    /// <summary>Subscribes the meter provider to Tasks' metrics.</summary>
    public static MeterProviderBuilder AddTasksInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(TasksTelemetry.Name);
    }
}
