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

        Traces.AssertOneTraceAcrossTheQueue(spans, "POST /orders", id, AzureTasks.Queue);
    }
}
