using System;
using System.Collections.Generic;

namespace Tasks;

/// <summary>
/// Runs on every enqueue of the client, before the task's envelope is written: it sees the task, its arguments and
/// options, and can add headers that travel in the envelope (signed with it, when envelopes are signed) and are read
/// in the worker from <see cref="TaskContext.Headers"/>, e.g. the tenant or culture of the web request that enqueued.
/// Register it with <see cref="TasksBuilder.AddEnqueueFilter{TFilter}"/> (a singleton, called on the enqueuing
/// thread: read request state through <c>IHttpContextAccessor</c> or an <see cref="System.Threading.AsyncLocal{T}"/>).
/// </summary>
/// <remarks>
/// Filters run in registration order, on every task of an enqueue (each task of a batch or chain, a continuation,
/// a batch's callback). What a filter throws fails the enqueue with a <see cref="TaskEnqueueException"/>: nothing is sent.
/// </remarks>
public interface ITaskEnqueueFilter
{
    /// <summary>Called once per task enqueued.</summary>
    void OnEnqueuing(TaskEnqueueContext context);
}

/// <summary>One task being enqueued, as an enqueue filter sees it.</summary>
public sealed class TaskEnqueueContext
{
    private static readonly HashSet<string> Reserved = new(StringComparer.Ordinal)
    {
        TaskHeaders.MessageId, TaskHeaders.EnqueuedAt, TaskHeaders.TraceParent, TaskHeaders.Unique, TaskHeaders.Continuable, TaskHeaders.Parent, TaskHeaders.Batch, TaskHeaders.Outbox,
    };

    private List<KeyValuePair<string, string>>? headers;

    internal TaskEnqueueContext(TaskDefinition task, object arguments, TaskEnqueueOptions? options)
    {
        Task = task;
        Arguments = arguments;
        Options = options;
    }

    /// <summary>The task.</summary>
    public TaskDefinition Task { get; }

    /// <summary>Its arguments (the generated arguments record of its method).</summary>
    public object Arguments { get; }

    /// <summary>The options of this enqueue, or null.</summary>
    public TaskEnqueueOptions? Options { get; }

    /// <summary>The headers filters added so far.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers => headers ?? (IReadOnlyList<KeyValuePair<string, string>>)Array.Empty<KeyValuePair<string, string>>();

    /// <summary>Adds a header to the envelope (or replaces one an earlier filter added).</summary>
    /// <exception cref="ArgumentException">The name is empty or one Tasks uses itself (id, enqueued-at, traceparent, unique, continuable, parent, batch, outbox).</exception>
    public void SetHeader(string name, string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(value);
        if (Reserved.Contains(name)) throw new ArgumentException($"Header '{name}' is one Tasks writes itself; choose another name (e.g. prefixed with your app's).", nameof(name));
        headers ??= new List<KeyValuePair<string, string>>(2);
        var at = headers.FindIndex(h => h.Key == name);
        if (at >= 0) headers[at] = new(name, value);
        else headers.Add(new(name, value));
    }

    internal IReadOnlyList<KeyValuePair<string, string>>? Added => headers;
}
