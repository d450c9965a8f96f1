using System;

namespace Tasks.EntityFrameworkCore;

/// <summary>How the outbox sends: at once after each commit, and by a relay for rows a crash left behind.</summary>
public sealed class TaskOutboxOptions
{
    /// <summary>
    /// How old a row must be before a relay sends it (10 s): younger rows are the committing process's to send at once.
    /// A row left by a crash is sent within this plus <see cref="PollInterval"/>.
    /// </summary>
    public TimeSpan Grace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often an idle relay looks for rows left behind (5 s): one query each time, per process.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The rows a relay claims at once (100); a full claim is followed by the next at once.</summary>
    public int BatchSize { get; set; } = 100;

    /// <summary>How long a relay holds the rows it claimed (1 min): a relay that dies lets them go after this.</summary>
    public TimeSpan ClaimFor { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The longest a relay waits before sending a row again after its send failed (1 min); the wait doubles from 1 s.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The sends in flight at once, per commit or per relay batch (16).</summary>
    public int MaxConcurrentSends { get; set; } = 16;

    internal void Validate()
    {
        if (Grace < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Grace), Grace, "TaskOutboxOptions.Grace cannot be negative.");
        if (PollInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(PollInterval), PollInterval, "TaskOutboxOptions.PollInterval must be positive.");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "TaskOutboxOptions.BatchSize must be at least 1.");
        if (ClaimFor <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ClaimFor), ClaimFor, "TaskOutboxOptions.ClaimFor must be positive.");
        if (MaxConcurrentSends < 1) throw new ArgumentOutOfRangeException(nameof(MaxConcurrentSends), MaxConcurrentSends, "TaskOutboxOptions.MaxConcurrentSends must be at least 1.");
    }
}
