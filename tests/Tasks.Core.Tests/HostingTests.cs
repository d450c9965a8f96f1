using System.Collections.Concurrent;
using System.Diagnostics;
using MessagePack;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Tasks.Core.Tests;

/// <summary>What a host finds, checks and says at start and stop: the first run of a real app.</summary>
public sealed class HostingTests
{
    [Fact]
    public async Task Tasks_of_a_referenced_library_that_no_code_names_are_registered_and_run()
    {
        // Tasks.Fixtures.StaticTasks is referenced by this project, and nothing here names its types:
        // only this assembly's generated module initializer can have registered it.
        Assert.True(TaskRegistry.Default.TryGet("fixture.static.ping", out var ping));
        await using var h = new Harness(o =>
        {
            o.Queues.Clear();
            o.Queues.Add(ping.Queue);
        });
        h.Transport.SendRaw(ping.Queue, Envelopes.Build((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(4);
            w.Write(1);
            w.Write("fixture.static.ping");
            w.WriteArrayHeader(1);
            w.Write("hello");
            w.WriteMapHeader(0);
        }));

        await h.Worker.StartAsync();
        await Harness.WaitUntil(() => h.Results.Count == 1, "the library's task ran");

        Assert.Equal(("fixture.static.ping", TaskOutcome.Completed), (h.Results[0].TaskName, h.Results[0].Outcome));
    }

    [Fact]
    public async Task A_worker_with_nothing_to_run_says_why_and_what_to_write()
    {
        await using var worker = new TaskWorker(new InMemoryTransport(), registry: new TaskRegistry());

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => worker.StartAsync());

        Assert.Contains("no [AsyncTask] method is registered", error.Message);
        Assert.Contains("PackageReference to Tasks", error.Message);
        Assert.Contains("TaskRegistry.EnsureRegistered(assembly)", error.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_host_with_no_transport_fails_at_start_saying_how_to_choose_one(bool worker)
    {
        var builder = Host.CreateApplicationBuilder();
        if (worker) builder.Services.AddAsyncTaskWorker();
        else builder.Services.AddAsyncTasks();
        using var host = builder.Build();

        // Not DI's "No service for type ITaskTransport": the worker's hosted service asks for it first.
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());

        Assert.Contains("Tasks has no transport", error.Message);
        Assert.Contains(".UseInMemoryTransport()", error.Message);
    }

    [Fact]
    public async Task An_enqueue_only_host_runs_no_worker_and_its_messages_wait_for_one()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAsyncTasks().UseInMemoryTransport();
        using var host = builder.Build();

        await host.StartAsync();
        var id = await ScriptedTasks.RunAsync.Enqueue(Scripts.Add((_, _) => Task.CompletedTask));
        await Task.Delay(200);
        await host.StopAsync();

