using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Tasks;

/// <summary>
/// Pulls messages from a transport and runs their tasks: bounded concurrency, leases renewed
/// while a task runs, retries with backoff, dead-letter with a reason, and a stop that loses nothing.
/// </summary>
public sealed partial class TaskWorker : IAsyncDisposable
{
    private readonly ITaskTransport transport;
    private readonly TaskWorkerOptions options;
    private readonly IServiceProvider? services;
    private readonly TaskRegistry registry;
    private readonly EnvelopeSigner? signer;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private readonly SemaphoreSlim workerSlots;
    // Null for a queue with no limit of its own: the worker's limit is enough, and one semaphore is cheaper than two.
    private readonly Dictionary<string, SemaphoreSlim?> queueSlots = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource stopReceiving = new();
    private readonly CancellationTokenSource abortTasks = new();
    private readonly TaskCompletionSource drained = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Running tasks, plus one held by the worker until it stops, so "drained" fires only after a stop.
    private int running = 1;
    private int stopped;
    private Task receiving = Task.CompletedTask;
    private int released;
    private int faulted;

    // Runs that did not finish at once (the only ones a stop can wait for), so a stop can abandon those that ignore their token.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ReceivedTaskMessage, string> longRuns = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ReceivedTaskMessage, byte> abandoned = new();

    /// <summary>Creates a worker. It does nothing until <see cref="StartAsync"/> or <see cref="RunOnceAsync"/>.</summary>
    /// <param name="transport">Where messages come from.</param>
    /// <param name="options">Concurrency, leases, retries; null for the defaults.</param>
    /// <param name="services">Resolves the declaring type of instance-method tasks (a scope per task); null if every task is static.</param>
    /// <param name="logger">Where the worker logs.</param>
    /// <param name="timeProvider">The clock for every delay and timeout.</param>
    /// <param name="registry">The dispatch table; <see cref="TaskRegistry.Default"/> if null.</param>
    public TaskWorker(
        ITaskTransport transport,
        TaskWorkerOptions? options = null,
        IServiceProvider? services = null,
        ILogger<TaskWorker>? logger = null,
        TimeProvider? timeProvider = null,
        TaskRegistry? registry = null)
    {
        this.transport = transport ?? throw new ArgumentNullException(nameof(transport));
        this.options = options ?? new TaskWorkerOptions();
        this.options.Validate();
        this.services = services;
        this.logger = logger ?? (ILogger)NullLogger.Instance;
        time = timeProvider ?? TimeProvider.System;
        this.registry = registry ?? TaskRegistry.Default;
        workerSlots = new SemaphoreSlim(this.options.MaxConcurrency, this.options.MaxConcurrency);
        signer = EnvelopeSigner.Create(this.options.Signing);
    }

    /// <summary>Raised after each delivery is settled. Handlers run on the worker's threads and must be quick.</summary>
    public event Action<TaskRunResult>? TaskRan;

    /// <summary>The queues this worker listens on, known once started.</summary>
    public IReadOnlyList<string> Queues => queueSlots.Keys.ToArray();

    /// <summary>Raised once when the transport reports a fault no retry can fix (credentials refused, say); the worker has stopped receiving.</summary>
    public event Action<TaskTransportException>? Faulted;

    /// <summary>
    /// Checks what can be checked before the first message: the dispatch table, that every
    /// instance-method task can be created from DI, and that the transport reaches its queues with
    /// the credentials it has. Then starts one receive loop per queue.
    /// </summary>
    /// <exception cref="InvalidOperationException">A wire name is declared twice, there is no queue to listen on, or an instance-method task's type is not registered in DI.</exception>
    /// <exception cref="TaskTransportException">The transport refused the configuration (not transient).</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (queueSlots.Count == 0) PrepareQueues();
        CheckServices();
        try
        {
            await transport.CheckAsync(queueSlots.Keys, cancellationToken).ConfigureAwait(false);
        }
        catch (TaskTransportException ex) when (ex.IsTransient)
        {
            // The service may come up later (a container still starting): the receive loops back off until it does.
            Log.TransportNotReady(logger, ex, transport.Describe());
        }

