using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>
/// Runs one envelope: decodes it, checks what must hold before it runs (a copy of a task that ended, attempts left,
/// a place in each of its limits across workers, a released task's claim, a unique task's lock, its own concurrency
/// limit in this worker, a cancel request), then runs it through
/// its filters under its timeout and the worker's stop, its lease kept while it runs long, and decides how to settle it.
/// </summary>
internal sealed class TaskRunner(
    TaskRegistry registry,
    TaskWorkerOptions options,
    EnvelopeSigner? signer,
    bool hasServices,
    TaskInvoker invoker,
    RunTracker tracker,
    LeaseKeeper leases,
    TaskRecordWriter? records,
    RunRecorder recorder,
    CancelRequests cancels,
    FlowCoordinator flows,
    RedeliveryCheck? redelivery,
    TaskLimiter? limiter,
    CancellationToken stopping,
    CancellationToken aborting,
    ILogger logger,
    TimeProvider time)
{
    // One gate per task with [AsyncTask(MaxConcurrency = n)].
    private readonly ConcurrentDictionary<TaskDefinition, SemaphoreSlim> taskGates = new();

    /// <summary>
    /// Decodes and runs one message; says how to settle it, or null if a stop abandoned the run and
    /// released its message. Never throws for a bad message or a failing task. A task of a pack
    /// (<paramref name="inPack"/>) leaves its lease to the pack and is never abandoned alone.
    /// </summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))] // one run each: no Task per run
    public async ValueTask<TaskRunResult?> ExecuteAsync(ReceivedTaskMessage message, bool inPack = false)
    {
        DecodedEnvelope decoded;
        try
        {
            decoded = TaskEnvelope.Read(message.Envelope, registry, options.SerializerOptions, signer);
        }
        catch (TaskEnvelopeException ex)
        {
            message.MessageId = ex.UnknownTask.MessageId ?? message.MessageId;
            return recorder.DeadLettered(message, ex.UnknownTask.TaskName, ex.Message, ex, null);
        }

        var task = decoded.Definition;
        if (!decoded.HasMessageId(message.MessageId)) message.MessageId = decoded.ReadMessageId() ?? message.MessageId;
        using var scope = WorkerLog.TaskScope(logger, task.Name, message.MessageId, message.Attempt);
        var flow = FlowCoordinator.FlowOf(decoded);
        if ((message.Attempt > 1 || message.MayBeCopy) && redelivery is not null && await redelivery.EndedEarlierAsync(message, task.Name).ConfigureAwait(false))
            return TaskRunResult.Of(message, task.Name, TaskOutcome.Skipped);

        if (message.Attempt > task.MaxAttempts)
        {
            // Reached only when earlier deliveries ended without settling (a crash, a lost lease).
            return FlowCoordinator.Flowing(recorder.DeadLettered(message, task.Name, $"Delivered {message.Attempt} times; the task allows {task.MaxAttempts} attempts and earlier runs did not finish.", null, decoded), flow);
        }

        if (task.RequiresServices && !hasServices)
        {
            return FlowCoordinator.Flowing(recorder.DeadLettered(message, task.Name, $"Task '{task.Name}' is an instance method of {task.DeclaringType.FullName}, and the worker has no IServiceProvider to create it from. Use services.AddAsyncTaskWorker(), or pass services to the TaskWorker.", null, decoded), flow);
        }

        // Over a limit, a task waits in its queue without using an attempt; a cancelled one does not wait for a place.
        // Before the claim: a task that waits keeps its message, so it claims its run when it has its places.
        LimitAdmission? admission = null;
        if (limiter is not null && task.Limits is { Count: > 0 })
        {
            if (cancels.IsRequested(message.MessageId)) return FlowCoordinator.Flowing(recorder.CancelledBeforeRun(message, decoded), flow);
            admission = await limiter.AdmitAsync(task, decoded.Arguments, message).ConfigureAwait(false);
            if (admission.IsExpired) return FlowCoordinator.Flowing(recorder.DeadLettered(message, task.Name, admission.Reason!, null, decoded), flow);
            if (!admission.IsAdmitted) return recorder.Deferred(message, task, admission.Delay!.Value, admission.Reason!);
        }

        try
        {
            return await AdmittedAsync(message, decoded, flow, inPack).ConfigureAwait(false);
        }
        finally
        {
            if (admission is not null) limiter!.End(admission);
        }
    }

    /// <summary>The checks after a task's limits admitted it, then its run.</summary>
    private async ValueTask<TaskRunResult?> AdmittedAsync(ReceivedTaskMessage message, DecodedEnvelope decoded, (bool Continuable, string? Parent, string? Batch) flow, bool inPack)
    {
        var task = decoded.Definition;
        // A released continuation, or a task from an outbox: either may be sent twice, and the first message to claim the run runs it.
        // The claim lives in the records: without them (redelivery null) the headers are not even looked at.
        var fromOutbox = redelivery is not null && decoded.HasOutboxHeader;
        if (flow.Parent is not null || fromOutbox)
        {
            // When the store does not answer: a task from an outbox is sent twice as a rule (the sender at the commit and the
            // relay race), so it waits for the store, using no attempt, rather than perhaps run a second time; its record is
            // left as it is (a write now could land after the first copy's Succeeded). A continuation is released twice only
            // across a crash: it runs (at least once). One whose envelope is in the payload store waits by using attempts:
            // on its last, it runs rather than be dead-lettered unrun.
            var waitForStore = fromOutbox && flow.Parent is null && !(TaskPayloadReference.IsReference(message.Body) && message.Attempt >= task.MaxAttempts);
            switch (await flows.ClaimRunAsync(message, waitForStore).ConfigureAwait(false))
            {
                case RunClaim.Copy:
                    WorkerLog.SkippedDuplicate(logger, task.Name, message.MessageId);
                    recorder.DuplicateSkipped(message, decoded);
                    return TaskRunResult.Of(message, task.Name, TaskOutcome.Skipped);
                case RunClaim.WaitForStore:
                    var wait = FlowCoordinator.ClaimWait(message);
                    var reason = $"Its run claim could not be taken (the record store did not answer), and a task from an outbox may have been sent twice: it looks again in {wait.TotalSeconds:N0} s.";
                    WorkerLog.WaitsForRunClaim(logger, task.Name, message.MessageId, reason);
                    return TaskRunResult.Of(message, task.Name, TaskOutcome.Deferred, retryDelay: wait, reason: reason);
            }
        }

        if (redelivery is not null && decoded.HasUniqueHeader && await redelivery.SupersededAsync(message, decoded).ConfigureAwait(false))
            return TaskRunResult.Of(message, task.Name, TaskOutcome.Skipped);

        // A task at its own MaxConcurrency waits here, holding its message's lease, for a run of it to end.
        var gate = TaskGate(task);
        if (gate is not null && !await WaitForGateAsync(gate, inPack ? null : message).ConfigureAwait(false))
        {
            tracker.CountReleased();
            return TaskRunResult.Of(message, task.Name, TaskOutcome.Released);
        }

        if (cancels.IsRequested(message.MessageId))
        {
            gate?.Release();
            return FlowCoordinator.Flowing(recorder.CancelledBeforeRun(message, decoded), flow);
        }

        try
        {
            return FlowCoordinator.Flowing(await RunAsync(message, decoded, inPack).ConfigureAwait(false), flow);
        }
        finally
        {
            gate?.Release();
        }
    }

    private SemaphoreSlim? TaskGate(TaskDefinition task)
        => task.MaxConcurrency is { } limit ? taskGates.GetOrAdd(task, static (_, n) => new SemaphoreSlim(n, n), limit) : null;

    /// <summary>
    /// False if a stop began while the message waited for its task's gate: a run that has not
    /// started does not start during a stop, and its message goes back for another worker.
    /// Renews the lease of <paramref name="leased"/> meanwhile.
    /// </summary>
    private async Task<bool> WaitForGateAsync(SemaphoreSlim gate, ReceivedTaskMessage? leased)
    {
        if (gate.Wait(0)) return StillRunning(gate);
        var hold = leased is null ? null : leases.Hold(leased, time.GetTimestamp());
        try
        {
            await gate.WaitAsync(stopping).ConfigureAwait(false);
            return StillRunning(gate);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return false;
        }
        finally
        {
            if (hold is not null) await hold.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Checked after the gate is taken, not before: a place freed by a run that ends during a stop
    /// must not go to a run that had not started (a check before taking it could pass just before
    /// the stop, and the take succeed just after).
    /// </summary>
    private bool StillRunning(SemaphoreSlim gate)
    {
        if (!stopping.IsCancellationRequested) return true;
        gate.Release();
        return false;
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<TaskRunResult?> RunAsync(ReceivedTaskMessage message, DecodedEnvelope decoded, bool inPack)
    {
        var task = decoded.Definition;
        var timeout = task.Timeout ?? options.TaskTimeout;
        using var activity = StartProcessActivity(message, decoded);
        using var cancellation = new RunCancellation();
        if (!cancels.RunStarting(message.MessageId, message.Queue, cancellation)) return recorder.CancelledBeforeRun(message, decoded);
        var started = time.GetTimestamp();
        var startedAt = time.GetUtcNow();
        RecordStart(task, decoded);
        recorder.Started(message, task, startedAt);
        Exception? failure = null;
        var context = new TaskContext(message, decoded, records, time);
        try
        {
            TaskContext.Current = context;
            var invocation = invoker.InvokeAsync(task, context, decoded.Arguments, cancellation.Token);
            if (!invocation.IsCompleted && inPack)
            {
                // The pack renews its lease and is what a stop abandons.
                cancellation.Arm(time, started, timeout, aborting);
                await invocation.ConfigureAwait(false);
            }
            else if (!invocation.IsCompleted)
            {
                // Timers and lease renewal only for a task that did not finish at once, as most short
                // tasks do; both count from the start, however late they are armed.
                cancellation.Arm(time, started, timeout, aborting);
                (var settles, failure) = await tracker.UnderLeaseAsync(message, task.Name, started, static invocation => invocation, invocation).ConfigureAwait(false);
                if (!settles) return null;
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
            cancels.RunEnded(message.MessageId);
            TasksTelemetry.Duration.Record(time.GetElapsedTime(started).TotalMilliseconds, new KeyValuePair<string, object?>(TasksTelemetry.TaskNameTag, task.Name));
        }

        var decision = RunDecision.Decide(task.Name, failure, message.Attempt, task.MaxAttempts, aborting.IsCancellationRequested, cancellation.TimedOut, timeout, options.Retry, task.RetryDelay, cancellation.CancelledById, context.SkippedBecause);
        if (failure is not null && decision.Outcome != TaskOutcome.Cancelled) activity?.SetStatus(ActivityStatusCode.Error, failure.Message);
        recorder.Ended(message, decoded, startedAt, decision);
        switch (decision.Outcome)
        {
            case TaskOutcome.Released:
                tracker.CountReleased();
                break;
            case TaskOutcome.Retried:
                WorkerLog.Retrying(logger, decision.Failure!, task.Name, message.MessageId, message.Attempt, task.MaxAttempts, decision.RetryDelay!.Value);
                break;
            case TaskOutcome.DeadLettered:
                return recorder.DeadLettered(message, task.Name, decision.Reason!, decision.Failure, decoded);
            case TaskOutcome.Cancelled when decision.Reason is not null:
                WorkerLog.SkippedByFilter(logger, task.Name, message.MessageId, decision.Reason);
                break;
            case TaskOutcome.Cancelled:
                WorkerLog.CancelledWhileRunning(logger, task.Name, message.MessageId);
                break;
        }

        return TaskRunResult.Of(message, task.Name, decision.Outcome, decision.Failure, decision.RetryDelay, decision.Reason);
    }

    private void RecordStart(TaskDefinition task, DecodedEnvelope decoded)
    {
        var name = new KeyValuePair<string, object?>(TasksTelemetry.TaskNameTag, task.Name);
        TasksTelemetry.Started.Add(1, name);
        // The headers are decoded only for a listener: the hot path keeps them encoded.
        if (TasksTelemetry.QueueLag.Enabled && TaskHeaders.EnqueuedAtOf(decoded.ReadHeaders()) is { } enqueuedAt)
            TasksTelemetry.QueueLag.Record(Math.Max(0, (time.GetUtcNow() - enqueuedAt).TotalMilliseconds), name);
    }

    private static Activity? StartProcessActivity(ReceivedTaskMessage message, DecodedEnvelope decoded)
    {
        if (!TasksTelemetry.Source.HasListeners()) return null;
        decoded.ReadHeaders().TryGetValue(TaskHeaders.TraceParent, out var traceParent);
        ActivityContext.TryParse(traceParent, null, out var parent);
        var activity = TasksTelemetry.Source.StartActivity($"process {decoded.Definition.Name}", ActivityKind.Consumer, parent);
        activity?.SetTag(TasksTelemetry.TaskNameTag, decoded.Definition.Name);
        activity?.SetTag(TasksTelemetry.QueueTag, message.Queue);
        TasksTelemetry.TagOperation(activity, "process");
        activity?.SetTag(TasksTelemetry.AttemptTag, message.Attempt);
        activity?.SetTag(TasksTelemetry.MessageIdTag, message.MessageId);
        return activity;
    }
}
