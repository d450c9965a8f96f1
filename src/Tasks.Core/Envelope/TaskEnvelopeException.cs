using System;

namespace Tasks;

/// <summary>A message body that is not a valid v1 task envelope, or names no known task.</summary>
public sealed class TaskEnvelopeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TaskEnvelopeException(string message, Exception? innerException = null) : base(message, innerException) { }

    /// <summary>
    /// For a well-formed envelope of a task this worker does not know (a task renamed or deleted while
    /// its messages waited): its wire name and the id Enqueue returned, so its dead letter is found by that id.
    /// </summary>
    internal (string? TaskName, string? MessageId) UnknownTask { get; init; }
}
