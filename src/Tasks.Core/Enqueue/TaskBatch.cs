using System;
using System.Collections.Generic;
using System.ComponentModel;

namespace Tasks;

/// <summary>
/// Tasks to enqueue together: add them with the generated <c>XxxAsync.AddTo(batch, …)</c>, then
/// send them with <see cref="ITaskClient.EnqueueBatchAsync"/>. The client packs the tasks of each
/// queue into as few messages as the transport's size limit allows, so a thousand small tasks
/// cost a couple of queue operations instead of a thousand. Every task keeps its own message id,
/// attempts and dead letter: a worker runs each task of a pack on its own and sends back, as
/// messages of their own, only those that must run again.
/// </summary>
public sealed class TaskBatch
{
    private readonly List<PreparedTask> entries = new();

    /// <summary>The tasks added so far.</summary>
    public int Count => entries.Count;

    /// <summary>
    /// A task to enqueue once every task of the batch has reached a final state (succeeded,
    /// dead-lettered or cancelled), exactly once however many workers race: e.g.
    /// <c>ReportTasks.BuildAlbumAsync.Prepare(albumId)</c>. Setting it tracks the batch
    /// (<see cref="ITaskRecords.GetBatchAsync"/>); it needs a record store. Default: none.
    /// </summary>
    public PreparedTask? OnCompleted { get; set; }

    /// <summary>Count the batch's tasks as they end, for <see cref="ITaskRecords.GetBatchAsync"/>, even with no <see cref="OnCompleted"/>. Default: false.</summary>
    public bool Tracked { get; set; }

    /// <summary>The batch's id, once it is enqueued with tracking (<see cref="OnCompleted"/> or <see cref="Tracked"/>): for <see cref="ITaskRecords.GetBatchAsync"/>.</summary>
    public string? Id { get; internal set; }

    /// <summary>Adds a prepared task (<c>XxxAsync.Prepare(...)</c>).</summary>
    public void Add(PreparedTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        entries.Add(task);
    }

    /// <summary>Adds a task; called by the generated <c>AddTo</c> methods.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public void Add<TArguments>(TaskDefinition<TArguments> task, TArguments arguments)
        where TArguments : class
        => entries.Add(PreparedTask.Of(task, arguments));

    internal IReadOnlyList<PreparedTask> Entries => entries;
}