        var tasks = registry.Definitions.Count(d => queueSlots.ContainsKey(d.Queue));
        Log.Started(logger, tasks, string.Join(", ", queueSlots.Keys), transport.Describe(), options.MaxConcurrency,
            options.MaxConcurrencyPerQueue?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none", options.LeaseDuration, options.DrainTimeout, options.StopGrace,
            EnvelopeSigner.Describe(options.Signing));
        receiving = Task.WhenAll(queueSlots.Select(q => Task.Run(() => ReceiveLoopAsync(q.Key, q.Value), CancellationToken.None)));
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
        if (Interlocked.Exchange(ref stopped, 1) == 0 && Interlocked.Decrement(ref running) == 0) drained.TrySetResult();
        Log.Draining(logger, Volatile.Read(ref running), options.DrainTimeout);
        if (!drained.Task.IsCompleted)
        {
            using var drainCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var drain = Task.Delay(options.DrainTimeout, time, drainCts.Token);
            if (await Task.WhenAny(drained.Task, drain).ConfigureAwait(false) != drained.Task)
            {
                Log.DrainTimedOut(logger, Volatile.Read(ref running));
                abortTasks.Cancel();
            }

            drainCts.Cancel();
            if (await Task.WhenAny(drained.Task, Task.Delay(options.StopGrace, time)).ConfigureAwait(false) != drained.Task)
                await AbandonAsync().ConfigureAwait(false);
        }

