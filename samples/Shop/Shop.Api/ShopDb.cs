using Microsoft.EntityFrameworkCore;
using Tasks.EntityFrameworkCore;

namespace Shop.Api;

/// <summary>An order as the shop stores it.</summary>
public sealed class Order
{
    public Guid Id { get; set; }

    public string Email { get; set; } = "";

    public int Items { get; set; }

    public decimal Amount { get; set; }

    public DateTimeOffset PlacedAt { get; set; }
}

/// <summary>The shop's database (SQLite here), with the task outbox beside its orders: a task enqueued into it is committed with them.</summary>
public sealed class ShopDb(DbContextOptions<ShopDb> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddTaskOutbox();
}
