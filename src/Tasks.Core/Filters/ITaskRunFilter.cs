using System;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Runs around every run of a task in a worker, as ASP.NET Core middleware runs around a request: code before
/// <c>await next()</c> runs before the task, code after it once the task returned, a <c>catch</c> around it sees
/// what the task threw. Register it for every task with <see cref="TasksBuilder.AddRunFilter{TFilter}"/> (scoped:
/// one instance per run, from the run's DI scope, with the task's own scoped services), or for one task with
/// <see cref="TaskFilterAttribute"/> on its method.
/// </summary>
/// <remarks>
/// A filter calls <c>next</c> once, or <see cref="TaskRunContext.Skip"/> instead; returning with neither, calling
/// <c>next</c> twice or after a skip, or skipping after <c>next</c> fail the task permanently (a fault of the filter's code,
/// which no retry fixes), with a reason that names the filter.
/// Order: the filters registered for every task, in registration order (the first is outermost), then the task's
/// own, in attribute order; the task innermost. A filter that does not call <c>next</c> stops the run: call
/// <see cref="TaskRunContext.Skip"/> to end the task (recorded Cancelled, with the reason), or throw. What a filter
/// throws (before or after <c>next</c>) fails the run as if the task had thrown it: retried by the task's policy,
/// dead-lettered at once if it is a <see cref="PermanentTaskException"/>, so a filter can make a failure permanent by
/// wrapping it in one. A value set in an <see cref="AsyncLocal{T}"/> before <c>await next()</c> is seen by the task.
/// </remarks>
public interface ITaskRunFilter
{
    /// <summary>Runs around the run; calls <paramref name="next"/> to go on to the next filter, and the task.</summary>
    ValueTask OnRunAsync(TaskRunContext context, TaskRunNext next);
}

/// <summary>The rest of the run: the next filter, or the task.</summary>
public delegate ValueTask TaskRunNext();

/// <summary>One run of a task, as a run filter sees it.</summary>
public sealed class TaskRunContext
{
    internal TaskRunContext(TaskContext task, TaskDefinition definition, object arguments, IServiceProvider services, CancellationToken cancellationToken)
    {
        Task = task;
        Definition = definition;
        Arguments = arguments;
        Services = services;
        CancellationToken = cancellationToken;
    }

    /// <summary>The task's message: its id, attempt, and the headers enqueue filters added (<see cref="TaskContext.Headers"/>).</summary>
    public TaskContext Task { get; }

    /// <summary>The task: its name, queue, policy.</summary>
    public TaskDefinition Definition { get; }

    /// <summary>The task's arguments (the generated arguments record of its method).</summary>
    public object Arguments { get; }

    /// <summary>The run's DI scope (the host's services for a static task with no scope of its own).</summary>
    public IServiceProvider Services { get; }

    /// <summary>The run's token: fires on a timeout, a cancel by id, or a worker's stop.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>Why a filter skipped the run, or null if none did.</summary>
    public string? SkippedBecause { get; private set; }

    /// <summary>Whether the task was called (the innermost <c>next()</c>).</summary>
    internal bool TaskInvoked { get; set; }

    /// <summary>
    /// Ends the task without running it (call it instead of <c>next</c>): its message is deleted and its record says
    /// Cancelled with "Skipped by a task filter: <paramref name="reason"/>". Its continuations are released as for a cancel.
    /// </summary>
    /// <exception cref="PermanentTaskException">The task ran already (Skip after <c>next()</c>): it cannot be skipped.</exception>
    public void Skip(string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        if (TaskInvoked) throw new PermanentTaskException($"A run filter of task '{Definition.Name}' called Skip() after next(): the task has run, and cannot be skipped.");
        SkippedBecause = reason;
    }
}
