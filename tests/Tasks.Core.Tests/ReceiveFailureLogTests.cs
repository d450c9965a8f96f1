using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Tasks.Core.Tests;

/// <summary>What a worker logs while its receives fail (a silent account): not a warning with a stack trace per try.</summary>
public sealed class ReceiveFailureLogTests
{
    [Fact]
    public async Task Failing_receives_are_logged_once_with_the_exception_then_every_30_s_and_once_when_they_end()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var transport = new FailingReceives(new InMemoryTransport(time));
        var options = new TaskWorkerOptions { MinPollingInterval = TimeSpan.FromMilliseconds(500), MaxPollingInterval = TimeSpan.FromSeconds(1) };
        options.Queues.Add(ScriptedTasks.Queue);
        var logs = new Events();
        await using var worker = new TaskWorker(transport, options, logger: logs, timeProvider: time);
        await worker.StartAsync();
        await Harness.WaitUntil(() => logs.Count(7) == 1, "the first failed receive is logged");

        // 45 s of a silent service, a try every second at most.
        for (var second = 0; second < 45; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(20);
        }

        Assert.True(transport.Tries > 20, $"{transport.Tries} receives were tried");
        Assert.Equal(1, logs.Count(7));
        Assert.Equal(1, logs.Count(32));
        Assert.Null(logs.Lines.Single(l => l.Id == 32).Exception);
        Assert.Equal(0, logs.Count(33));

        transport.Failing = false;
        for (var second = 0; second < 3 && logs.Count(33) == 0; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(50);
        }

        await Harness.WaitUntil(() => logs.Count(33) == 1, "receiving again is logged");
        Assert.Equal(1, logs.Count(7));
    }

    private sealed class FailingReceives(InMemoryTransport inner) : WrappedTransport(inner)
    {
        private int tries;

        public bool Failing { get; set; } = true;

        public int Tries => Volatile.Read(ref tries);

        public override ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
        {
            if (!Failing) return base.ReceiveAsync(queue, maxMessages, leaseDuration, cancellationToken);
            Interlocked.Increment(ref tries);
            throw new TaskTransportException("The queue service did not answer within 5 s.", isTransient: true);
        }
    }

    private sealed class Events : ILogger<TaskWorker>
    {
        public ConcurrentQueue<(int Id, Exception? Exception)> Lines { get; } = new();

        public int Count(int id) => Lines.Count(l => l.Id == id);

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Lines.Enqueue((eventId.Id, exception));
    }
}
