using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Tasks.Core.Tests;

/// <summary>AddTasksInstrumentation with OpenTelemetry's in-memory exporter: one trace across the queue, and the counters.</summary>
public sealed class OpenTelemetryTests
{
    [Fact]
    public async Task One_trace_goes_from_the_request_that_enqueued_across_the_queue_to_the_run_and_the_metrics_count_each_outcome()
    {
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        using var web = new ActivitySource("Test.Web");
        using var tracing = Sdk.CreateTracerProviderBuilder().AddSource(web.Name).AddTasksInstrumentation().AddInMemoryExporter(spans).Build();
        using var meters = Sdk.CreateMeterProviderBuilder().AddTasksInstrumentation().AddInMemoryExporter(metrics).Build();
        await using var h = new Harness();
        var ok = Scripts.Add((_, _) => Task.CompletedTask);
        var declined = Scripts.Add((_, _) => throw new PermanentTaskException("card declined"));
        string id;
        using (web.StartActivity("POST /orders", ActivityKind.Server))
        {
            id = await ScriptedTasks.RunAsync.Enqueue(h.Client, ok);
            await ScriptedTasks.RunAsync.Enqueue(h.Client, declined);
        }

        await h.Worker.RunOnceAsync();
        tracing.ForceFlush();
        meters.ForceFlush();

        var process = Traces.AssertOneTraceAcrossTheQueue(spans, "POST /orders", id, ScriptedTasks.Queue);
        Assert.Equal(ActivityStatusCode.Error, spans.Single(s => s.Kind == ActivityKind.Consumer && s != process).Status);

        var task = ScriptedTasks.RunAsync.Definition.Name;
        Assert.Equal(2, Sum(metrics, "tasks.enqueued", ("tasks.name", task)));
        Assert.Equal(1, Sum(metrics, "tasks.processed", ("tasks.name", task), ("tasks.outcome", nameof(TaskOutcome.Completed))));
        Assert.Equal(1, Sum(metrics, "tasks.processed", ("tasks.name", task), ("tasks.outcome", nameof(TaskOutcome.DeadLettered))));
        Assert.Equal(2, Sum(metrics, "tasks.duration", ("tasks.name", task)));
        Assert.Equal(2, Sum(metrics, "tasks.started", ("tasks.name", task)));
        Assert.Equal(2, Sum(metrics, "tasks.queue_lag", ("tasks.name", task)));
    }

    [Fact]
    public async Task The_queue_depth_gauge_reports_each_queue_as_last_read_while_a_meter_listens()
    {
        var metrics = new List<Metric>();
        using var meters = Sdk.CreateMeterProviderBuilder().AddTasksInstrumentation().AddInMemoryExporter(metrics).Build();
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAsyncTaskWorker(o =>
        {
            o.Queues.Add(PolicyTasks.Queue);
            o.QueueDepthInterval = TimeSpan.FromMilliseconds(20);
        }).UseInMemoryTransport();
        using var host = builder.Build();
        var client = new TaskClient(host.Services.GetRequiredService<InMemoryTransport>());
        for (var i = 0; i < 3; i++) await PolicyTasks.RunAsync.Enqueue(client, "not run", new TaskEnqueueOptions { Delay = TimeSpan.FromHours(1) });

        await host.StartAsync();
        await Harness.WaitUntil(() => TasksTelemetry.Depths.TryGetValue(PolicyTasks.Queue, out var depth) && depth.Messages == 3, "the sampler read the queue");
        meters.ForceFlush();
        await host.StopAsync();

        Assert.Equal(3, Gauge(metrics, "tasks.queue.depth", ("messaging.destination.name", PolicyTasks.Queue), ("tasks.state", "waiting")));
        Assert.Equal(0, Gauge(metrics, "tasks.queue.depth", ("messaging.destination.name", PolicyTasks.Queue), ("tasks.state", "dead_lettered")));
    }

    private static long Gauge(List<Metric> metrics, string name, params (string Key, string Value)[] tags)
    {
        foreach (var metric in metrics.Where(m => m.Name == name))
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                var pointTags = new Dictionary<string, object?>();
                foreach (var tag in point.Tags) pointTags[tag.Key] = tag.Value;
                if (tags.All(t => Equals(pointTags.GetValueOrDefault(t.Key), t.Value))) return point.GetGaugeLastValueLong();
            }
        }

        throw new InvalidOperationException($"No {name} point with {string.Join(", ", tags)}.");
    }

    /// <summary>The sum of a counter, or the count of a histogram, over the points that carry every tag given.</summary>
    private static long Sum(List<Metric> metrics, string name, params (string Key, string Value)[] tags)
    {
        long sum = 0;
        foreach (var metric in metrics.Where(m => m.Name == name))
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                var pointTags = new Dictionary<string, object?>();
                foreach (var tag in point.Tags) pointTags[tag.Key] = tag.Value;
                if (!tags.All(t => Equals(pointTags.GetValueOrDefault(t.Key), t.Value))) continue;
                sum += metric.MetricType == MetricType.Histogram ? point.GetHistogramCount() : point.GetSumLong();
            }
        }

        return sum;
    }
}
