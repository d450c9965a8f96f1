using Microsoft.EntityFrameworkCore;
using Tasks.EntityFrameworkCore;

namespace TasksApp.Api;

/// <summary>The app's database, with the outbox table the tasks enqueued into it wait in until they are sent.</summary>
/// <param name="options">From AddDbContext.</param>
public sealed class AppDb(DbContextOptions<AppDb> options) : DbContext(options)
{
    /// <summary>Who signed up.</summary>
    public DbSet<Signup> Signups => Set<Signup>();

    /// <inheritdoc />
    protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddTaskOutbox();
}

/// <summary>One sign-up.</summary>
public sealed class Signup
{
    /// <summary>Its key.</summary>
    public Guid Id { get; set; } = Guid.NewGuid();

    /// <summary>Who signed up.</summary>
    public required string Email { get; set; }
}
