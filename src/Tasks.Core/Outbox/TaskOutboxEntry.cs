using System;

namespace Tasks;

/// <summary>
/// A task enqueued into an outbox: written whole (its id fixed, its envelope, its record, its options), to be stored
/// with the caller's own data and sent after their commit by <see cref="TaskClient.SendFromOutboxAsync"/>.
/// </summary>
public sealed class TaskOutboxEntry
{
    internal TaskOutboxEntry(string id, string taskName, string queue, DateTimeOffset createdAt, byte[] content)
    {
        Id = id;
        TaskName = taskName;
        Queue = queue;
        CreatedAt = createdAt;
        Content = content;
    }

    /// <summary>The task's id, as the enqueue returned it.</summary>
    public string Id { get; }

    /// <summary>The task's wire name.</summary>
    public string TaskName { get; }

    /// <summary>The queue it goes to.</summary>
    public string Queue { get; }

    /// <summary>When it was enqueued into the outbox.</summary>
    public DateTimeOffset CreatedAt { get; }

    /// <summary>Everything its send needs, in a format of Tasks' own (versioned): store it as it is.</summary>
    public byte[] Content { get; }
}

/// <summary>Where the enqueues of <see cref="TaskClient.WriteTo"/> go instead of the transport: e.g. rows added to a database context.</summary>
public interface ITaskOutbox
{
    /// <summary>Keeps <paramref name="entry"/> with the caller's unit of work.</summary>
    void Add(TaskOutboxEntry entry);
}
