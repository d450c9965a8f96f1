using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// The transport's dead letters, with the records told of each requeue and purge: a requeued task
/// reads as Enqueued again (its history kept), a purged one as dead-lettered with no dead letter left. What a host registers as
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

    public async ValueTask<IReadOnlyList<TaskDeadLetter>> DeleteDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
    {
        var deleted = await inner.DeleteDeadLettersAsync(queue, filter, cancellationToken).ConfigureAwait(false);
        await store.MarkPurgedAsync(deleted.Select(l => l.MessageId).ToArray(), cancellationToken).ConfigureAwait(false);
        return deleted;
    }

    public ValueTask<IReadOnlyList<TaskDeadLetter>> PeekDeadLettersAsync(string queue, int maxCount = 32, CancellationToken cancellationToken = default)
        => inner.PeekDeadLettersAsync(queue, maxCount, cancellationToken);
}
