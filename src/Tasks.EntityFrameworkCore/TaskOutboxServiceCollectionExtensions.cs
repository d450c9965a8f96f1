using System;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Tasks.EntityFrameworkCore;

/// <summary>Adds the EF Core outbox to a host.</summary>
public static class TaskOutboxServiceCollectionExtensions
{
    /// <summary>
    /// Adds the outbox for <typeparamref name="TContext"/>: its sender, and a relay (a hosted service) that sends rows a
    /// crash left behind. Add it in every process that enqueues or runs tasks; give the context's options
    /// <see cref="UseTaskOutbox"/>, and its model <see cref="TaskOutboxModelBuilderExtensions.AddTaskOutbox"/>.
    /// </summary>
    public static TasksBuilder AddOutbox<TContext>(this TasksBuilder builder, Action<TaskOutboxOptions>? configure = null)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (configure is not null) builder.Services.Configure(configure);
        builder.Services.TryAddSingleton(sp => new TaskOutbox(
            sp.GetRequiredService<ITaskClient>() as TaskClient ?? throw new InvalidOperationException($"The task outbox sends with the host's TaskClient, and ITaskClient is a {sp.GetRequiredService<ITaskClient>().GetType().Name} here: register the outbox where AddAsyncTasks() registers the client."),
            sp.GetRequiredService<IServiceScopeFactory>(),
            sp.GetRequiredService<IOptions<TaskOutboxOptions>>().Value,
            sp.GetRequiredService<ILogger<TaskOutbox>>()));
        builder.Services.AddSingleton<IHostedService>(sp => new OutboxRelay<TContext>(
            sp.GetRequiredService<TaskOutbox>(),
            sp.GetRequiredService<IServiceScopeFactory>(),
            sp.GetRequiredService<ILogger<OutboxRelay<TContext>>>(),
            sp.GetService<TimeProvider>() ?? TimeProvider.System));
        return builder;
    }

    /// <summary>
    /// Lets a context's changes carry tasks (<see cref="TaskOutboxDbContextExtensions.Tasks"/>): its commits are watched,
    /// and the tasks they hold sent at once. Call it in <c>AddDbContext((services, options) => ...)</c>.
    /// </summary>
    public static DbContextOptionsBuilder UseTaskOutbox(this DbContextOptionsBuilder options, IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(services);
        var outbox = services.GetService<TaskOutbox>()
            ?? throw new InvalidOperationException("UseTaskOutbox needs the outbox in the host: services.AddAsyncTasks()...AddOutbox<YourDbContext>().");
        return options.AddInterceptors(outbox.Interceptors);
    }
}

/// <summary>Enqueues tasks into a <see cref="DbContext"/>.</summary>
public static class TaskOutboxDbContextExtensions
{
    /// <summary>
    /// A client whose enqueues are rows of <paramref name="db"/>: committed with its other changes by your
    /// <c>SaveChanges</c> (or your transaction), sent at once after the commit; a rollback sends nothing. Pass it to
    /// the generated <c>Enqueue</c>: <c>await ShipOrderAsync.Enqueue(db.Tasks(), order.Id)</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The context's options lack <see cref="TaskOutboxServiceCollectionExtensions.UseTaskOutbox"/>, or its model the outbox table.</exception>
    public static ITaskClient Tasks(this DbContext db)
    {
        ArgumentNullException.ThrowIfNull(db);
        var outbox = TaskOutbox.Of(db)
            ?? throw new InvalidOperationException($"{db.GetType().Name} has no task outbox: register it with AddDbContext<{db.GetType().Name}>((services, options) => options.Use...(...).UseTaskOutbox(services)), and services.AddAsyncTasks()...AddOutbox<{db.GetType().Name}>().");
        return outbox.ClientFor(db);
    }
}
