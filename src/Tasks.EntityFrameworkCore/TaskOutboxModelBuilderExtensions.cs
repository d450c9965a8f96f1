using System;
using Microsoft.EntityFrameworkCore;

namespace Tasks.EntityFrameworkCore;

/// <summary>Maps the task outbox in a model.</summary>
public static class TaskOutboxModelBuilderExtensions
{
    /// <summary>The table the outbox takes unless told otherwise.</summary>
    public const string DefaultTable = "tasks_outbox";

    /// <summary>
    /// Maps <see cref="TaskOutboxMessage"/> to <paramref name="table"/>, keyed by the task id, indexed by creation time
    /// (what the relay reads). Call it in <c>OnModelCreating</c>, then add a migration: the table is yours to migrate.
    /// </summary>
    public static ModelBuilder AddTaskOutbox(this ModelBuilder modelBuilder, string table = DefaultTable, string? schema = null)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        ArgumentException.ThrowIfNullOrWhiteSpace(table);
        modelBuilder.Entity<TaskOutboxMessage>(row =>
        {
            row.ToTable(table, schema);
            row.HasKey(m => m.Id);
            row.Property(m => m.Id).HasMaxLength(64);
            row.Property(m => m.TaskName).HasMaxLength(256);
            row.Property(m => m.Queue).HasMaxLength(64);
            row.Property(m => m.LockedBy).HasMaxLength(128);
            row.Property(m => m.LastError).HasMaxLength(OutboxRows.MaxErrorLength);
            row.HasIndex(m => m.CreatedAt);
        });
        return modelBuilder;
    }
}
