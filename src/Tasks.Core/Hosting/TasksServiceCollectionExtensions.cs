using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Tasks;

/// <summary>Registers Tasks in a host.</summary>
public static class TasksServiceCollectionExtensions
{
    /// <summary>
    /// Adds the task client (also set as <see cref="TaskClient.Ambient"/> when the host starts) and a
    /// hosted <see cref="TaskWorker"/>. Choose a transport on the returned builder, e.g.
    /// <see cref="TasksBuilder.UseInMemoryTransport"/>.
    /// </summary>
    public static TasksBuilder AddAsyncTasks(this IServiceCollection services, Action<TaskWorkerOptions>? configureWorker = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<TaskWorkerOptions>();
        if (configureWorker is not null) options.Configure(configureWorker);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ITaskClient>(sp => new TaskClient(
            sp.GetRequiredService<ITaskTransport>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<TaskWorkerOptions>>().Value.SerializerOptions));
        services.TryAddSingleton(sp => new TaskWorker(
            sp.GetRequiredService<ITaskTransport>(),
            sp.GetRequiredService<IOptions<TaskWorkerOptions>>().Value,
            sp,
            sp.GetService<ILogger<TaskWorker>>(),
            sp.GetRequiredService<TimeProvider>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, TasksHostedService>());
        return new TasksBuilder(services);
    }
}

/// <summary>Configures Tasks after <see cref="TasksServiceCollectionExtensions.AddAsyncTasks"/>.</summary>
public sealed class TasksBuilder
{
    internal TasksBuilder(IServiceCollection services) => Services = services;

    /// <summary>The service collection, for transports' extension methods.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Carries tasks inside this process (nothing survives a restart).</summary>
    public TasksBuilder UseInMemoryTransport()
    {
        Services.TryAddSingleton(sp => new InMemoryTransport(sp.GetRequiredService<TimeProvider>()));
        Services.Replace(ServiceDescriptor.Singleton<ITaskTransport>(sp => sp.GetRequiredService<InMemoryTransport>()));
        return this;
    }

    /// <summary>Only sends tasks from this host; another process runs them.</summary>
    public TasksBuilder WithoutWorker()
    {
        Services.Configure<TasksHostOptions>(o => o.RunWorker = false);
        return this;
    }
}

internal sealed class TasksHostOptions
{
    public bool RunWorker { get; set; } = true;
}

internal sealed class TasksHostedService(IServiceProvider services, IOptions<TasksHostOptions> hostOptions) : IHostedService
{
    private TaskWorker? worker;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (services.GetService<ITaskTransport>() is null)
            throw new InvalidOperationException(
                "Tasks has no transport: choose one after AddAsyncTasks(), e.g. services.AddAsyncTasks().UseInMemoryTransport() " +
                "or .UseAzureQueues(...) (package Tasks.Azure).");
        TaskClient.Ambient = services.GetRequiredService<ITaskClient>();
        if (!hostOptions.Value.RunWorker) return Task.CompletedTask;
        worker = services.GetRequiredService<TaskWorker>();
        return worker.StartAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken)
        => worker?.StopAsync(cancellationToken) ?? Task.CompletedTask;
}
