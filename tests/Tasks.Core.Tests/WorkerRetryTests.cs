namespace Tasks.Core.Tests;

public sealed class WorkerRetryTests
{
    [Fact]
    public async Task Failing_task_is_retried_with_exponential_backoff_until_it_succeeds()
    {
        await using var h = new Harness();
        var attempts = new List<int>();
        var id = Scripts.Add((context, _) =>
        {
            attempts.Add(context.Attempt);
            return context.Attempt < 3 ? throw new InvalidOperationException("flaky") : Task.CompletedTask;
        });
        await ScriptedTasks.RunAsync.Enqueue(h.Client, id);

        Assert.Equal(1, await h.Worker.RunOnceAsync());
        var waiting = Assert.Single(h.Transport.Peek(ScriptedTasks.Queue));
        Assert.Equal(h.Time.GetUtcNow() + TimeSpan.FromSeconds(10), waiting.VisibleAt);

        h.FakeTime.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(0, await h.Worker.RunOnceAsync());
        h.FakeTime.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, await h.Worker.RunOnceAsync());
        Assert.Equal(h.Time.GetUtcNow() + TimeSpan.FromSeconds(20), Assert.Single(h.Transport.Peek(ScriptedTasks.Queue)).VisibleAt);

        h.FakeTime.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(1, await h.Worker.RunOnceAsync());

        Assert.Equal([1, 2, 3], attempts);
        Assert.Empty(h.Transport.Peek(ScriptedTasks.Queue));
        Assert.Empty(h.Transport.DeadLetters);
        Assert.Equal(
            [(TaskOutcome.Retried, (TimeSpan?)TimeSpan.FromSeconds(10)), (TaskOutcome.Retried, TimeSpan.FromSeconds(20)), (TaskOutcome.Completed, null)],
            h.Results.Select(r => (r.Outcome, r.RetryDelay)));
    }

    [Fact]
    public async Task Task_that_always_fails_is_dead_lettered_after_max_attempts_with_the_reason()
    {
        await using var h = new Harness();
        var runs = 0;
        var id = Scripts.Add((_, _) =>
        {
            runs++;
            throw new InvalidOperationException("database unreachable");
        });
        await ScriptedTasks.RunAsync.Enqueue(h.Client, id);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(1, await h.Worker.RunOnceAsync());
            h.FakeTime.Advance(TimeSpan.FromMinutes(5));
        }

        Assert.Equal(0, await h.Worker.RunOnceAsync());
        Assert.Equal(3, runs);
        var dead = Assert.Single(h.Transport.DeadLetters);
        Assert.Contains("failed on all 3 attempts", dead.Reason.Reason);
        Assert.Contains("database unreachable", dead.Reason.Reason);
        Assert.Equal(typeof(InvalidOperationException).FullName, dead.Reason.ExceptionType);
        Assert.Equal(3, dead.Reason.Attempt);
        Assert.Empty(h.Transport.Peek(ScriptedTasks.Queue));
    }

    [Fact]
    public async Task Permanent_failure_skips_the_retries()
    {
        await using var h = new Harness();
        var id = Scripts.Add((_, _) => throw new PermanentTaskException("card declined"));
        await ScriptedTasks.RunAsync.Enqueue(h.Client, id);

        Assert.Equal(1, await h.Worker.RunOnceAsync());

        var dead = Assert.Single(h.Transport.DeadLetters);
        Assert.Contains("failed permanently on attempt 1: card declined", dead.Reason.Reason);
        Assert.Equal(1, dead.Reason.Attempt);
        Assert.Empty(h.Transport.Peek(ScriptedTasks.Queue));
    }

    [Fact]
    public async Task Task_running_past_its_timeout_is_cancelled_and_retried()
    {
        await using var h = new Harness(o =>
        {
            o.TaskTimeout = TimeSpan.FromSeconds(30);
            o.LeaseDuration = TimeSpan.FromMinutes(2);
        });
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var id = Scripts.Add(async (_, cancellationToken) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        });
        await ScriptedTasks.RunAsync.Enqueue(h.Client, id);

        var run = h.Worker.RunOnceAsync();
        await started.Task;
        h.FakeTime.Advance(TimeSpan.FromSeconds(29));
        Assert.False(run.IsCompleted);
        h.FakeTime.Advance(TimeSpan.FromSeconds(1));
        await run;

        var result = Assert.Single(h.Results);
        Assert.Equal(TaskOutcome.Retried, result.Outcome);
        var timeout = Assert.IsType<TimeoutException>(result.Exception);
        Assert.Contains("ran longer than its timeout of 00:00:30", timeout.Message);
        Assert.Single(h.Transport.Peek(ScriptedTasks.Queue));
    }

    [Fact]
    public void Backoff_doubles_per_attempt_is_capped_and_jitter_stays_within_its_band()
    {
        var policy = new TaskRetryPolicy { BaseDelay = TimeSpan.FromSeconds(2), MaxDelay = TimeSpan.FromSeconds(30), Jitter = 0 };
        Assert.Equal(
            [2, 4, 8, 16, 30, 30],
            Enumerable.Range(1, 6).Select(a => policy.GetDelay(a).TotalSeconds));

        policy.Jitter = 0.2;
        var random = new Random(7);
        var delays = Enumerable.Range(0, 500).Select(_ => policy.GetDelay(2, random).TotalSeconds).ToArray();
        Assert.All(delays, d => Assert.InRange(d, 3.2, 4.8));
        Assert.True(delays.Distinct().Count() > 100, "jitter should spread retries");
    }
}