        Log.Stopped(logger, time.GetElapsedTime(started), Volatile.Read(ref released));
    }

    /// <summary>
    /// The tasks still running after their token fired and <see cref="TaskWorkerOptions.StopGrace"/>
    /// passed: their messages become visible again for another worker, and the stop returns. If
    /// such a task finishes later, its result is dropped: the message is no longer this worker's.
    /// </summary>
    private async Task AbandonAsync()
    {
        foreach (var (message, taskName) in longRuns)
        {
            if (!abandoned.TryAdd(message, 0)) continue;
            Log.Abandoned(logger, taskName, message.MessageId, message.Queue, options.StopGrace);
            try
            {
                await transport.ReleaseAsync(message, TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);
                Interlocked.Increment(ref released);
            }
            catch (Exception ex)
            {
                // Its lease ends on its own: the message comes back then.
                Log.SettleFailed(logger, ex, message.MessageId, message.Queue);
            }
        }
    }

    /// <summary>
    /// Receives one batch from each queue and runs it to the end: a deterministic step for tests
    /// and for hosts that drive the worker themselves. Returns how many messages it handled.
    /// </summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken = default)
    {
        if (queueSlots.Count == 0) PrepareQueues();
        var handled = 0;
        foreach (var queue in queueSlots.Keys)
        {
            var batch = await transport.ReceiveAsync(queue, options.BatchSize, options.LeaseDuration, cancellationToken).ConfigureAwait(false);
            await Task.WhenAll(batch.Select(async message => await SettleAsync(message, await ExecuteAsync(message).ConfigureAwait(false)).ConfigureAwait(false))).ConfigureAwait(false);
            handled += batch.Count;
        }

        return handled;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!stopReceiving.IsCancellationRequested) await StopAsync().ConfigureAwait(false);
        stopReceiving.Dispose();
        if (!abandoned.IsEmpty) return; // abandoned runs still hold the token and slots they will release
        abortTasks.Dispose();
        workerSlots.Dispose();
        foreach (var slots in queueSlots.Values) slots?.Dispose();
    }

    private void PrepareQueues()
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
        var perQueue = options.MaxConcurrencyPerQueue is { } limit && limit < options.MaxConcurrency ? limit : (int?)null;
        foreach (var queue in queues) queueSlots[queue] = perQueue is { } n ? new SemaphoreSlim(n, n) : null;
    }

    /// <summary>An instance-method task whose type DI cannot create would fail on every attempt: say so now, not after the retries.</summary>
    private void CheckServices()
    {
        var needed = registry.Definitions.Where(d => d.RequiresServices && queueSlots.ContainsKey(d.Queue)).ToArray();
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

    private async Task ReceiveLoopAsync(string queue, SemaphoreSlim? queueSlot)
    {
        var stopping = stopReceiving.Token;
        var idlePolls = 0;
        while (!stopping.IsCancellationRequested)
        {
            var slots = 0;
            try
            {
                // Hold a slot for every message before receiving it, so no leased message waits for a
                // free slot while its lease runs out, and the limits are never exceeded.
                slots = await AcquireSlotsAsync(queueSlot, stopping).ConfigureAwait(false);
                IReadOnlyList<ReceivedTaskMessage> batch;
                try
                {
                    batch = await transport.ReceiveAsync(queue, slots, options.LeaseDuration, stopping).ConfigureAwait(false);
                }
                catch (TaskTransportException ex) when (!ex.IsTransient)
                {
                    ReleaseSlots(queueSlot, slots);
                    slots = 0;
                    Fault(ex, queue);
                    break;
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
                {
                    ReleaseSlots(queueSlot, slots);
                    slots = 0;
                    var wait = PollingDelay(idlePolls++);
                    Log.ReceiveFailed(logger, ex, queue, wait);
                    await Task.Delay(wait, time, stopping).ConfigureAwait(false);
                    continue;
                }

                ReleaseSlots(queueSlot, slots - batch.Count);
                slots = 0;
                if (batch.Count == 0)
                {
                    await WaitForWorkAsync(queue, PollingDelay(idlePolls++), stopping).ConfigureAwait(false);
                    continue;
                }

                idlePolls = 0;
                foreach (var message in batch)
                {
                    Interlocked.Increment(ref running);
                    ThreadPool.UnsafeQueueUserWorkItem(static state => _ = state.Worker.RunInSlotAsync(state.Message, state.QueueSlot), (Worker: this, Message: message, QueueSlot: queueSlot), preferLocal: false);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                ReleaseSlots(queueSlot, slots);
                break;
            }
        }
    }

    private void Fault(TaskTransportException ex, string queue)
    {
        if (Interlocked.Exchange(ref faulted, 1) != 0) return;
        Log.TransportFaulted(logger, ex, queue);
        stopReceiving.Cancel();
        Faulted?.Invoke(ex);
    }

    private async Task<int> AcquireSlotsAsync(SemaphoreSlim? queueSlot, CancellationToken cancellationToken)
    {
        await AcquireSlotAsync(queueSlot, cancellationToken).ConfigureAwait(false);
        var slots = 1;
        while (slots < options.BatchSize && TryAcquireSlot(queueSlot)) slots++;
        return slots;
    }

    private async Task AcquireSlotAsync(SemaphoreSlim? queueSlot, CancellationToken cancellationToken)
    {
        if (queueSlot is not null) await queueSlot.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await workerSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            queueSlot?.Release();
            throw;
        }
    }

    private bool TryAcquireSlot(SemaphoreSlim? queueSlot)
    {
        if (queueSlot is not null && !queueSlot.Wait(0)) return false;
        if (workerSlots.Wait(0)) return true;
        queueSlot?.Release();
        return false;
    }

    private void ReleaseSlots(SemaphoreSlim? queueSlot, int count)
    {
        if (count <= 0) return;
        queueSlot?.Release(count);
        workerSlots.Release(count);
    }

    private async Task WaitForWorkAsync(string queue, TimeSpan pollingDelay, CancellationToken stopping)
    {
        if (transport is not ITaskTransportNotifications notifications)
        {
            await Task.Delay(pollingDelay, time, stopping).ConfigureAwait(false);
            return;
        }

        // Still poll: a delayed or released message becomes visible without a send to announce it.
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        await Task.WhenAny(Task.Delay(pollingDelay, time, waiting.Token), notifications.WaitForMessageAsync(queue, waiting.Token)).ConfigureAwait(false);
        waiting.Cancel();
        stopping.ThrowIfCancellationRequested();
    }

    private TimeSpan PollingDelay(int idlePolls)
    {
        var ticks = options.MinPollingInterval.Ticks * Math.Pow(2, Math.Min(idlePolls, 20));
        return TimeSpan.FromTicks((long)Math.Min(ticks, options.MaxPollingInterval.Ticks));
    }

    private async Task RunInSlotAsync(ReceivedTaskMessage message, SemaphoreSlim? queueSlot)
    {
        try
        {
            TaskRunResult result;
            try
            {
                result = await ExecuteAsync(message).ConfigureAwait(false);
            }
            finally
            {
                ReleaseSlots(queueSlot, 1);
            }

            // Settling is I/O, not the task's work: it runs outside the concurrency limit, so a slow
            // delete does not keep the next task waiting.
            if (!abandoned.TryRemove(message, out _)) await SettleAsync(message, result).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Nothing awaits this run: say what went wrong; the message comes back when its lease ends.
            Log.HandlingFailed(logger, ex, message.MessageId, message.Queue);
        }
        finally
        {
            if (Interlocked.Decrement(ref running) == 0) drained.TrySetResult();
        }
    }

    /// <summary>Decodes and runs one message; says how to settle it. Never throws for a bad message or a failing task.</summary>
    private async Task<TaskRunResult> ExecuteAsync(ReceivedTaskMessage message)
    {
        DecodedTask decoded;
        try
        {
            decoded = TaskEnvelope.Read(message.Body, registry, options.SerializerOptions, signer);
        }
        catch (TaskEnvelopeException ex)
        {
            return DeadLetter(message, null, ex.Message, ex);
        }

        var task = decoded.Task;
        message.MessageId = decoded.MessageId ?? message.TransportMessageId;
        using var scope = Log.TaskScope(logger, task.Name, message.MessageId, message.Attempt);
        if (message.Attempt > task.MaxAttempts)
        {
            // Reached only when earlier deliveries ended without settling (a crash, a lost lease).
            return DeadLetter(message, task.Name, $"Delivered {message.Attempt} times; the task allows {task.MaxAttempts} attempts and earlier runs did not finish.", null);
        }

        if (task.RequiresServices && services is null)
        {
            return DeadLetter(message, task.Name, $"Task '{task.Name}' is an instance method of {task.DeclaringType.FullName}, and the worker has no IServiceProvider to create it from. Use services.AddAsyncTaskWorker(), or pass services to the TaskWorker.", null);
        }

        using var activity = StartProcessActivity(message, decoded);
        using var cancellation = new RunCancellation();
        var started = time.GetTimestamp();
        Exception? failure = null;
        try
        {
            TaskContext.Current = new TaskContext(message, decoded);
            var invocation = InvokeAsync(task, decoded.Arguments, cancellation.Token);
            if (!invocation.IsCompleted)
            {
                // Timers and lease renewal only for a task that did not finish at once, as most short
                // tasks do; both count from the start, however late they are armed.
                cancellation.Arm(time, started, options.TaskTimeout, abortTasks.Token);
                using var renewing = new CancellationTokenSource();
                var renewal = RenewLeaseLoopAsync(message, started, renewing.Token);
                longRuns[message] = task.Name;
                try
                {
                    await invocation.ConfigureAwait(false);
                }
                finally
                {
                    longRuns.TryRemove(message, out _);
                    renewing.Cancel();
                    await renewal.ConfigureAwait(false);
                }
            }
            else
            {
                await invocation.ConfigureAwait(false); // observes a synchronous failure
            }
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        finally
        {
            TaskContext.Current = null;
            TasksTelemetry.Duration.Record(time.GetElapsedTime(started).TotalMilliseconds, new KeyValuePair<string, object?>(TasksTelemetry.TaskNameTag, task.Name));
        }

        if (failure is null)
            return Result(message, task.Name, TaskOutcome.Completed);

        activity?.SetStatus(ActivityStatusCode.Error, failure.Message);
        if (failure is OperationCanceledException && abortTasks.IsCancellationRequested && !cancellation.TimedOut)
        {
            Interlocked.Increment(ref released);
            return Result(message, task.Name, TaskOutcome.Released, failure);
        }

        if (failure is OperationCanceledException && cancellation.TimedOut)
            failure = new TimeoutException($"Task '{task.Name}' ran longer than its timeout of {options.TaskTimeout}.", failure);

        if (failure is PermanentTaskException)
            return DeadLetter(message, task.Name, $"Task '{task.Name}' failed permanently on attempt {message.Attempt}: {failure.Message}", failure);
        if (message.Attempt >= task.MaxAttempts)
            return DeadLetter(message, task.Name, $"Task '{task.Name}' failed on all {task.MaxAttempts} attempts; the last error was {failure.GetType().Name}: {failure.Message}", failure);

        var delay = options.Retry.GetDelay(message.Attempt);
        Log.Retrying(logger, failure, task.Name, message.MessageId, message.Attempt, task.MaxAttempts, delay);
        return Result(message, task.Name, TaskOutcome.Retried, failure, delay);
    }

    private async Task InvokeAsync(TaskDefinition task, object arguments, CancellationToken cancellationToken)
    {
        if (!task.RequiresServices)
        {
            await task.InvokeAsync(services ?? EmptyServiceProvider.Instance, arguments, cancellationToken).ConfigureAwait(false);
            return;
        }

        var scope = services!.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            await task.InvokeAsync(scope.ServiceProvider, arguments, cancellationToken).ConfigureAwait(false);
        }
    }

    private TaskRunResult DeadLetter(ReceivedTaskMessage message, string? taskName, string reason, Exception? exception)
    {
        Log.DeadLettered(logger, exception, message.MessageId, message.Queue, reason);
        return Result(message, taskName, TaskOutcome.DeadLettered, exception, reason: reason);
    }

    private static TaskRunResult Result(ReceivedTaskMessage message, string? taskName, TaskOutcome outcome, Exception? exception = null, TimeSpan? retryDelay = null, string? reason = null)
        => new(taskName, message.Queue, message.MessageId, message.Attempt, outcome, exception, retryDelay, reason);

    private async Task SettleAsync(ReceivedTaskMessage message, TaskRunResult result)
    {
        try
        {
            // Settling is not cancelled by a stop: a finished task must not run again for want of a delete.
            var settled = result.Outcome switch
            {
                TaskOutcome.Completed => transport.CompleteAsync(message, CancellationToken.None),
                TaskOutcome.Retried => transport.ReleaseAsync(message, result.RetryDelay.GetValueOrDefault(), CancellationToken.None),
                TaskOutcome.Released => transport.ReleaseAsync(message, TimeSpan.Zero, CancellationToken.None),
                _ => transport.DeadLetterAsync(message, DeadLetterReason.From(result.Reason!, result.Exception, message.Attempt), CancellationToken.None),
            };
            await settled.ConfigureAwait(false);
        }
        catch (TaskLeaseLostException ex)
        {
            Log.LeaseLost(logger, ex, message.MessageId, message.Queue);
            return;
        }
        catch (Exception ex)
        {
            Log.SettleFailed(logger, ex, message.MessageId, message.Queue);
            return;
        }

        TasksTelemetry.Processed.Add(1, new KeyValuePair<string, object?>(TasksTelemetry.OutcomeTag, result.Outcome.ToString()));
        TaskRan?.Invoke(result);
    }

    private async Task RenewLeaseLoopAsync(ReceivedTaskMessage message, long started, CancellationToken cancellationToken)
    {
        // One periodic timer from the start of the run: renewals keep to their schedule however late
        // this loop wakes, where re-arming a delay after each renewal would drift with every wake-up.
        // (The semaphore is never disposed: a last tick may still arrive while the timer is disposed.)
        var interval = options.LeaseDuration / 2;
        var first = interval - time.GetElapsedTime(started);
        var ticks = new SemaphoreSlim(0);
        using var timer = time.CreateTimer(static state => ((SemaphoreSlim)state!).Release(), ticks, first > TimeSpan.Zero ? first : TimeSpan.Zero, interval);
        while (true)
        {
            try
            {
                await ticks.WaitAsync(cancellationToken).ConfigureAwait(false);
                while (ticks.Wait(0))
                {
                    // Ticks missed while the last renewal ran are one renewal, not several.
                }

                // Never cancelled once sent: a renewal the service applied but whose answer we dropped
                // would leave us holding a dead receipt, and the final delete would fail.
                await transport.RenewLeaseAsync(message, options.LeaseDuration, CancellationToken.None).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (TaskLeaseLostException ex)
            {
                Log.LeaseLost(logger, ex, message.MessageId, message.Queue);
                return;
            }
            catch (Exception ex)
            {
                Log.RenewFailed(logger, ex, message.MessageId, message.Queue);
            }
        }
    }

    private static Activity? StartProcessActivity(ReceivedTaskMessage message, DecodedTask decoded)
    {
        if (!TasksTelemetry.Source.HasListeners()) return null;
        decoded.ReadHeaders().TryGetValue(TaskHeaders.TraceParent, out var traceParent);
        ActivityContext.TryParse(traceParent, null, out var parent);
        var activity = TasksTelemetry.Source.StartActivity($"process {decoded.Task.Name}", ActivityKind.Consumer, parent);
        activity?.SetTag(TasksTelemetry.TaskNameTag, decoded.Task.Name);
        activity?.SetTag(TasksTelemetry.QueueTag, message.Queue);
        activity?.SetTag(TasksTelemetry.AttemptTag, message.Attempt);
        activity?.SetTag(TasksTelemetry.MessageIdTag, message.MessageId);
        return activity;
    }

    /// <summary>The token of one run: fires when the run times out or the worker stops waiting for it.</summary>
    private sealed class RunCancellation : IDisposable
    {
        private readonly CancellationTokenSource source = new();
        private ITimer? timer;
        private CancellationTokenRegistration abort;
        private volatile bool timedOut;

        public CancellationToken Token => source.Token;

        public bool TimedOut => timedOut;

        public void Arm(TimeProvider time, long started, TimeSpan? timeout, CancellationToken stopping)
        {
            if (timeout is { } limit)
            {
                var remaining = limit - time.GetElapsedTime(started);
                timer = time.CreateTimer(static state => ((RunCancellation)state!).TimeOut(), this, remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
            }

            abort = stopping.UnsafeRegister(static state => ((RunCancellation)state!).source.Cancel(), this);
        }

        public void Dispose()
        {
            timer?.Dispose();
            abort.Dispose();
            source.Dispose();
        }

        private void TimeOut()
        {
            timedOut = true;
            try
            {
                source.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // A disposed timer may still deliver one last tick after the run has ended.
            }
        }
    }

    private sealed class EmptyServiceProvider : IServiceProvider
    {
        public static readonly EmptyServiceProvider Instance = new();

        public object? GetService(Type serviceType) => null;
    }
}
