using System;

namespace Tasks;

/// <summary>Thrown by <c>Enqueue</c> when a task's envelope exceeds what the transport carries. Nothing was sent.</summary>
public sealed class TaskMessageTooLargeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TaskMessageTooLargeException(string taskName, int size, int limit)
        : base($"Task '{taskName}' was not enqueued: its envelope is {size:N0} bytes and the transport carries at most {limit:N0}. " +
               "Store large data elsewhere (a blob, a database row) and pass its key as the argument.")
    {
        TaskName = taskName;
        Size = size;
        Limit = limit;
    }

    /// <summary>The wire name of the task.</summary>
    public string TaskName { get; }

    /// <summary>The encoded envelope size in bytes.</summary>
    public int Size { get; }

    /// <summary>The transport's limit in bytes.</summary>
    public int Limit { get; }
}
