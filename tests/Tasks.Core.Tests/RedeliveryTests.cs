using System.Collections.Concurrent;

namespace Tasks.Core.Tests;

/// <summary>
/// A message delivered again after its task ended, a run whose worker died, and a unique task whose send was
/// reported failed but arrived: what a hung or dying service leaves behind, in memory.
/// </summary>
public sealed class RedeliveryTests
{
    private static readonly TimeSpan ShortLease = TimeSpan.FromMilliseconds(200);

    [Fact]
    public async Task A_copy_of_a_task_that_succeeded_is_deleted_without_running_and_leaves_its_record_alone()
    {
        await using var h = new RecordHarness();
        var runs = 0;
        var id = await RecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => { Interlocked.Increment(ref runs); return Task.CompletedTask; }));
        var body = (await TakeUnsettledAsync(h)).Body.ToArray(); // a worker that received it and was cut off: attempt 1 never settles
        await h.Worker.StartAsync();
        var succeeded = await h.WaitForStateAsync(id, TaskState.Succeeded);

        // The same message again (a delete that failed while the queue hung), delivered a second time.
        await h.Worker.StopAsync();
        await h.Transport.SendAsync(RecordedTasks.Queue, new OutgoingTaskMessage(id, body, TimeSpan.Zero, null), CancellationToken.None);
        await TakeUnsettledAsync(h);
        await using var second = h.NewWorker();
        await second.StartAsync();
        await AssertEventually(() => h.Results.Any(r => r.Outcome == TaskOutcome.Skipped && r.MessageId == id), "the copy is skipped");

        Assert.Equal(1, runs);
        var record = (await h.Store.GetAsync(id))!;
        Assert.Equal((TaskState.Succeeded, succeeded.StateChangedAt, succeeded.History.Count), (record.State, record.StateChangedAt, record.History.Count));
    }

    [Fact]
    public async Task An_attempt_whose_worker_died_is_closed_when_its_message_is_received_again()
    {
        await using var h = new RecordHarness();
        var id = await RecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => Task.CompletedTask));
        await h.Client.RecordWriter!.FlushAsync(CancellationToken.None);

        // A worker took attempt 1, wrote that it runs, and was killed: its attempt has no end. (It started when it
        // was taken, before its lease ran out: history entries are named by their start, so one written just now
        // could share its millisecond with the next attempt's.)
        var started = DateTimeOffset.UtcNow;
        await TakeUnsettledAsync(h);
        var gone = new TaskWorkerIdentity("gone-worker", "elsewhere", 4242);
        var open = new RecordWrite(id) { State = TaskState.Running, StateAt = started, Attempt = 1, Worker = gone };
        open.AddAttempt(new TaskAttempt(1, started, null, null, gone, null));
        await h.Store.Writes.WriteAsync([open], CancellationToken.None);

        await h.Worker.StartAsync();
        await h.WaitForStateAsync(id, TaskState.Succeeded);
        await AssertEventually(async () => (await h.Store.GetAsync(id))!.History.All(a => a.FinishedAt is not null), "every attempt is closed");

        var history = (await h.Store.GetAsync(id))!.History.OrderBy(a => a.Attempt).ToArray();
        Assert.Equal(2, history.Length);
        Assert.Equal((1, TaskOutcome.Released, "WorkerGone", gone), (history[0].Attempt, history[0].Outcome, history[0].Exception?.Type, history[0].Worker));
        Assert.Equal((2, TaskOutcome.Completed), (history[1].Attempt, history[1].Outcome));
    }

    [Fact]
    public async Task A_first_delivery_the_transport_says_may_be_a_copy_is_checked_and_runs_only_if_its_task_has_not_ended()
    {
        await using var h = new RecordHarness();
        var runs = new ConcurrentQueue<string>();
        var script = Scripts.Add((context, _) => { runs.Enqueue(context.MessageId); return Task.CompletedTask; });
        var ran = await RecordedTasks.RunAsync.Enqueue(h.Client, script);
        var body = (await TakeUnsettledAsync(h)).Body.ToArray();
        await h.Worker.StartAsync();
        await h.WaitForStateAsync(ran, TaskState.Succeeded);
        await h.Worker.StopAsync();

        // The same task's message sent again (a send given up on a silent shard and sent to another), and a task not
        // run yet, both first deliveries from a transport that says they may be copies.
        await h.Transport.SendAsync(RecordedTasks.Queue, new OutgoingTaskMessage(ran, body, TimeSpan.Zero, null), CancellationToken.None);
        var fresh = await RecordedTasks.RunAsync.Enqueue(h.Client, script);
        await h.Client.RecordWriter!.FlushAsync(CancellationToken.None);
        await using var copies = new TaskWorker(new CopiesTransport(h.Transport), h.Options, records: h.Store);
        var results = new ConcurrentQueue<TaskRunResult>();
        copies.TaskRan += results.Enqueue;
        await copies.StartAsync();
        await AssertEventually(() => results.Count == 2, "both messages are handled");

        Assert.Equal([ran, fresh], runs.ToArray());
        Assert.Equal(TaskOutcome.Skipped, results.Single(r => r.MessageId == ran).Outcome);
        Assert.Equal(TaskOutcome.Completed, results.Single(r => r.MessageId == fresh).Outcome);
    }

    [Fact]
    public async Task A_unique_task_whose_send_was_reported_failed_but_arrived_runs_once_after_another_enqueue_takes_its_lock_over()
    {
        var u = new UniqueSends();

        // The first send reaches the queue, but its caller is told it failed (a send given up at its deadline).
        await u.EnqueueReportedFailedAsync("inv-1");

        // The caller tries again: the lock is taken over, and a second message is sent.
        var second = await RecordedTasks.OnceAsync.Enqueue(u.Client, u.Script, "inv-1");
        var (runs, skipped) = await u.RunBothAsync();

        Assert.Equal([second], runs);
        Assert.Single(skipped);
    }

    [Fact]
    public async Task Unique_tasks_whose_sends_were_all_reported_failed_but_arrived_run_once()
    {
        var u = new UniqueSends();

        // Two callers in turn are told their send failed, and both messages arrive: the lock is left Unsent, held by the second.
        await u.EnqueueReportedFailedAsync("inv-2");
        await u.EnqueueReportedFailedAsync("inv-2");
        var (runs, skipped) = await u.RunBothAsync();

        // The first to arrive makes the unsent lock its own and runs; the other finds it held and is dropped.
        Assert.Single(runs);
        Assert.Single(skipped);
    }

    /// <summary>A client whose sends can be made to arrive and be reported failed, over records in memory, and a worker to run what arrived.</summary>
    private sealed class UniqueSends
    {
        private readonly InMemoryTransport inner = new();
        private readonly SendsThenThrows transport;
        private readonly InMemoryTaskRecordStore store = new(new TaskRecordOptions { FlushInterval = TimeSpan.FromMilliseconds(50) });
        private readonly ConcurrentQueue<string> runs = new();

        public UniqueSends()
        {
            transport = new SendsThenThrows(inner);
            Client = new TaskClient(transport, records: store);
            Script = Scripts.Add((context, _) => { runs.Enqueue(context.MessageId); return Task.CompletedTask; });
        }

        public TaskClient Client { get; }

        public string Script { get; }

        public async Task EnqueueReportedFailedAsync(string invoice)
        {
            transport.FailNext = true;
            await Assert.ThrowsAsync<TaskEnqueueException>(() => RecordedTasks.OnceAsync.Enqueue(Client, Script, invoice).AsTask());
            await Client.RecordWriter!.FlushAsync(CancellationToken.None); // its lock is marked unsent
        }

        /// <summary>Runs the two messages in the queue; returns the ids that ran and those skipped.</summary>
        public async Task<(string[] Runs, string[] Skipped)> RunBothAsync()
        {
            Assert.Equal(2, (await inner.GetDepthAsync(RecordedTasks.Queue)).Messages);
            var options = new TaskWorkerOptions { MinPollingInterval = TimeSpan.FromMilliseconds(5), MaxPollingInterval = TimeSpan.FromMilliseconds(20) };
            options.Queues.Add(RecordedTasks.Queue);
            var skipped = new ConcurrentQueue<string>();
            await using var worker = new TaskWorker(inner, options, records: store);
            worker.TaskRan += r => { if (r.Outcome == TaskOutcome.Skipped) skipped.Enqueue(r.MessageId); };
            await worker.StartAsync();
            await AssertEventually(() => runs.Count + skipped.Count == 2, "both messages are handled");
            return (runs.ToArray(), skipped.ToArray());
        }
    }

    /// <summary>Receives the next message with a short lease and never settles it, as a worker cut off or killed would; returns once its lease has ended.</summary>
    private static async Task<ReceivedTaskMessage> TakeUnsettledAsync(RecordHarness h)
    {
        var taken = Assert.Single(await h.Transport.ReceiveAsync(RecordedTasks.Queue, 1, ShortLease, CancellationToken.None));
        await Task.Delay(ShortLease * 2);
        return taken;
    }

    private static Task AssertEventually(Func<bool> condition, string what) => AssertEventually(() => Task.FromResult(condition()), what);

    private static async Task AssertEventually(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Waited 20 s until {what}.");
            await Task.Delay(20);
        }
    }

    /// <summary>A transport that says of every message it gives that it may be a copy, as a shard of an account that was silent does.</summary>
    private sealed class CopiesTransport(InMemoryTransport inner) : ITaskTransport
    {
        public int MaxMessageBytes => inner.MaxMessageBytes;

        public ValueTask SendAsync(string queue, OutgoingTaskMessage message, CancellationToken cancellationToken) => inner.SendAsync(queue, message, cancellationToken);

        public async ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
            => (await inner.ReceiveAsync(queue, maxMessages, leaseDuration, cancellationToken)).Select(m => new Copy(m) { MayBeCopy = true }).ToArray();

        public ValueTask RenewLeaseAsync(ReceivedTaskMessage message, TimeSpan leaseDuration, CancellationToken cancellationToken) => inner.RenewLeaseAsync(((Copy)message).Inner, leaseDuration, cancellationToken);

        public ValueTask CompleteAsync(ReceivedTaskMessage message, CancellationToken cancellationToken) => inner.CompleteAsync(((Copy)message).Inner, cancellationToken);

        public ValueTask ReleaseAsync(ReceivedTaskMessage message, TimeSpan delay, CancellationToken cancellationToken) => inner.ReleaseAsync(((Copy)message).Inner, delay, cancellationToken);

        public ValueTask DeadLetterAsync(ReceivedTaskMessage message, DeadLetterDetails reason, CancellationToken cancellationToken) => inner.DeadLetterAsync(((Copy)message).Inner, reason, cancellationToken);

        public ValueTask AddDeadLetterAsync(string queue, string messageId, ReadOnlyMemory<byte> body, DeadLetterDetails reason, CancellationToken cancellationToken) => inner.AddDeadLetterAsync(queue, messageId, body, reason, cancellationToken);

        private sealed class Copy(ReceivedTaskMessage inner) : ReceivedTaskMessage(inner.Queue, inner.TransportMessageId, inner.Body, inner.Attempt)
        {
            public ReceivedTaskMessage Inner => inner;
        }
    }

    /// <summary>A transport whose next send reaches the queue and then throws, as a send given up at its deadline and applied later.</summary>
    private sealed class SendsThenThrows(InMemoryTransport inner) : WrappedTransport(inner)
    {
        public bool FailNext { get; set; }

        public override async ValueTask SendAsync(string queue, OutgoingTaskMessage message, CancellationToken cancellationToken)
        {
            await base.SendAsync(queue, message, cancellationToken);
            if (FailNext)
            {
                FailNext = false;
                throw new TaskTransportException("The queue service did not answer within 5 s.", isTransient: true);
            }
        }
    }
}
