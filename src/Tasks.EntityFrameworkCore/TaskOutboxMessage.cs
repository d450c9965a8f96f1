namespace Tasks.EntityFrameworkCore;

/// <summary>
/// A row of the task outbox: one task enqueued into a <c>DbContext</c>, committed with the caller's data, deleted once
/// sent. Map it with <see cref="TaskOutboxModelBuilderExtensions.AddTaskOutbox"/>; times are Unix milliseconds, which
/// every provider orders and compares.
/// </summary>
public sealed class TaskOutboxMessage
{
    /// <summary>The task's id, as its enqueue returned it.</summary>
    public string Id { get; set; } = "";

    /// <summary>The task's wire name (for operators reading the table).</summary>
    public string TaskName { get; set; } = "";

    /// <summary>The queue it goes to.</summary>
    public string Queue { get; set; } = "";

    /// <summary>When it was enqueued, in Unix milliseconds: the relay sends it once it is older than its grace period.</summary>
    public long CreatedAt { get; set; }

    /// <summary>The written task (<see cref="TaskOutboxEntry.Content"/>).</summary>
    public byte[] Content { get; set; } = [];

    /// <summary>Until when a relay holds it (Unix milliseconds), or null: a relay that dies lets it go at this time.</summary>
    public long? LockedUntil { get; set; }

    /// <summary>The relay that holds it.</summary>
    public string? LockedBy { get; set; }

    /// <summary>The relay's failed sends of it.</summary>
    public int Attempts { get; set; }

    /// <summary>Why its last send by a relay failed.</summary>
    public string? LastError { get; set; }

    /// <summary>The row of a task written into an outbox (<see cref="TaskClient.WriteTo"/>).</summary>
    public static TaskOutboxMessage From(TaskOutboxEntry entry)
    {
        System.ArgumentNullException.ThrowIfNull(entry);
        return new TaskOutboxMessage { Id = entry.Id, TaskName = entry.TaskName, Queue = entry.Queue, CreatedAt = entry.CreatedAt.ToUnixTimeMilliseconds(), Content = entry.Content };
    }
}
