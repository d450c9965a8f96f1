using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;

namespace Tasks.Core.Tests;

/// <summary>The settler alone: each outcome's call on the transport, and what a settle that fails leaves behind.</summary>
public sealed class SettlerTests
{
    public static TheoryData<TaskOutcome, string> Outcomes => new()
    {
        { TaskOutcome.Completed, "complete" },
        { TaskOutcome.Cancelled, "complete" },
        { TaskOutcome.Skipped, "complete" },
        { TaskOutcome.Retried, "release 00:00:07" },
        { TaskOutcome.Released, "release 00:00:00" },
        { TaskOutcome.DeadLettered, "dead-letter: boom" },
    };

    [Theory]
    [MemberData(nameof(Outcomes))]
    public async Task Each_outcome_settles_its_message_with_one_call_and_is_told(TaskOutcome outcome, string call)
    {
        var (settler, transport, ran) = Build();
        var message = await ReceiveAsync(transport);

        await settler.SettleAsync(message, TaskRunResult.Of(message, "t", outcome, retryDelay: TimeSpan.FromSeconds(7), reason: "boom"));

        Assert.Equal([call], transport.Calls);
        Assert.Equal(outcome, Assert.Single(ran).Outcome);
    }

    [Fact]
    public async Task A_settle_whose_lease_was_lost_or_that_fails_is_not_told_and_throws_nothing()
    {
        var (settler, transport, ran) = Build();
        foreach (var failure in new Exception[] { new TaskLeaseLostException("another worker's"), new TaskTransportException("down", isTransient: true) })
        {
            var message = await ReceiveAsync(transport);
            transport.Failure = failure;
            await settler.SettleAsync(message, TaskRunResult.Of(message, "t", TaskOutcome.Completed));
        }

        Assert.Equal(["complete", "complete"], transport.Calls);
        Assert.Empty(ran);
    }

    private static (Settler, Settles, ConcurrentQueue<TaskRunResult>) Build()
    {
        var transport = new Settles(new InMemoryTransport());
        var time = TimeProvider.System;
        var options = new TaskWorkerOptions();
        var leases = new LeaseKeeper(transport, options.LeaseDuration, NullLogger.Instance, time);
        var cancels = new CancelRequests(null, NullLogger.Instance, time);
        var recorder = new RunRecorder(null, cancels, TaskWorkerIdentity.ForThisProcess(), NullLogger.Instance, time);
        var flows = new FlowCoordinator(null, transport, leases, options, CancellationToken.None, NullLogger.Instance, time);
        var payloads = new PayloadFetcher(transport, options, null, leases, recorder, flows, null, CancellationToken.None, NullLogger.Instance, time);
        var ran = new ConcurrentQueue<TaskRunResult>();
        return (new Settler(transport, flows, payloads, new Requeuer(transport, null, time), ran.Enqueue, NullLogger.Instance), transport, ran);
    }

    private static async Task<ReceivedTaskMessage> ReceiveAsync(Settles transport)
    {
        await transport.SendAsync("q", new OutgoingTaskMessage(TaskHeaders.NewMessageId(), new byte[] { 1 }, TimeSpan.Zero, null), CancellationToken.None);
        return Assert.Single(await transport.ReceiveAsync("q", 1, TimeSpan.FromMinutes(1), CancellationToken.None));
    }

    /// <summary>Records each settle call; fails the next one with <see cref="Failure"/> if set.</summary>
    private sealed class Settles(InMemoryTransport inner) : WrappedTransport(inner)
    {
        public List<string> Calls { get; } = new();

        public Exception? Failure { get; set; }

        public override ValueTask CompleteAsync(ReceivedTaskMessage message, CancellationToken cancellationToken) => Record("complete", () => base.CompleteAsync(message, cancellationToken));

        public override ValueTask ReleaseAsync(ReceivedTaskMessage message, TimeSpan delay, CancellationToken cancellationToken) => Record($"release {delay:c}", () => base.ReleaseAsync(message, delay, cancellationToken));

        public override ValueTask DeadLetterAsync(ReceivedTaskMessage message, DeadLetterDetails reason, CancellationToken cancellationToken) => Record($"dead-letter: {reason.Reason}", () => base.DeadLetterAsync(message, reason, cancellationToken));

        private ValueTask Record(string call, Func<ValueTask> settle)
        {
            Calls.Add(call);
            if (Failure is not { } failure) return settle();
            Failure = null;
            throw failure;
        }
    }
}
