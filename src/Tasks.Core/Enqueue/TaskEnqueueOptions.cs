using System;

namespace Tasks;

/// <summary>Per-message settings for <c>Enqueue</c>.</summary>
public sealed class TaskEnqueueOptions
{
    /// <summary>How long the message stays invisible before a worker may take it. Default: none.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>How long the message may wait in the queue before it expires. Default: the transport's (Azure: 7 days).</summary>
    public TimeSpan? TimeToLive { get; init; }

    /// <summary>
    /// The key that makes this task unique, in place of its arguments: while a task of the same name
    /// and key is enqueued or running (and younger than <see cref="UniqueFor"/>, or the task's
    /// <c>[AsyncTask(UniqueFor = ...)]</c>), <c>Enqueue</c> returns its id and sends nothing.
    /// </summary>
    public string? UniqueKey { get; init; }

    /// <summary>Makes this enqueue unique for this long (see <see cref="UniqueKey"/>), in place of the task's <c>UniqueFor</c>.</summary>
    public TimeSpan? UniqueFor { get; init; }
}
