using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Tasks.Core.Tests;

public sealed class HealthCheckTests
{
    [Fact]
    public async Task A_running_worker_and_a_reachable_transport_are_healthy_and_report_each_queue_depth()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAsyncTaskWorker(o => o.Queues.Add(ScriptedTasks.Queue)).UseInMemoryTransport();
        builder.Services.AddHealthChecks().AddTasks();
        using var host = builder.Build();
        await host.StartAsync();
        var transport = host.Services.GetRequiredService<InMemoryTransport>();
        await Harness.WaitUntil(() => host.Services.GetRequiredService<TaskWorker>().CheckHealth().Description.Contains("last receive"), "a receive finished");
        await ScriptedTasks.RunAsync.Enqueue(new TaskClient(transport), "a script that is not run", new TaskEnqueueOptions { Delay = TimeSpan.FromHours(1) });

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        await host.StopAsync();

        Assert.Equal(HealthStatus.Healthy, report.Status);
        Assert.StartsWith("Receiving from 1 queue(s)", report.Entries["tasks-worker"].Description);
        Assert.Equal("{ Messages = 1, DeadLetters = 0 }", report.Entries["tasks-transport"].Data[ScriptedTasks.Queue].ToString());
    }

    [Fact]
    public async Task A_service_that_does_not_answer_makes_both_checks_degraded_with_the_reason()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<ITaskTransport>(new DownTransport());
        builder.Services.AddAsyncTaskWorker(o =>
        {
            o.Queues.Add(ScriptedTasks.Queue);
            o.MinPollingInterval = TimeSpan.FromMilliseconds(10);
        });
        builder.Services.AddHealthChecks().AddTasks();
        using var host = builder.Build();
        await host.StartAsync();
        await Harness.WaitUntil(() => host.Services.GetRequiredService<TaskWorker>().CheckHealth().Status == HealthStatus.Degraded, "a receive failed");

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        await host.StopAsync();

        Assert.Equal(HealthStatus.Degraded, report.Status);
        Assert.Equal("Receiving from 'scripted' fails, and the worker keeps trying: the queue service does not answer", report.Entries["tasks-worker"].Description);
        Assert.Equal((HealthStatus.Degraded, "the queue service does not answer"), (report.Entries["tasks-transport"].Status, report.Entries["tasks-transport"].Description));
    }

    private sealed class DownTransport : ITaskTransport
    {
        private static TaskTransportException Down() => new("the queue service does not answer", isTransient: true);

        public int MaxMessageBytes => 49_152;

        public ValueTask CheckAsync(IReadOnlyCollection<string> queues, CancellationToken cancellationToken) => throw Down();

        public ValueTask SendAsync(string queue, OutgoingTaskMessage message, CancellationToken cancellationToken) => throw Down();

        public ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken) => throw Down();

        public ValueTask RenewLeaseAsync(ReceivedTaskMessage message, TimeSpan leaseDuration, CancellationToken cancellationToken) => throw Down();

        public ValueTask CompleteAsync(ReceivedTaskMessage message, CancellationToken cancellationToken) => throw Down();

        public ValueTask ReleaseAsync(ReceivedTaskMessage message, TimeSpan delay, CancellationToken cancellationToken) => throw Down();

        public ValueTask DeadLetterAsync(ReceivedTaskMessage message, DeadLetterDetails reason, CancellationToken cancellationToken) => throw Down();

        public ValueTask AddDeadLetterAsync(string queue, string messageId, ReadOnlyMemory<byte> body, DeadLetterDetails reason, CancellationToken cancellationToken) => throw Down();
    }
}
