using System;

namespace Tasks;

/// <summary>Per-message settings for <c>Enqueue</c>.</summary>
public sealed class TaskEnqueueOptions
{
    /// <summary>How long the message stays invisible before a worker may take it. Default: none.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>How long the message may wait in the queue before it expires. Default: the transport's (Azure: 7 days).</summary>
    public TimeSpan? TimeToLive { get; init; }
}
