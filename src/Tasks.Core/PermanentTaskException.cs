using System;

namespace Tasks;

/// <summary>
/// Thrown by a task to say that retrying cannot help: the message is dead-lettered at once
/// with this exception's message as the reason.
/// </summary>
public class PermanentTaskException : Exception
{
    /// <summary>Creates the exception with a reason.</summary>
    public PermanentTaskException(string message) : base(message) { }

    /// <summary>Creates the exception with a reason and the failure that caused it.</summary>
    public PermanentTaskException(string message, Exception innerException) : base(message, innerException) { }
}
