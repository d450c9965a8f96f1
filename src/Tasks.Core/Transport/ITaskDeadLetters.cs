using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// What an operator does with dead letters: list them with their arguments as JSON, send them
/// back to their queue (same message id, attempts counted afresh), or delete them. Both
/// transports implement it; a host registers it.
/// </summary>
public interface ITaskDeadLetters
{
    /// <summary>The dead letters of <paramref name="queue"/> that match <paramref name="filter"/> (all if null), oldest first.</summary>
    ValueTask<IReadOnlyList<TaskDeadLetter>> ListDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default);

    /// <summary>Sends the matching dead letters back to <paramref name="queue"/>, each exactly as it was enqueued; returns those it sent.</summary>
    ValueTask<IReadOnlyList<TaskDeadLetter>> RequeueDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default);

    /// <summary>Deletes the matching dead letters (all of them if <paramref name="filter"/> is null: a purge); returns those it deleted.</summary>
    ValueTask<IReadOnlyList<TaskDeadLetter>> DeleteDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Up to <paramref name="maxCount"/> dead letters of <paramref name="queue"/>, oldest first, without
    /// taking them even for a moment (a page that shows them, viewed by many at once). Azure peeks at
    /// most 32. The default lists them all and keeps the first.
    /// </summary>
    async ValueTask<IReadOnlyList<TaskDeadLetter>> PeekDeadLettersAsync(string queue, int maxCount = 32, CancellationToken cancellationToken = default)
    {
        var all = await ListDeadLettersAsync(queue, null, cancellationToken).ConfigureAwait(false);
        return all.Count <= maxCount ? all : System.Linq.Enumerable.ToArray(System.Linq.Enumerable.Take(all, maxCount));
    }
}

/// <summary>A dead letter, as an operator sees it.</summary>
/// <param name="Queue">The task queue it came from.</param>
/// <param name="MessageId">The id <c>Enqueue</c> returned; a requeue keeps it.</param>
/// <param name="TaskName">The task's wire name, or null if the message is no readable envelope.</param>
/// <param name="Attempt">The attempt on which it was given up.</param>
/// <param name="Reason">Why.</param>
/// <param name="ExceptionType">The exception that ended the task, if one did.</param>
/// <param name="ExceptionMessage">Its message.</param>
/// <param name="EnqueuedAt">When it was first enqueued, if the envelope says.</param>
/// <param name="DeadLetteredAt">When it was dead-lettered.</param>
/// <param name="ArgumentsJson">The arguments as a JSON array in parameter order, or null if they cannot be read.</param>
public sealed record TaskDeadLetter(
    string Queue,
    string MessageId,
    string? TaskName,
    int Attempt,
    string Reason,
    string? ExceptionType,
    string? ExceptionMessage,
    DateTimeOffset? EnqueuedAt,
    DateTimeOffset DeadLetteredAt,
    string? ArgumentsJson)
{
    /// <summary>Why <see cref="ArgumentsJson"/> is null, when it says: the arguments travel in the payload store (not downloaded to be shown), or what cannot be read.</summary>
    public string? ArgumentsNote { get; init; }
}

/// <summary>Which dead letters an operation applies to: every condition set must hold.</summary>
public sealed class DeadLetterFilter
{
    /// <summary>Only the dead letter with this message id.</summary>
    public string? MessageId { get; init; }

    /// <summary>Only the dead letters with one of these message ids: many acted on in one scan of the dead letters.</summary>
    public IReadOnlyCollection<string>? MessageIds { get; init; }

    /// <summary>Only dead letters of this task (its wire name).</summary>
    public string? TaskName { get; init; }

    /// <summary>Only dead letters whose reason contains this text (ordinal, ignoring case).</summary>
    public string? ReasonContains { get; init; }

    /// <summary>Only dead letters dead-lettered at or after this time.</summary>
    public DateTimeOffset? From { get; init; }

    /// <summary>Only dead letters dead-lettered before this time.</summary>
    public DateTimeOffset? To { get; init; }

    /// <summary>Whether <paramref name="letter"/> meets every condition set.</summary>
    public bool Matches(TaskDeadLetter letter)
    {
        ArgumentNullException.ThrowIfNull(letter);
        return (MessageId is null || MessageId == letter.MessageId)
            && (MessageIds is null || System.Linq.Enumerable.Contains(MessageIds, letter.MessageId))
            && (TaskName is null || TaskName == letter.TaskName)
            && (ReasonContains is null || letter.Reason.Contains(ReasonContains, StringComparison.OrdinalIgnoreCase))
            && (From is null || letter.DeadLetteredAt >= From)
            && (To is null || letter.DeadLetteredAt < To);
    }
}
