using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Tasks;

/// <summary>
/// Pulls messages from a transport and runs their tasks: bounded concurrency, leases renewed
/// while a task runs, retries with backoff, dead-letter with a reason, and a stop that loses nothing.
/// </summary>
public sealed class TaskWorker : IAsyncDisposable
{
    private readonly ITaskTransport transport;
    private readonly TaskWorkerOptions options;
    private readonly IServiceProvider? services;
    private readonly TaskRegistry registry;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private readonly TaskRecordWriter? records;
    private readonly CancellationTokenSource stopReceiving = new();
    private readonly CancellationTokenSource abortTasks = new();

    // The parts, built once: each owns its state and gets what it needs here.
    private readonly LeaseKeeper leases;
    private readonly TaskLimiter? limiter;
    private readonly QueuePauses pauses;
    private readonly TaskInvoker invoker;
    private readonly RunTracker tracker;
    private readonly PayloadFetcher payloads;
    private readonly MessageHandler handler;
    private readonly RecordKeeping? keeping;
    private readonly ReceiveHealth receiveHealth = new();
    private ConcurrencySlots? slots; // made with the queues, at the first start or run

    private Task receiving = Task.CompletedTask;
    private int startedOnce;
    private volatile bool loopsStarted;
    private int stopped;
    private int faulted;
    private TaskTransportException? fault;

    /// <summary>Creates a worker. It does nothing until <see cref="StartAsync"/> or <see cref="RunOnceAsync"/>.</summary>
    /// <param name="transport">Where messages come from.</param>
    /// <param name="options">Concurrency, leases, retries; null for the defaults.</param>
    /// <param name="services">Resolves the declaring type of instance-method tasks (a scope per task); null if every task is static.</param>
    /// <param name="logger">Where the worker logs.</param>
    /// <param name="timeProvider">The clock for every delay and timeout.</param>
    /// <param name="registry">The dispatch table; <see cref="TaskRegistry.Default"/> if null.</param>
    /// <param name="records">Where the worker records what its tasks do, sends heartbeats and finds cancel requests; null for none.</param>
    public TaskWorker(
        ITaskTransport transport,
        TaskWorkerOptions? options = null,
        IServiceProvider? services = null,
        ILogger<TaskWorker>? logger = null,
        TimeProvider? timeProvider = null,
        TaskRegistry? registry = null,
        TaskRecordStore? records = null)
        : this(transport, options, services, logger, timeProvider, registry, records is { Options.Enabled: true } ? new TaskRecordWriter(records, logger, timeProvider) : null)
    {
    }

    internal TaskWorker(
        ITaskTransport transport,
        TaskWorkerOptions? options,
        IServiceProvider? services,
        ILogger<TaskWorker>? logger,
        TimeProvider? timeProvider,
        TaskRegistry? registry,
        TaskRecordWriter? records)
    {
        this.records = records;
        this.transport = transport ?? throw new ArgumentNullException(nameof(transport));
        this.options = options ?? new TaskWorkerOptions();
        this.options.Validate();
        this.services = services;
        this.logger = logger ?? (ILogger)NullLogger.Instance;
        time = timeProvider ?? TimeProvider.System;
        this.registry = registry ?? TaskRegistry.Default;
        var signer = EnvelopeSigner.Create(this.options.Signing);
        leases = new LeaseKeeper(transport, this.options.LeaseDuration, this.logger, time);
        tracker = new RunTracker(leases, transport, this.logger);
        var cancels = new CancelRequests(records, this.logger, time);
        var recorder = new RunRecorder(records, cancels, Identity, this.logger, time);
        var flows = new FlowCoordinator(records, transport, leases, this.options, abortTasks.Token, this.logger, time);
        var redelivery = records is null ? null : new RedeliveryCheck(records, id => recorder.For(id) is not null, this.logger, time);
        payloads = new PayloadFetcher(transport, this.options, signer, leases, recorder, flows, redelivery, stopReceiving.Token, this.logger, time);
        invoker = new TaskInvoker(services);
        pauses = new QueuePauses(transport as ITaskQueuePauses, this.options.PauseCheckInterval, this.logger, time);
        limiter = transport is ITaskLimitStore limits ? new TaskLimiter(limits, transport, this.options.LeaseDuration, Identity.Id, this.logger, time) : null;
        var runner = new TaskRunner(this.registry, this.options, signer, services is not null, invoker, tracker, leases, records, recorder, cancels, flows, redelivery, limiter, stopReceiving.Token, abortTasks.Token, this.logger, time);
        var ran = new Action<TaskRunResult>(result => TaskRan?.Invoke(result));
        var requeuer = new Requeuer(transport, limiter, time);
        var settler = new Settler(transport, flows, payloads, requeuer, ran, this.logger);
        var packs = new PackRunner(transport, runner, settler, requeuer, tracker, recorder, flows, ran, stopReceiving.Token, this.logger, time);
        handler = new MessageHandler(packs, payloads, runner, settler, tracker, this.logger);
        keeping = records is null ? null : new RecordKeeping(records, cancels, flows, Identity, () => Queues, this.logger, time);
    }

