using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Tasks.Azure.Tests;

[Collection(AzuriteCollection.Name)]
public sealed class AzureTracingTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task One_trace_goes_from_the_request_across_an_Azure_queue_to_the_run()
    {
        var spans = new List<Activity>();
        using var web = new ActivitySource("Test.Web");
        using var tracing = Sdk.CreateTracerProviderBuilder().AddSource(web.Name).AddTasksInstrumentation().AddInMemoryExporter(spans).Build();
        await using var h = new AzureHarness(azurite);
        var ran = Scripts.Add((_, _) => Task.CompletedTask);
        string id;
        using (web.StartActivity("POST /orders", ActivityKind.Server))
        {
            id = await AzureTasks.RunAsync.Enqueue(h.Client, ran);
        }

        Assert.Equal(1, await h.NewWorker().RunOnceAsync());
        tracing.ForceFlush();

        var request = spans.Single(s => s.OperationName == "POST /orders");
        var send = spans.Single(s => s.Kind == ActivityKind.Producer && Equals(s.GetTagItem("messaging.message.id"), id));
        var process = spans.Single(s => s.Kind == ActivityKind.Consumer && Equals(s.GetTagItem("messaging.message.id"), id));
        Assert.Equal((request.TraceId, request.SpanId), (send.TraceId, send.ParentSpanId));
        Assert.Equal((send.TraceId, send.SpanId), (process.TraceId, process.ParentSpanId));
        Assert.Equal(AzureTasks.Queue, process.GetTagItem("messaging.destination.name"));
    }
}
