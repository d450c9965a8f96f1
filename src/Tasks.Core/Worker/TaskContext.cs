using System;
using System.Collections.Generic;
using System.Threading;

namespace Tasks;

/// <summary>
/// What a running task can know about its message: tasks run at least once, so use
/// <see cref="MessageId"/> to make them idempotent and <see cref="Attempt"/> to see retries.
/// </summary>
public sealed class TaskContext
{
    private static readonly AsyncLocal<TaskContext?> current = new();
    private readonly DecodedEnvelope decoded;
    private IReadOnlyDictionary<string, string>? headers;

    internal TaskContext(ReceivedTaskMessage message, DecodedEnvelope decoded)
    {
        Message = message;
        this.decoded = decoded;
    }

    /// <summary>The context of the task running on this async flow; null outside a task.</summary>
    public static TaskContext? Current
    {
        get => current.Value;
        internal set => current.Value = value;
    }

    internal ReceivedTaskMessage Message { get; }

    /// <summary>The task's wire name.</summary>
    public string TaskName => decoded.Definition.Name;

    /// <summary>The queue the message came from.</summary>
    public string Queue => Message.Queue;

    /// <summary>The message id; the same on every attempt.</summary>
    public string MessageId => Message.MessageId;

    /// <summary>1 on the first run, 2 on the first retry, and so on.</summary>
    public int Attempt => Message.Attempt;

    /// <summary>How many attempts the task has before it is dead-lettered.</summary>
    public int MaxAttempts => decoded.Definition.MaxAttempts;

    /// <summary>The envelope's headers (message id, enqueued-at, traceparent).</summary>
    public IReadOnlyDictionary<string, string> Headers => headers ??= decoded.ReadHeaders();
}
