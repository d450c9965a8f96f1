using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// A client whose enqueues go into an outbox (<see cref="TaskClient.WriteTo"/>): each task is written whole, its id
/// fixed, and kept by the outbox with the caller's unit of work; nothing reaches the transport until it is sent from there.
/// </summary>
internal sealed class OutboxTaskClient(TaskClient client, ITaskOutbox outbox) : ITaskClient
{
    public ValueTask<string> EnqueueAsync<TArguments>(TaskDefinition<TArguments> task, TArguments arguments, TaskEnqueueOptions? options = null, CancellationToken cancellationToken = default)
        where TArguments : class
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(arguments);
        if (options?.After is not null)
            throw new NotSupportedException($"Task '{task.Name}' is a continuation (After), which is not enqueued through an outbox: its parent's record decides when it runs. Enqueue it with the TaskClient after the commit.");
        var entry = client.WriteOutboxEntry(task, arguments, options);
        outbox.Add(entry);
        return new ValueTask<string>(entry.Id);
    }

    public async ValueTask<IReadOnlyList<string>> EnqueueBatchAsync(TaskBatch batch, TaskEnqueueOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.OnCompleted is not null || batch.Tracked)
            throw new NotSupportedException("A batch with a callback (OnCompleted) or tracked counts is not enqueued through an outbox: its row in the record store must exist before its tasks run. Enqueue it with the TaskClient after the commit, or enqueue its tasks without tracking.");
        var ids = new string[batch.Count];
        for (var i = 0; i < ids.Length; i++)
            ids[i] = await batch.Entries[i].EnqueueAsync(this, options, cancellationToken).ConfigureAwait(false);
        return ids;
    }

    public ValueTask<TaskCancelResult> CancelAsync(string id, CancellationToken cancellationToken = default) => client.CancelAsync(id, cancellationToken);
}
