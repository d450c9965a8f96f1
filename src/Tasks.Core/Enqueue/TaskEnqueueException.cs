using System;

namespace Tasks;

/// <summary>
/// Thrown by <c>Enqueue</c> when a task could not be put on its queue: the one exception to catch
/// around an enqueue. It names the task and the queue; <see cref="Exception.InnerException"/> is
/// the cause (a <see cref="TaskTransportException"/> says whether a retry may help).
/// </summary>
public class TaskEnqueueException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TaskEnqueueException(string taskName, string queue, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        TaskName = taskName;
        Queue = queue;
    }

    /// <summary>The wire name of the task.</summary>
    public string TaskName { get; }

    /// <summary>The queue it was meant for.</summary>
    public string Queue { get; }

    /// <summary>True if enqueueing again later may succeed (the transport's fault was transient).</summary>
    public bool IsTransient => InnerException is TaskTransportException { IsTransient: true } or TimeoutException;
}
