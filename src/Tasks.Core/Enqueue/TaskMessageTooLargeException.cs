using System;

namespace Tasks;

/// <summary>Thrown by <c>Enqueue</c> when a task's envelope exceeds what the transport carries. Nothing was sent.</summary>
public sealed class TaskMessageTooLargeException : TaskEnqueueException
{
    /// <summary>Creates the exception.</summary>
    public TaskMessageTooLargeException(string taskName, string queue, int size, int limit)
        : this(taskName, queue, size, limit, "Store large data elsewhere (a blob, a database row) and pass its key as the argument.")
    {
    }

    /// <summary>Creates the exception with the advice that fits the transport.</summary>
    internal TaskMessageTooLargeException(string taskName, string queue, int size, int limit, string advice)
        : base(taskName, queue, $"Task '{taskName}' was not enqueued: its envelope is {size:N0} bytes and the transport carries at most {limit:N0}. {advice}")
    {
        Size = size;
        Limit = limit;
    }

    /// <summary>The encoded envelope size in bytes.</summary>
    public int Size { get; }

    /// <summary>The transport's limit in bytes.</summary>
    public int Limit { get; }
}
