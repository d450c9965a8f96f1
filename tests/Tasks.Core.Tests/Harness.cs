using Microsoft.Extensions.Time.Testing;

namespace Tasks.Core.Tests;

/// <summary>A transport, client and worker on one fake clock, recording every outcome.</summary>
internal sealed class Harness : IAsyncDisposable
{
    private readonly List<TaskRunResult> results = new();

    public Harness(Action<TaskWorkerOptions>? configure = null, TimeProvider? time = null, IServiceProvider? services = null, TaskRegistry? registry = null, int maxEnvelopeBytes = InMemoryTransport.DefaultMaxEnvelopeBytes)
    {
        Time = time ?? new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        Transport = new InMemoryTransport(Time) { MaxEnvelopeBytes = maxEnvelopeBytes };
        Client = new TaskClient(Transport, Time);
        Options = new TaskWorkerOptions
        {
            Retry = { BaseDelay = TimeSpan.FromSeconds(10), MaxDelay = TimeSpan.FromMinutes(5), Jitter = 0 },
            MinPollingInterval = TimeSpan.FromMilliseconds(5),
            MaxPollingInterval = TimeSpan.FromMilliseconds(20),
        };
        Options.Queues.Add(ScriptedTasks.Queue);
        configure?.Invoke(Options);
        Worker = new TaskWorker(Transport, Options, services, timeProvider: Time, registry: registry);
        Worker.TaskRan += r =>
        {
            lock (results) results.Add(r);
        };
    }

    public TimeProvider Time { get; }

    public FakeTimeProvider FakeTime => (FakeTimeProvider)Time;

    public InMemoryTransport Transport { get; }

    public TaskClient Client { get; }

    public TaskWorkerOptions Options { get; }

    public TaskWorker Worker { get; }

    public IReadOnlyList<TaskRunResult> Results
    {
        get { lock (results) return results.ToArray(); }
    }

    /// <summary>Waits (in real time) until <paramref name="condition"/> holds, failing after 20 s.</summary>
    public static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out waiting until {what}.");
            await Task.Delay(5);
        }
    }

    public ValueTask DisposeAsync() => Worker.DisposeAsync();
}
