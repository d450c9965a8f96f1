using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Tasks;

/// <summary>
/// Registers Tasks in a host, the way Hangfire users know it (<c>AddHangfire</c>, <c>AddHangfireServer</c>):
/// <see cref="AddAsyncTasks"/> in every process that enqueues (a web API), <see cref="AddAsyncTaskWorker"/>
/// in the processes that run the tasks (a worker service).
/// </summary>
public static class TasksServiceCollectionExtensions
{
    /// <summary>
    /// Adds the task client for enqueueing, and only that: no worker runs in this host. The client is
    /// an <see cref="ITaskClient"/> service and, once the host starts, <see cref="TaskClient.Ambient"/>
    /// (used by the generated <c>Enqueue</c> overloads without a client). At start the host checks that
    /// the transport reaches the queues of the registered tasks. Choose a transport on the returned
    /// builder, e.g. <see cref="TasksBuilder.UseInMemoryTransport"/> or <c>.UseAzureQueues(...)</c>.
    /// </summary>
    public static TasksBuilder AddAsyncTasks(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<TaskWorkerOptions>();
        services.AddOptions<TaskRecordOptions>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ITaskClient>(sp => new TaskClient(
            Transport(sp),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<TaskWorkerOptions>>().Value.SerializerOptions,
            sp.GetRequiredService<IOptions<TaskWorkerOptions>>().Value.Signing,
            sp.GetService<RecordWriterHolder>()?.Writer,
            sp.GetServices<ITaskEnqueueFilter>()));
        services.TryAddSingleton(sp => new RecordWriterHolder(sp.GetService<TaskRecordStore>() is { Options.Enabled: true } store
            ? new TaskRecordWriter(store, sp.GetService<ILogger<TaskRecordWriter>>(), sp.GetRequiredService<TimeProvider>())
            : null));
        services.TryAddSingleton<ITaskRecords>(sp => sp.GetService<TaskRecordStore>() ?? throw new InvalidOperationException(
            "Tasks has no record store: records come with .UseInMemoryTransport() and .UseAzureQueues(...), or .UseTaskRecordStore(...)."));
        services.TryAddSingleton(sp => sp.GetService<TaskRecordStore>()?.Watcher ?? throw new InvalidOperationException(
            "Watching tasks needs a record store: they are on with AddAsyncTasks().UseInMemoryTransport() and UseAzureQueues(...)."));
        services.TryAddSingleton<ITaskQueueMonitor>(sp => sp.GetRequiredService<ITaskTransport>() as ITaskQueueMonitor
            ?? throw new InvalidOperationException($"The task transport {sp.GetRequiredService<ITaskTransport>().GetType().Name} cannot report queue depths (it does not implement ITaskQueueMonitor)."));
        services.TryAddSingleton<ITaskQueuePauses>(sp => sp.GetRequiredService<ITaskTransport>() as ITaskQueuePauses
            ?? throw new InvalidOperationException($"The task transport {sp.GetRequiredService<ITaskTransport>().GetType().Name} cannot pause queues (it does not implement ITaskQueuePauses)."));
        services.TryAddSingleton<ITaskLimitStore>(sp => sp.GetRequiredService<ITaskTransport>() as ITaskLimitStore
            ?? throw new InvalidOperationException($"The task transport {sp.GetRequiredService<ITaskTransport>().GetType().Name} keeps no limits (it does not implement ITaskLimitStore)."));
        services.TryAddSingleton<ITaskDeadLetters>(sp =>
        {
            var deadLetters = sp.GetRequiredService<ITaskTransport>() as ITaskDeadLetters
                ?? throw new InvalidOperationException($"The task transport {sp.GetRequiredService<ITaskTransport>().GetType().Name} cannot list or requeue dead letters (it does not implement ITaskDeadLetters).");
            return sp.GetService<TaskRecordStore>() is { Options.Enabled: true } store ? new RecordedDeadLetters(deadLetters, store) : deadLetters;
        });
        services.TryAddSingleton(sp => new TaskOperations(
            sp.GetRequiredService<ITaskClient>(),
            sp.GetRequiredService<ITaskDeadLetters>(),
            sp.GetService<TaskRecordStore>() is { Options.Enabled: true } store ? store : null,
            sp.GetRequiredService<ITaskTransport>() as IScheduleStore,
            null,
            sp.GetRequiredService<IOptions<TaskWorkerOptions>>().Value.SerializerOptions,
            sp.GetRequiredService<TimeProvider>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, TaskClientHostedService>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, QueueDepthSampler>());
        return new TasksBuilder(services);
    }

    /// <summary>The queues a host works with: its worker's once it has started, or else those of every task it knows.</summary>
    internal static IReadOnlyList<string> QueuesOf(IServiceProvider services)
        => services.GetService<TaskWorker>() is { Queues.Count: > 0 } worker
            ? worker.Queues
            : TaskRegistry.Default.Definitions.Select(d => d.Queue).Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>The host's transport, or a start error that says how to choose one (rather than DI's "no service for type").</summary>
    internal static ITaskTransport Transport(IServiceProvider services)
        => services.GetService<ITaskTransport>() ?? throw new InvalidOperationException(
            "Tasks has no transport: choose one after AddAsyncTasks() or AddAsyncTaskWorker(), e.g. .UseInMemoryTransport() " +
            "or .UseAzureQueues(...) (package Tasks.Azure).");

