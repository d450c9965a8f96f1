using System;

namespace Tasks;

/// <summary>How to settle one run.</summary>
/// <param name="Outcome">Complete, retry, release or dead-letter.</param>
/// <param name="Failure">What ended the run, if it failed (a timeout as a <see cref="TimeoutException"/>).</param>
/// <param name="RetryDelay">For a retry, how long the message stays invisible.</param>
/// <param name="Reason">For a dead letter, a sentence a person can act on.</param>
internal readonly record struct RunDecision(TaskOutcome Outcome, Exception? Failure = null, TimeSpan? RetryDelay = null, string? Reason = null)
{
    /// <summary>
    /// The worker's one decision, with no transport in sight: a pure function of how the run ended,
    /// the attempt, and the task's policy (the retry delay's jitter aside).
    /// </summary>
    /// <param name="taskName">The task's wire name, for the reasons.</param>
    /// <param name="failure">What the method threw, or null if it returned.</param>
    /// <param name="attempt">This delivery's attempt, 1-based.</param>
    /// <param name="maxAttempts">The task's attempts before it is dead-lettered.</param>
    /// <param name="stopping">Whether the worker fired the run's token because it is stopping.</param>
    /// <param name="timedOut">Whether the run's timeout fired the token.</param>
    /// <param name="timeout">The run's timeout, for the reason.</param>
    /// <param name="retry">The backoff.</param>
    /// <param name="retryDelay">The task's own first delay, or null for the policy's.</param>
    /// <param name="cancelledById">Whether a cancel by id fired the run's token.</param>
    /// <param name="skippedBecause">The reason a run filter gave for skipping the run, if one did.</param>
    public static RunDecision Decide(string taskName, Exception? failure, int attempt, int maxAttempts, bool stopping, bool timedOut, TimeSpan? timeout, TaskRetryPolicy retry, TimeSpan? retryDelay = null, bool cancelledById = false, string? skippedBecause = null)
    {
        // A run a filter skipped ends cancelled with the filter's reason; one that threw after a skip is judged by what it threw.
        if (failure is null) return skippedBecause is null ? new(TaskOutcome.Completed) : new(TaskOutcome.Cancelled, Reason: "Skipped by a task filter: " + skippedBecause);
        // Whatever the task threw once its token fired for a cancel, it ends cancelled: not retried, not dead-lettered.
        if (cancelledById) return new(TaskOutcome.Cancelled, failure);
        // Whatever a run cancelled by a stop throws (a wrapped cancellation, say), it is no failure of the task's.
        if (stopping && !timedOut) return new(TaskOutcome.Released, failure);
        if (failure is OperationCanceledException && timedOut)
            failure = new TimeoutException($"Task '{taskName}' ran longer than its timeout of {timeout}.", failure);
        if (failure is PermanentTaskException)
            return new(TaskOutcome.DeadLettered, failure, Reason: $"Task '{taskName}' failed permanently on attempt {attempt}: {failure.Message}");
        if (attempt >= maxAttempts)
            return new(TaskOutcome.DeadLettered, failure, Reason: $"Task '{taskName}' failed on all {maxAttempts} attempts; the last error was {failure.GetType().Name}: {failure.Message}");
        return new(TaskOutcome.Retried, failure, retry.GetDelay(attempt, retryDelay ?? retry.BaseDelay));
    }
}
