using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// The transport's dead letters, with the records told of each requeue: a requeued task reads as
/// Enqueued again (its history kept) instead of dead-lettered. What a host registers as
/// <see cref="ITaskDeadLetters"/> where it has a record store.
/// </summary>
internal sealed class RecordedDeadLetters(ITaskDeadLetters inner, TaskRecordStore store) : ITaskDeadLetters
{
    public ValueTask<IReadOnlyList<TaskDeadLetter>> ListDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
        => inner.ListDeadLettersAsync(queue, filter, cancellationToken);

    public async ValueTask<IReadOnlyList<TaskDeadLetter>> RequeueDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
    {
        var requeued = await inner.RequeueDeadLettersAsync(queue, filter, cancellationToken).ConfigureAwait(false);
        await store.MarkRequeuedAsync(requeued.Select(l => l.MessageId).ToArray(), cancellationToken).ConfigureAwait(false);
        return requeued;
    }

    public ValueTask<IReadOnlyList<TaskDeadLetter>> DeleteDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
        => inner.DeleteDeadLettersAsync(queue, filter, cancellationToken);
}
