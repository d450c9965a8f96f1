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
    public void A_timeout_is_a_failure_even_while_stopping()
    {
        var decision = Decide(new OperationCanceledException(), attempt: 1, stopping: true, timedOut: true);

        Assert.Equal(TaskOutcome.Retried, decision.Outcome);
        Assert.Equal("Task 'shop.ship' ran longer than its timeout of 00:01:00.", Assert.IsType<TimeoutException>(decision.Failure).Message);
    }

    private static RunDecision Decide(Exception? failure, int attempt, int maxAttempts = 5, bool stopping = false, bool timedOut = false)
        => RunDecision.Decide("shop.ship", failure, attempt, maxAttempts, stopping, timedOut, TimeSpan.FromMinutes(1), Backoff);
}