        Assert.Null(host.Services.GetService<TaskWorker>());
        Assert.Same(host.Services.GetRequiredService<ITaskClient>(), TaskClient.Ambient);
        var waiting = Assert.Single(host.Services.GetRequiredService<InMemoryTransport>().Peek(ScriptedTasks.Queue));
        Assert.Equal((id, 0), (waiting.MessageId, waiting.DequeueCount));
    }

    [Fact]
    public async Task A_host_disposed_without_StopAsync_logs_no_failed_background_service()
    {
        // The host logs a background service's cancel as a failure unless StopAsync came first; `using var host`
        // after StartAsync alone is how many enqueue-only apps end.
        var logs = new CapturingLoggerProvider();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders().AddProvider(logs);
        builder.Services.AddAsyncTasks().UseInMemoryTransport();
        var host = builder.Build();
        await host.StartAsync();
        await Task.Delay(200); // the depth sampler is now waiting for its next tick

        host.Dispose();
        await Task.Delay(500); // the host logs a failed background service after it has ended

        Assert.DoesNotContain(logs.Lines, l => l.Message.Contains("BackgroundService failed"));
    }

    [Fact]
    public async Task A_worker_host_fails_to_start_when_an_instance_task_type_is_not_in_DI()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<GreetingLog>();
        builder.Services.AddAsyncTaskWorker(o => o.Queues.Add("instances")).UseInMemoryTransport();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());

        Assert.Contains("Tasks.Core.Tests.GreeterTasks (task 'Tasks.Core.Tests.GreeterTasks.Greet')", error.Message);
        Assert.Contains("services.AddScoped<Tasks.Core.Tests.GreeterTasks>()", error.Message);
    }

    [Fact]
    public async Task The_id_Enqueue_returns_is_the_id_of_the_context_the_result_the_dead_letter_and_a_requeued_copy()
    {
        var seen = new ConcurrentQueue<string>();
        var script = Scripts.Add((context, _) =>
        {
            seen.Enqueue(context.MessageId);
            throw new PermanentTaskException("not today");
        });
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == TasksTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var h = new Harness();
        var id = await ScriptedTasks.RunAsync.Enqueue(h.Client, script);

        await h.Worker.RunOnceAsync();
        var dead = Assert.Single(h.Transport.DeadLetters);
        h.Transport.SendRaw(ScriptedTasks.Queue, dead.Body, "requeued-under-another-transport-id");
        await h.Worker.RunOnceAsync();

        Assert.Equal([id, id], seen);
        Assert.Equal(id, dead.MessageId);
        Assert.All(h.Results, r => Assert.Equal(id, r.MessageId));
        Assert.Equal(2, h.Transport.DeadLetters.Count(d => d.MessageId == id));
        var ours = spans.Where(s => s.OperationName.EndsWith(ScriptedTasks.RunAsync.Definition.Name)).ToArray();
        Assert.Equal(3, ours.Length); // enqueue, and two runs
        Assert.All(ours, s => Assert.Equal(id, s.GetTagItem("messaging.message.id")));
    }

    [Fact]
    public async Task Start_stop_and_every_line_a_task_logs_say_what_an_operator_needs()
    {
        var logs = new CapturingLoggerProvider();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var script = Scripts.Add(async (_, _) =>
        {
            logs.CreateLogger("UserCode").LogInformation("inside the task");
            started.TrySetResult();
            await release.Task;
        });
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders().AddProvider(logs);
        builder.Services.AddAsyncTaskWorker(o =>
        {
            o.Queues.Add(ScriptedTasks.Queue);
            o.MaxConcurrency = 7;
            o.MinPollingInterval = TimeSpan.FromMilliseconds(5);
        }).UseInMemoryTransport();
        using var host = builder.Build();

        await host.StartAsync();
        var id = await ScriptedTasks.RunAsync.Enqueue(script);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var stopping = host.StopAsync();
        await Harness.WaitUntil(() => logs.Lines.Any(l => l.Message.Contains("Task worker stopping")), "the stop is logged");
        release.SetResult();
        await stopping;

        var start = Assert.Single(logs.Lines, l => l.Message.StartsWith("Task worker started"));
        Assert.Contains($"on queue(s) {ScriptedTasks.Queue} via InMemoryTransport; at most 7 at once", start.Message);
        var inside = Assert.Single(logs.Lines, l => l.Message == "inside the task");
        Assert.Equal([("TaskName", (object?)ScriptedTasks.RunAsync.Definition.Name), ("MessageId", id), ("Attempt", 1)], inside.Scope);
        Assert.Contains(logs.Lines, l => l.Message.StartsWith("Task worker stopping: waiting up to 00:00:10 for 1 running task(s)"));
        Assert.Contains(logs.Lines, l => l.Message.StartsWith("Task worker stopped after"));
        Assert.Contains(logs.Lines, l => l.Message == $"Task {ScriptedTasks.RunAsync.Definition.Name} (message {id}) completed on attempt 1");
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider, ISupportExternalScope
    {
        private IExternalScopeProvider scopes = new LoggerExternalScopeProvider();

        public ConcurrentQueue<(string Message, List<(string, object?)> Scope)> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => scopes = scopeProvider;

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider provider) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => provider.scopes.Push(state);

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var scope = new List<(string, object?)>();
                provider.scopes.ForEachScope((value, list) =>
                {
                    if (value is IEnumerable<KeyValuePair<string, object?>> pairs)
                        list.AddRange(pairs.Where(p => p.Key != "{OriginalFormat}").Select(p => (p.Key, p.Value)));
                }, scope);
                provider.Lines.Enqueue((formatter(state, exception), scope));
            }
        }
    }
}