    /// <summary>
    /// Adds everything <see cref="AddAsyncTasks"/> does, and a hosted <see cref="TaskWorker"/> that runs
    /// the tasks of every assembly this project references, and keeps the schedules of the
    /// <c>[Recurring]</c> tasks on its queues. At start it checks that every
    /// instance-method task's type resolves from DI and that the transport accepts its credentials, and
    /// fails the host with what to fix otherwise.
    /// </summary>
    public static TasksBuilder AddAsyncTaskWorker(this IServiceCollection services, Action<TaskWorkerOptions>? configure = null)
    {
        var builder = services.AddAsyncTasks();
        if (configure is not null) services.Configure(configure);
        services.TryAddSingleton(sp => new TaskWorker(
            Transport(sp),
            sp.GetRequiredService<IOptions<TaskWorkerOptions>>().Value,
            sp,
            sp.GetService<ILogger<TaskWorker>>(),
            sp.GetRequiredService<TimeProvider>(),
            null,
            sp.GetService<RecordWriterHolder>()?.Writer));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, TaskWorkerHostedService>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, RecurringSchedulerHostedService>());
        return builder;
    }
}

/// <summary>Chooses the transport after <see cref="TasksServiceCollectionExtensions.AddAsyncTasks"/> or <see cref="TasksServiceCollectionExtensions.AddAsyncTaskWorker"/>.</summary>
public sealed class TasksBuilder
{
    internal TasksBuilder(IServiceCollection services) => Services = services;

    /// <summary>The service collection, for transports' extension methods.</summary>
    public IServiceCollection Services { get; }

    /// <summary>
    /// Signs envelopes with HMAC-SHA256 (enqueues sign with the first key; workers accept each), and
    /// with <see cref="TaskSigningOptions.Required"/> makes workers refuse unsigned or forged ones.
    /// Give every process the same keys, e.g. <c>o => configuration.GetSection("Tasks:Signing").Bind(o)</c>.
    /// </summary>
    public TasksBuilder UseSigning(Action<TaskSigningOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure<TaskWorkerOptions>(o =>
        {
            o.Signing.Requested = true;
            configure(o.Signing);
        });
        return this;
    }

    /// <summary>
    /// Runs <typeparamref name="TFilter"/> around every run of every task (<see cref="ITaskRunFilter"/>): made per run
    /// from the run's DI scope, in the order filters are added (the first is outermost). Adding one twice adds it once.
    /// </summary>
    public TasksBuilder AddRunFilter<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TFilter>()
        where TFilter : class, ITaskRunFilter
    {
        Services.TryAddEnumerable(ServiceDescriptor.Scoped<ITaskRunFilter, TFilter>());
        return this;
    }

    /// <summary>
    /// Calls <typeparamref name="TFilter"/> on every task this host enqueues (<see cref="ITaskEnqueueFilter"/>): one
    /// instance (a singleton), in the order filters are added. Adding one twice adds it once.
    /// </summary>
    public TasksBuilder AddEnqueueFilter<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TFilter>()
        where TFilter : class, ITaskEnqueueFilter
    {
        Services.TryAddEnumerable(ServiceDescriptor.Singleton<ITaskEnqueueFilter, TFilter>());
        return this;
    }

    /// <summary>Carries tasks inside this process (nothing survives a restart), with their records in memory too.</summary>
    public TasksBuilder UseInMemoryTransport()
    {
        Services.TryAddSingleton(sp => new InMemoryTransport(sp.GetRequiredService<TimeProvider>()));
        Services.Replace(ServiceDescriptor.Singleton<ITaskTransport>(sp => sp.GetRequiredService<InMemoryTransport>()));
        Services.TryAddSingleton<TaskRecordStore>(sp => new InMemoryTaskRecordStore(sp.GetRequiredService<IOptions<TaskRecordOptions>>().Value, sp.GetRequiredService<TimeProvider>()));
        return this;
    }

    /// <summary>
    /// Sets what the task records keep (they are on with both transports): retention, arguments,
    /// heartbeats, cancellation, counters; <c>o => o.Enabled = false</c> turns them off.
    /// </summary>
    public TasksBuilder UseTaskRecords(Action<TaskRecordOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(configure);
        return this;
    }

    /// <summary>Keeps the task records in a store of your choosing, in place of the transport's.</summary>
    public TasksBuilder UseTaskRecordStore(Func<IServiceProvider, TaskRecordStore> store)
    {
        ArgumentNullException.ThrowIfNull(store);
        Services.Replace(ServiceDescriptor.Singleton(store));
        return this;
    }
}