    /// <summary>Who this worker is in heartbeats and records.</summary>
    public TaskWorkerIdentity Identity { get; } = TaskWorkerIdentity.ForThisProcess();

    /// <summary>The record store this worker writes to, or null.</summary>
    public TaskRecordStore? Records => records?.Store;

    /// <summary>Raised after each delivery is settled. Handlers run on the worker's threads and must be quick.</summary>
    public event Action<TaskRunResult>? TaskRan;

    /// <summary>The queues this worker listens on, known once started.</summary>
    public IReadOnlyList<string> Queues => slots?.Queues.ToArray() ?? [];

    /// <summary>The dispatch table the worker runs tasks from.</summary>
    internal TaskRegistry Registry => registry;

    /// <summary>Raised once when the transport reports a fault no retry can fix (credentials refused, say); the worker has stopped receiving.</summary>
    public event Action<TaskTransportException>? Faulted;

    /// <summary>
    /// Checks what can be checked before the first message: the dispatch table, that every
    /// instance-method task can be created from DI, and that the transport reaches its queues with
    /// the credentials it has. Then starts one receive loop per queue (per shard, on a sharded queue).
    /// </summary>
    /// <exception cref="InvalidOperationException">A wire name is declared twice, there is no queue to listen on, or an instance-method task's type is not registered in DI.</exception>
    /// <exception cref="TaskTransportException">The transport refused the configuration (not transient).</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref startedOnce, 1) == 1) return; // a second start must not start a second set of loops
        var slots = this.slots ??= PrepareQueues();
        CheckServices(slots.Queues);
        CheckLimits(slots.Queues);
        var filters = invoker.CheckFilters(registry.Definitions.Where(d => slots.Queues.Contains(d.Queue)));
        try
        {
            await transport.CheckAsync(slots.Queues, cancellationToken).ConfigureAwait(false);
        }
        catch (TaskTransportException ex) when (ex.IsTransient)
        {
            // The service may come up later (a container still starting): the receive loops back off until it does.
            WorkerLog.TransportNotReady(logger, ex, transport.Describe());
        }

        if (keeping is not null) await keeping.CheckAsync(cancellationToken).ConfigureAwait(false);
        await pauses.ReadAsync(slots.Queues, cancellationToken).ConfigureAwait(false);

