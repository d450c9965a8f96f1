using Microsoft.EntityFrameworkCore;
using Tasks.EntityFrameworkCore;

namespace Tasks.Fixtures;

public sealed class Order
{
    public int Id { get; set; }

    public string Customer { get; set; } = "";
}

/// <summary>An app's own data with the task outbox beside it.</summary>
public sealed class OrdersDb(DbContextOptions<OrdersDb> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddTaskOutbox();

    /// <summary>SQLite or PostgreSQL, by name, as the tests run both.</summary>
    public static DbContextOptionsBuilder Use(DbContextOptionsBuilder options, string provider, string connectionString)
        => provider switch
        {
            "sqlite" => options.UseSqlite(connectionString),
            "postgres" => options.UseNpgsql(connectionString),
            _ => throw new ArgumentException($"Unknown provider '{provider}': sqlite or postgres."),
        };
}
