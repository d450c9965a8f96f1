using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Sends tasks. Generated <c>Enqueue</c> methods call it; substitute it in a unit test to see the
/// task and its typed arguments without a queue.
/// </summary>
public interface ITaskClient
{
    /// <summary>Encodes and sends one task; returns the message id.</summary>
    ValueTask<string> EnqueueAsync<TArguments>(
        TaskDefinition<TArguments> task,
        TArguments arguments,
        TaskEnqueueOptions? options = null,
        CancellationToken cancellationToken = default)
        where TArguments : class;

    /// <summary>
    /// Sends every task of <paramref name="batch"/>; returns their message ids in the order they
    /// were added. <see cref="TaskClient"/> packs the tasks of each queue into as few messages as
    /// fit; this default sends them one by one, so a test double sees each task typed.
    /// </summary>
    /// <exception cref="TaskMessageTooLargeException">A task alone is larger than a message may be; nothing was sent.</exception>
    /// <exception cref="TaskEnqueueException">A send failed; the message says how many tasks were sent before it.</exception>
    async ValueTask<IReadOnlyList<string>> EnqueueBatchAsync(TaskBatch batch, TaskEnqueueOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var ids = new string[batch.Count];
        for (var i = 0; i < ids.Length; i++)
            ids[i] = await batch.Entries[i].EnqueueAsync(this, options, cancellationToken).ConfigureAwait(false);
        return ids;
    }

    /// <summary>
    /// Cancels task <paramref name="id"/> (see <see cref="ITaskRecords.CancelAsync"/>): a task not yet
    /// running never runs, a running one's token fires on its worker. Needs a record store.
    /// </summary>
    ValueTask<TaskCancelResult> CancelAsync(string id, CancellationToken cancellationToken = default)
        => throw new NotSupportedException($"{GetType().Name} cannot cancel tasks: use a TaskClient with a record store.");
}
