using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>Queue depths, and dead letters: stored by the worker, listed, requeued and deleted by an operator.</summary>
public sealed partial class InMemoryTransport : ITaskQueueMonitor, ITaskDeadLetters
{
    /// <inheritdoc />
    public ValueTask<TaskQueueDepth> GetDepthAsync(string queue, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            var exists = queues.TryGetValue(queue, out var state);
            var deadLetterCount = deadLetters.Count(d => d.Queue == queue);
            return new(new TaskQueueDepth(queue, exists, exists ? state!.Live.Count : 0, deadLetterCount));
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TaskDeadLetter>> ListDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
    {
        lock (gate) return new(Matching(queue, filter).Select(m => m.Letter).ToArray());
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TaskDeadLetter>> RequeueDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            var matching = Matching(queue, filter).ToArray();
            foreach (var (message, _) in matching)
            {
                deadLetters.Remove(message);
                Send(queue, new OutgoingTaskMessage(message.MessageId, message.Body, TimeSpan.Zero, null));
            }

            return new(matching.Select(m => m.Letter).ToArray());
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TaskDeadLetter>> DeleteDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
    {
        lock (gate)
        {
            var matching = Matching(queue, filter).ToArray();
            foreach (var (message, _) in matching)
            {
                deadLetters.Remove(message);
                payloads.ForgetFor(message.Body);
            }

            return new(matching.Select(m => m.Letter).ToArray());
        }
    }

    private IEnumerable<(DeadLetteredMessage Message, TaskDeadLetter Letter)> Matching(string queue, DeadLetterFilter? filter)
        => deadLetters.Where(m => m.Queue == queue).Select(m => (m, m.ToTaskDeadLetter())).Where(m => filter?.Matches(m.Item2) ?? true);

    /// <inheritdoc />
    public ValueTask AddDeadLetterAsync(string queue, string messageId, ReadOnlyMemory<byte> body, DeadLetterDetails reason, CancellationToken cancellationToken)
    {
        var copy = body.ToArray(); // the body is the caller's only until this returns
        lock (gate)
        {
            deadLetters.Add(new DeadLetteredMessage(queue, messageId, copy, reason, time.GetUtcNow()));
            payloads.KeepFor(copy);
        }

        return default;
    }
}

/// <summary>A message in the in-memory dead-letter list.</summary>
public sealed record DeadLetteredMessage(string Queue, string MessageId, ReadOnlyMemory<byte> Body, DeadLetterDetails Reason, DateTimeOffset DeadLetteredAt)
{
    internal TaskDeadLetter ToTaskDeadLetter()
    {
        var summary = TaskEnvelopeSummary.Of(Body);
        return new(Queue, MessageId, summary.TaskName, Reason.Attempt, Reason.Reason, Reason.ExceptionType, Reason.ExceptionMessage, summary.EnqueuedAt, DeadLetteredAt, summary.ArgumentsJson) { ArgumentsNote = summary.Problem };
    }
}
