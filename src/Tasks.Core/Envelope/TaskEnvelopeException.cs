using System;

namespace Tasks;

/// <summary>A message body that is not a valid v1 task envelope, or names no known task.</summary>
public sealed class TaskEnvelopeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TaskEnvelopeException(string message, Exception? innerException = null) : base(message, innerException) { }
}