/// <summary>Sets the ambient client; in an enqueue-only host, also checks that the transport reaches the task queues.</summary>
internal sealed class TaskClientHostedService(IServiceProvider services) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var transport = TasksServiceCollectionExtensions.Transport(services);
        TaskClient.Ambient = services.GetRequiredService<ITaskClient>();
        var writer = services.GetService<RecordWriterHolder>()?.Writer;
        RecordWriterHolder.CheckUniqueTasks(writer, HostQueues(services));

        // A worker checks its own queues when it starts.
        if (services.GetService<IServiceProviderIsService>()?.IsService(typeof(TaskWorker)) == true) return;
        var queues = TaskRegistry.Default.Definitions.Select(d => d.Queue).Distinct(StringComparer.Ordinal).ToArray();
        var logger = services.GetService<ILogger<TaskClient>>() ?? (ILogger)NullLogger.Instance;
        // Side by side, each within its service's deadline: a hung service holds the start for one deadline, not one per check.
        var ready = await Task.WhenAll(
            CheckAsync(() => transport.CheckAsync(queues, cancellationToken), ex => TaskClientLog.TransportNotReady(logger, ex, transport.Describe())),
            writer is null ? Task.FromResult(true) : CheckAsync(() => writer.Store.CheckAsync(cancellationToken), ex => TaskClientLog.RecordsNotReady(logger, ex, writer.Store.Describe()))).ConfigureAwait(false);
        if (ready.Contains(false)) return;

        TaskClientLog.Started(logger, transport.Describe(), TaskRegistry.Default.Definitions.Count, string.Join(", ", queues),
            EnvelopeSigner.Describe(services.GetRequiredService<IOptions<TaskWorkerOptions>>().Value.Signing, checks: false), writer?.Store.Describe() ?? "off");
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>A start-time check: false (and said) if its service does not answer yet; a fault no retry fixes stops the start.</summary>
    private static async Task<bool> CheckAsync(Func<ValueTask> check, Action<TaskTransportException> notReady)
    {
        try
        {
            await check().ConfigureAwait(false);
            return true;
        }
        catch (TaskTransportException ex) when (ex.IsTransient)
        {
            notReady(ex);
            return false;
        }
    }

    /// <summary>The queues of the tasks a host works with: a worker's own (before it starts), or every task's in a host that only enqueues.</summary>
    private static IReadOnlyCollection<string> HostQueues(IServiceProvider services)
        => services.GetService<IServiceProviderIsService>()?.IsService(typeof(TaskWorker)) == true && services.GetRequiredService<IOptions<TaskWorkerOptions>>().Value.Queues is { Count: > 0 } own
            ? own.ToHashSet(StringComparer.Ordinal)
            : TaskRegistry.Default.Definitions.Select(d => d.Queue).ToHashSet(StringComparer.Ordinal);
}

/// <summary>Runs the worker with the host, and stops the host when the transport reports a fault no retry can fix.</summary>
internal sealed class TaskWorkerHostedService(TaskWorker worker, IHostApplicationLifetime lifetime) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        worker.Faulted += _ =>
        {
            // Non-zero, so a process supervisor sees a failure rather than a clean exit.
            Environment.ExitCode = 1;
            lifetime.StopApplication();
        };
        return worker.StartAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => worker.StopAsync(cancellationToken);
}

/// <summary>The one record writer of a host, shared by its client and its worker (null: no records).</summary>
internal sealed class RecordWriterHolder(TaskRecordWriter? writer) : IAsyncDisposable
{
    public TaskRecordWriter? Writer { get; } = writer;

    /// <summary>A unique task's lock lives in the record store: a host whose tasks declare UniqueFor cannot start without one.</summary>
    public static void CheckUniqueTasks(TaskRecordWriter? writer, IReadOnlyCollection<string> queues)
    {
        if (writer is not null) return;
        var unique = TaskRegistry.Default.Definitions.Where(d => d.UniqueFor is not null && queues.Contains(d.Queue)).Select(d => $"'{d.Name}'").ToArray();
        if (unique.Length > 0)
            throw new InvalidOperationException(
                $"Task(s) {string.Join(", ", unique)} are unique ([AsyncTask(UniqueFor = ...)]), which needs a record store to hold their locks across processes, and this host has none. " +
                "Records are on with .UseInMemoryTransport() and .UseAzureQueues(...) unless turned off (UseTaskRecords(o => o.Enabled = false)); or add one with .UseTaskRecordStore(...).");
    }

    public ValueTask DisposeAsync() => Writer?.DisposeAsync() ?? default; // the last writes go out when the host stops
}

internal static partial class TaskClientLog
{
    [LoggerMessage(1, LogLevel.Information, "Task client ready (enqueue only, no worker in this process): {Transport}; {TaskCount} task(s) known, on queue(s) {Queues}; signing: {Signing}; records: {Records}")]
    public static partial void Started(ILogger logger, string transport, int taskCount, string queues, string signing, string records);

    [LoggerMessage(2, LogLevel.Warning, "The queue service is not reachable yet ({Transport}); enqueues fail with TaskEnqueueException until it is")]
    public static partial void TransportNotReady(ILogger logger, Exception exception, string transport);

    [LoggerMessage(3, LogLevel.Warning, "The record store is not reachable yet ({Store}); enqueues go on (their records are written when it answers), unique tasks, continuations and chains fail with TaskEnqueueException until it is")]
    public static partial void RecordsNotReady(ILogger logger, Exception exception, string store);
}
