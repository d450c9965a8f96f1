using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Tasks.Core.Tests;

/// <summary>Generated Enqueue → envelope → in-memory transport → worker → generated dispatch → the method.</summary>
public sealed class EndToEndTests
{
    [Fact]
    public async Task Method_receives_exactly_the_arguments_sent_for_every_supported_type()
    {
        await using var h = new Harness(o =>
        {
            o.Queues.Clear();
            o.Queues.Add("all-types");
        });
        var key = Guid.NewGuid();
        var when = new DateTime(2026, 3, 4, 5, 6, 7, 890, DateTimeKind.Utc);
        var whenOffset = new DateTimeOffset(2026, 3, 4, 5, 6, 7, TimeSpan.FromHours(-7));
        object?[] expected =
        [
            -12345, long.MaxValue, Math.PI, 1234.5678m, true, 'ß', "naïve ☃ text", Color.Blue, when, whenOffset, TimeSpan.FromMinutes(90),
            new byte[] { 0, 1, 2, 255 }, new[] { 3, 1, 4, 1, 5 }, new List<string> { "a", "", "c" },
            new Dictionary<string, int> { ["x"] = 1, ["y"] = -2 }, new Address("Main St", 12), null, (int?)null, new Square(2.5),
            (7, "seven"), new List<Address> { new("A", null), new("B", 2) },
        ];

        await AllTypesTasks.CaptureAsync.Enqueue(
            h.Client, key, -12345, long.MaxValue, Math.PI, 1234.5678m, true, 'ß', "naïve ☃ text", Color.Blue, when, whenOffset, TimeSpan.FromMinutes(90),
            [0, 1, 2, 255], [3, 1, 4, 1, 5], ["a", "", "c"], new() { ["x"] = 1, ["y"] = -2 }, new Address("Main St", 12), null, null, new Square(2.5),
            (7, "seven"), [new("A", null), new("B", 2)]);
        Assert.Equal(1, await h.Worker.RunOnceAsync());

        Assert.Equal(TaskOutcome.Completed, Assert.Single(h.Results).Outcome);
        var received = AllTypesTasks.Received[key];
        Assert.Equal(expected.Length, received.Length);
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], received[i]);
        Assert.Equal(whenOffset.Offset, ((DateTimeOffset)received[9]!).Offset);
        Assert.Equal(DateTimeKind.Utc, ((DateTime)received[8]!).Kind);
    }

    [Fact]
    public async Task Instance_task_runs_on_an_instance_from_a_fresh_DI_scope_per_task()
    {
        var services = new ServiceCollection()
            .AddSingleton<GreetingLog>()
            .AddScoped<ScopedThing>()
            .AddScoped<GreeterTasks>()
            .BuildServiceProvider();
        await using var h = new Harness(o =>
        {
            o.Queues.Clear();
            o.Queues.Add("instances");
        }, services: services);
        var disposedBefore = Volatile.Read(ref ScopedThing.Disposed);

        await GreeterTasks.GreetAsync.Enqueue(h.Client, "Ada");
        await GreeterTasks.GreetAsync.Enqueue(h.Client, "Grace");
        Assert.Equal(2, await h.Worker.RunOnceAsync());

        var lines = services.GetRequiredService<GreetingLog>().Lines.OrderBy(l => l).ToArray();
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("Ada via scope", lines[0]);
        Assert.StartsWith("Grace via scope", lines[1]);
        Assert.NotEqual(lines[0]["Ada via scope".Length..], lines[1]["Grace via scope".Length..]);
        Assert.Equal(disposedBefore + 2, Volatile.Read(ref ScopedThing.Disposed));
    }

    [Fact]
    public async Task Hosted_worker_runs_tasks_enqueued_through_the_ambient_client()
    {
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var id = Scripts.Add((context, _) =>
        {
            done.TrySetResult(context.Attempt);
            return Task.CompletedTask;
        });
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAsyncTaskWorker(o =>
        {
            o.Queues.Add(ScriptedTasks.Queue);
            o.MinPollingInterval = TimeSpan.FromMilliseconds(5);
        }).UseInMemoryTransport();
        using var host = builder.Build();

        await host.StartAsync();
        await ScriptedTasks.RunAsync.Enqueue(id);
        var attempt = await done.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await host.StopAsync();

        Assert.Equal(1, attempt);
        Assert.Empty(host.Services.GetRequiredService<InMemoryTransport>().Peek(ScriptedTasks.Queue));
    }

    [Fact]
    public async Task Host_without_a_transport_fails_to_start_and_says_how_to_choose_one()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAsyncTasks();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());

        Assert.Contains("UseInMemoryTransport()", error.Message);
        Assert.Contains("UseAzureQueues", error.Message);
    }

    [Fact]
    public async Task Enqueue_without_a_configured_client_says_how_to_configure_one()
    {
        TaskClient.Ambient = null!; // tests run one at a time (see TestTasks.cs); hosts set it again on start

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await ScriptedTasks.RunAsync.Enqueue("x"));

        Assert.Contains("services.AddAsyncTasks", error.Message);
        Assert.Contains("TaskClient.Ambient = new TaskClient(transport)", error.Message);
    }

    [Fact]
    public async Task A_substitute_client_sees_the_task_and_its_typed_arguments()
    {
        var client = new RecordingClient();

        await ScriptedTasks.EchoAsync.Enqueue(client, "hello", 3, new TaskEnqueueOptions { Delay = TimeSpan.FromMinutes(1) });

        var (task, arguments, options) = Assert.Single(client.Calls);
        Assert.Same(ScriptedTasks.EchoAsync.Definition, task);
        var echo = Assert.IsType<ScriptedTasks.EchoAsync.Arguments>(arguments);
        Assert.Equal(("hello", 3), (echo.text, echo.number));
        Assert.Equal(TimeSpan.FromMinutes(1), options!.Delay);
    }

    private sealed class RecordingClient : ITaskClient
    {
        public List<(TaskDefinition Task, object Arguments, TaskEnqueueOptions? Options)> Calls { get; } = new();

        public ValueTask<string> EnqueueAsync<TArguments>(TaskDefinition<TArguments> task, TArguments arguments, TaskEnqueueOptions? options = null, CancellationToken cancellationToken = default)
            where TArguments : class
        {
            Calls.Add((task, arguments, options));
            return ValueTask.FromResult("recorded");
        }
    }
}