        var tasks = registry.Definitions.Count(d => slots.Queues.Contains(d.Queue));
        WorkerLog.Started(logger, tasks, DescribeQueues(slots.Queues), transport.Describe(), options.MaxConcurrency,
            options.MaxConcurrencyPerQueue?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none", options.LeaseDuration, options.DrainTimeout, options.StopGrace,
            EnvelopeSigner.Describe(options.Signing, checks: true), records?.Store.Describe() ?? "off", filters);
        receiving = Task.WhenAll(slots.Queues.Select(queue =>
        {
            var receiver = new QueueReceiver(queue, slots.For(queue), transport, options, receiveHealth, pauses, handler.HandOn, Fault, logger, time);
            return Task.Run(() => receiver.RunAsync(stopReceiving.Token), CancellationToken.None);
        }).Append(Task.Run(() => pauses.WatchAsync(slots.Queues, stopReceiving.Token), CancellationToken.None)));
        loopsStarted = true;
        keeping?.Start();
        payloads.StartSweep();
    }

    /// <summary>
    /// Stops receiving, lets running tasks finish for up to <see cref="TaskWorkerOptions.DrainTimeout"/>,
    /// then fires their tokens and makes the messages of those that stop visible again.
    /// If <paramref name="cancellationToken"/> fires, the drain is cut short.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        var started = time.GetTimestamp();
        stopReceiving.Cancel();
        await receiving.ConfigureAwait(false);
        Interlocked.Exchange(ref stopped, 1);
        tracker.Stop();
        if (loopsStarted) WorkerLog.Draining(logger, tracker.Handling, options.DrainTimeout); // a start that failed its checks has nothing to drain
        if (!tracker.Drained.IsCompleted)
        {
            using var drainCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var drain = Task.Delay(options.DrainTimeout, time, drainCts.Token);
            if (await Task.WhenAny(tracker.Drained, drain).ConfigureAwait(false) != tracker.Drained)
            {
                WorkerLog.DrainTimedOut(logger, tracker.Handling);
                try
                {
                    abortTasks.Cancel();
                }
                catch (AggregateException ex)
                {
                    // A task's own token callback threw; the stop goes on to its grace and abandonment.
                    WorkerLog.HandlingFailed(logger, ex, "(stop)", "(all)");
                }
            }

            drainCts.Cancel();
            if (await Task.WhenAny(tracker.Drained, Task.Delay(options.StopGrace, time)).ConfigureAwait(false) != tracker.Drained)
                await tracker.AbandonAsync(options.StopGrace).ConfigureAwait(false);
        }

        await payloads.Sweeping.ConfigureAwait(false);
        if (keeping is not null) await keeping.StopAsync().ConfigureAwait(false);
        if (loopsStarted) WorkerLog.Stopped(logger, time.GetElapsedTime(started), tracker.Released);
    }

    /// <summary>
    /// Receives one batch from each queue and runs it to the end: a deterministic step for tests
    /// and for hosts that drive the worker themselves. Returns how many messages it handled.
    /// </summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken = default)
    {
        var slots = this.slots ??= PrepareQueues();
        var handled = 0;
        foreach (var queue in slots.Queues)
        {
            var batch = await transport.ReceiveAsync(queue, options.BatchSize, options.LeaseDuration, cancellationToken).ConfigureAwait(false);
            await Task.WhenAll(batch.Select(message => handler.HandleAsync(message, slots.For(queue), holdsSlot: false))).ConfigureAwait(false);
            handled += batch.Count;
        }

        return handled;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref stopped) == 0) await StopAsync().ConfigureAwait(false); // not the token: a fault cancels it without draining
        stopReceiving.Dispose();
        if (tracker.HasAbandoned) return; // abandoned runs still hold the token they will release
        abortTasks.Dispose();
        leases.Dispose();
        limiter?.Dispose();
    }

    private ConcurrencySlots PrepareQueues()
    {
        registry.ThrowIfInvalid();
        var queues = options.Queues.Count > 0
            ? options.Queues.Distinct(StringComparer.Ordinal).ToArray()
            : registry.Definitions.Select(d => d.Queue).Distinct(StringComparer.Ordinal).ToArray();
        if (queues.Length == 0)
            throw new InvalidOperationException(
                "The task worker has nothing to run: no [AsyncTask] method is registered in this process and TaskWorkerOptions.Queues is empty. " +
                "Tasks are found when this project is compiled: it needs a PackageReference to Tasks (or Tasks.Azure), so that the generator runs " +
                "in it too, and a reference to the project or package that declares the tasks. Then build again. " +
                "For an assembly loaded at run time (a plug-in), call TaskRegistry.EnsureRegistered(assembly) before the worker starts.");
        return new ConcurrencySlots(options.MaxConcurrency, options.MaxConcurrencyPerQueue, queues, options.QueuePriority, options.QueueWeights);
    }

    /// <summary>An instance-method task whose type DI cannot create would fail on every attempt: say so now, not after the retries.</summary>
    private void CheckServices(IReadOnlyCollection<string> queues)
    {
        var needed = registry.Definitions.Where(d => d.RequiresServices && queues.Contains(d.Queue)).ToArray();
        if (needed.Length == 0) return;
        if (services is null)
            throw new InvalidOperationException(
                $"Task(s) {string.Join(", ", needed.Select(d => $"'{d.Name}'"))} are instance methods, and the worker has no IServiceProvider to create their types from. " +
                "Use services.AddAsyncTaskWorker() in a host, pass an IServiceProvider to the TaskWorker, or make the methods static.");
        if (services.GetService(typeof(IServiceProviderIsService)) is not IServiceProviderIsService isService) return;
        var missing = needed.Where(d => !isService.IsService(d.DeclaringType)).GroupBy(d => d.DeclaringType).ToArray();
        if (missing.Length == 0) return;
        throw new InvalidOperationException(
            "The worker cannot create the declaring type of these instance-method tasks, because it is not registered in DI: " +
            string.Join("; ", missing.Select(g => $"{g.Key.FullName} (task {string.Join(", ", g.Select(d => $"'{d.Name}'"))})")) + ". " +
            $"Register each type, e.g. services.AddScoped<{missing[0].Key.FullName!.Replace('+', '.')}>(), or make the methods static.");
    }

    /// <summary>The queues as the start line says them: with their weights, or their strict order.</summary>
    private string DescribeQueues(IReadOnlyCollection<string> queues) => options.QueuePriority switch
    {
        QueuePriority.Weighted => string.Join(", ", queues.Select(q => $"{q} (weight {(options.QueueWeights.TryGetValue(q, out var weight) ? weight : 1)})")) + ", sharing the slots by weight",
        QueuePriority.Strict => string.Join(", ", queues) + ", in strict order",
        _ => string.Join(", ", queues),
    };

    /// <summary>Limits that could not be kept would let every run through, or none: say so now.</summary>
    private void CheckLimits(IReadOnlyCollection<string> queues)
    {
        var limited = registry.Definitions.Where(d => d.Limits is { Count: > 0 } && queues.Contains(d.Queue)).ToArray();
        if (limited.Length == 0) return;
        if (limiter is null)
            throw new InvalidOperationException(
                $"Task(s) {string.Join(", ", limited.Select(d => $"'{d.Name}'"))} have limits across workers ([ConcurrencyLimit], [RateLimit]), and the transport ({transport.Describe()}) keeps no limit places. " +
                "Use the in-memory or Azure transport, or one that implements ITaskLimitStore.");

        // Tasks of several assemblies may name one limit: the compiler checks each assembly, the worker all of them.
        var disagreeing = registry.Definitions.Where(d => d.Limits is not null).SelectMany(d => d.Limits!.Select(l => (Task: d.Name, Limit: l)))
            .GroupBy(x => (x.Limit.Kind, x.Limit.Name))
            .FirstOrDefault(g => g.Select(x => (x.Limit.Limit, x.Limit.Period)).Distinct().Count() > 1);
        if (disagreeing is not null)
            throw new InvalidOperationException(
                $"Tasks name limit '{disagreeing.Key.Name}' with different numbers: {string.Join("; ", disagreeing.Select(x => $"'{x.Task}': {x.Limit}"))}. Tasks that name one limit share its places: declare the same numbers on each.");
    }

    private void Fault(TaskTransportException ex, string queue)
    {
        if (Interlocked.Exchange(ref faulted, 1) != 0) return;
        Volatile.Write(ref fault, ex);
        WorkerLog.TransportFaulted(logger, ex, queue);
        stopReceiving.Cancel();
        try
        {
            Faulted?.Invoke(ex);
        }
        catch (Exception handlerFailure)
        {
            WorkerLog.HandlingFailed(logger, handlerFailure, "(Faulted handler)", queue);
        }
    }

    /// <summary>Whether the worker is receiving, for a health check: a status and a sentence that says why.</summary>
    internal (HealthStatus Status, string Description) CheckHealth()
    {
        if (Volatile.Read(ref fault) is { } stoppedBy) return (HealthStatus.Unhealthy, $"The worker stopped receiving: {stoppedBy.Message}");
        if (!loopsStarted) return (HealthStatus.Unhealthy, "The worker has not started.");
        if (Volatile.Read(ref stopped) != 0) return (HealthStatus.Unhealthy, "The worker has stopped.");
        var (sinceSuccess, failing) = receiveHealth.Read(time);
        if (failing is not null) return (HealthStatus.Degraded, $"Receiving from '{failing.Queue}' fails, and the worker keeps trying: {failing.Error.Message}");
        return (HealthStatus.Healthy, sinceSuccess is { } ago ? $"Receiving from {Queues.Count} queue(s); the last receive was {ago.TotalSeconds:0.#} s ago." : "Started; no receive has finished yet.");
    }
}
