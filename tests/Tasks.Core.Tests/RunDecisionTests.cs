namespace Tasks.Core.Tests;

/// <summary>The retry-or-dead-letter decision alone: no transport, no worker, no clock.</summary>
public sealed class RunDecisionTests
{
    private static readonly TaskRetryPolicy Backoff = new() { BaseDelay = TimeSpan.FromSeconds(2), MaxDelay = TimeSpan.FromSeconds(30), Jitter = 0 };

    [Fact]
    public void A_run_that_returned_completes()
        => Assert.Equal(TaskOutcome.Completed, Decide(null, attempt: 1).Outcome);

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 4)]
    [InlineData(4, 16)]
    public void A_failure_before_the_last_attempt_retries_after_the_backoff(int attempt, int seconds)
    {
        var decision = Decide(new InvalidOperationException("boom"), attempt);

        Assert.Equal((TaskOutcome.Retried, TimeSpan.FromSeconds(seconds)), (decision.Outcome, decision.RetryDelay));
    }

    [Fact]
    public void The_backoff_is_capped()
        => Assert.Equal(TimeSpan.FromSeconds(30), Decide(new InvalidOperationException(), attempt: 9, maxAttempts: 20).RetryDelay);

    [Fact]
    public void A_failure_on_the_last_attempt_is_dead_lettered_with_the_last_error()
    {
        var decision = Decide(new InvalidOperationException("boom"), attempt: 5);

        Assert.Equal(TaskOutcome.DeadLettered, decision.Outcome);
        Assert.Equal("Task 'shop.ship' failed on all 5 attempts; the last error was InvalidOperationException: boom", decision.Reason);
    }

    [Fact]
    public void A_permanent_failure_is_dead_lettered_at_once()
    {
        var decision = Decide(new PermanentTaskException("card declined"), attempt: 1);

        Assert.Equal((TaskOutcome.DeadLettered, "Task 'shop.ship' failed permanently on attempt 1: card declined"), (decision.Outcome, decision.Reason));
    }

    [Fact]
    public void A_run_cancelled_by_a_stop_is_released_and_costs_no_attempt_decision()
        => Assert.Equal(TaskOutcome.Released, Decide(new OperationCanceledException(), attempt: 5, stopping: true).Outcome);

    [Fact]
    public void Whatever_a_run_cancelled_by_a_stop_throws_is_released_not_counted()
        => Assert.Equal(TaskOutcome.Released, Decide(new InvalidOperationException("wrapped", new OperationCanceledException()), attempt: 5, stopping: true).Outcome);

    [Theory]
    [InlineData("infinite")]
    [InlineData("zero")]
    [InlineData("too long")]
    public void Timeouts_a_timer_cannot_take_are_refused(string kind)
    {
        var options = new TaskWorkerOptions
        {
            TaskTimeout = kind switch { "infinite" => Timeout.InfiniteTimeSpan, "zero" => TimeSpan.Zero, _ => TimeSpan.FromDays(60) },
        };

        Assert.Throws<ArgumentOutOfRangeException>(() => new TaskWorker(new InMemoryTransport(), options));
    }

    [Fact]
    public void A_timeout_is_a_failure_even_while_stopping()
    {
        var decision = Decide(new OperationCanceledException(), attempt: 1, stopping: true, timedOut: true);

        Assert.Equal(TaskOutcome.Retried, decision.Outcome);
        Assert.Equal("Task 'shop.ship' ran longer than its timeout of 00:01:00.", Assert.IsType<TimeoutException>(decision.Failure).Message);
    }

    [Fact]
    public void A_run_a_filter_skipped_is_cancelled_with_the_filters_reason()
    {
        var decision = Decide(null, attempt: 1, skippedBecause: "tenant suspended");

        Assert.Equal((TaskOutcome.Cancelled, "Skipped by a task filter: tenant suspended"), (decision.Outcome, decision.Reason));
    }

    [Fact]
    public void A_run_that_threw_after_a_filter_skipped_it_is_judged_by_what_it_threw()
        => Assert.Equal(TaskOutcome.Retried, Decide(new InvalidOperationException("after the skip"), attempt: 1, skippedBecause: "tenant suspended").Outcome);

    private static RunDecision Decide(Exception? failure, int attempt, int maxAttempts = 5, bool stopping = false, bool timedOut = false, string? skippedBecause = null)
        => RunDecision.Decide("shop.ship", failure, attempt, maxAttempts, stopping, timedOut, TimeSpan.FromMinutes(1), Backoff, skippedBecause: skippedBecause);
}

/// <summary>[AsyncTask(Timeout, RetryDelay, MaxConcurrency)] carried in the generated definition and honoured by the worker.</summary>
public sealed class TaskPolicyTests
{
    [Fact]
    public void The_generated_definition_carries_the_policy()
    {
        var definition = PolicyTasks.RunAsync.Definition;

        Assert.Equal((TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(7), 1), (definition.Timeout, definition.RetryDelay, definition.MaxConcurrency));
        Assert.Null(ScriptedTasks.RunAsync.Definition.Timeout);
    }

    [Fact]
    public async Task A_run_past_the_task_timeout_is_retried_after_the_task_retry_delay()
    {
        await using var h = new Harness(o =>
        {
            o.Queues.Clear();
            o.Queues.Add(PolicyTasks.Queue);
            o.TaskTimeout = TimeSpan.FromMinutes(10); // the worker-wide default the task overrides
        });
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var script = Scripts.Add(async (_, cancellationToken) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        });
        await PolicyTasks.RunAsync.Enqueue(h.Client, script);

        var run = h.Worker.RunOnceAsync();
        await started.Task.WaitAsync(TimeSpan.FromSeconds(20));
        h.FakeTime.Advance(TimeSpan.FromSeconds(1));
        await run.WaitAsync(TimeSpan.FromSeconds(20));

        var result = Assert.Single(h.Results);
        Assert.Equal(TaskOutcome.Retried, result.Outcome);
        Assert.IsType<TimeoutException>(result.Exception);
        Assert.Equal(TimeSpan.FromSeconds(7), result.RetryDelay);
    }

    [Fact]
    public async Task At_most_MaxConcurrency_runs_of_the_task_at_once()
    {
        await using var h = new Harness(o =>
        {
            o.Queues.Clear();
            o.Queues.Add(PolicyTasks.Queue);
            o.MaxConcurrency = 8;
        }, TimeProvider.System);
        var running = 0;
        var most = 0;
        var script = Scripts.Add(async (_, _) =>
        {
            var now = Interlocked.Increment(ref running);
            lock (h) most = Math.Max(most, now);
            await Task.Delay(30);
            Interlocked.Decrement(ref running);
        });
        for (var i = 0; i < 6; i++) await PolicyTasks.RunAsync.Enqueue(h.Client, script);

        await h.Worker.StartAsync();
        await Harness.WaitUntil(() => h.Results.Count == 6, "all six ran");

        Assert.Equal(1, most);
        Assert.All(h.Results, r => Assert.Equal(TaskOutcome.Completed, r.Outcome));
    }
}
