using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;

namespace Tasks;

/// <summary>
/// Calls a task's method: static ones directly, instance ones in a DI scope of their own, and, where run filters
/// apply (registered for every task, or the task's own), in a scope through the filters. Whether any filter is
/// registered is asked once: a worker with none pays nothing per run for them.
/// </summary>
internal sealed class TaskInvoker
{
    private readonly IServiceProvider services;
    private readonly bool hasScopes;
    private readonly bool filtersForEveryTask;

    public TaskInvoker(IServiceProvider? services)
    {
        this.services = services ?? EmptyServiceProvider.Instance;
        hasScopes = services?.GetService(typeof(IServiceScopeFactory)) is not null;
        filtersForEveryTask = services?.GetService(typeof(IServiceProviderIsService)) is IServiceProviderIsService isService && isService.IsService(typeof(ITaskRunFilter));
    }

    /// <summary>
    /// Makes every run filter of <paramref name="tasks"/> once, in a scope of its own, so a filter whose services are not
    /// registered fails the worker's start with what is missing, not every run of its task.
    /// </summary>
    /// <returns>What runs around the runs, for the worker's start line: "none", or the filters' names.</returns>
    /// <exception cref="InvalidOperationException">A filter cannot be made.</exception>
    public string CheckFilters(IEnumerable<TaskDefinition> tasks)
    {
        var own = tasks.Where(t => t.RunFilters is { Count: > 0 }).ToArray();
        if (!filtersForEveryTask && own.Length == 0) return "none";
        var scope = hasScopes ? services.CreateScope() : null;
        try
        {
            var provider = scope?.ServiceProvider ?? services;
            var every = filtersForEveryTask ? Make("AddRunFilter", () => provider.GetServices<ITaskRunFilter>().ToArray()) : [];
            var named = own.SelectMany(task => Make($"[TaskFilter] of task '{task.Name}'", () => task.RunFilters!.Select(make => make(provider)).ToArray()))
                .Select(f => f.GetType().Name).Distinct(StringComparer.Ordinal).ToArray();
            return string.Join(", ", every.Select(f => f.GetType().Name)) + (every.Length > 0 ? " on every task" : "")
                + (own.Length > 0 ? $"{(every.Length > 0 ? "; " : "")}[TaskFilter] {string.Join(", ", named)} on {own.Length} task(s)" : "");
        }
        finally
        {
            scope?.Dispose();
        }

        static ITaskRunFilter[] Make(string which, Func<ITaskRunFilter[]> make)
        {
            try
            {
                return make();
            }
            catch (Exception ex)
            {
                throw new InvalidOperationException($"A run filter ({which}) cannot be made from DI: {ex.Message} Register what it needs, or change its constructor.", ex);
            }
        }
    }

    /// <summary>Runs the task (through its filters); a filter's skip is left in <see cref="TaskContext.SkippedBecause"/>.</summary>
    public Task InvokeAsync(TaskDefinition task, TaskContext context, object arguments, CancellationToken cancellationToken)
    {
        if (filtersForEveryTask || task.RunFilters is { Count: > 0 }) return FilteredAsync(task, context, arguments, cancellationToken);
        return task.RequiresServices ? InScopeAsync(task, arguments, cancellationToken) : task.InvokeAsync(services, arguments, cancellationToken);
    }

    private async Task InScopeAsync(TaskDefinition task, object arguments, CancellationToken cancellationToken)
    {
        var scope = services.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            await task.InvokeAsync(scope.ServiceProvider, arguments, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task FilteredAsync(TaskDefinition task, TaskContext context, object arguments, CancellationToken cancellationToken)
    {
        // Filters are resolved per run from the run's scope, so a scoped filter shares the task's scoped services.
        AsyncServiceScope? scope = hasScopes ? services.CreateAsyncScope() : null;
        try
        {
            var provider = scope?.ServiceProvider ?? services;
            var filters = new List<ITaskRunFilter>();
            if (filtersForEveryTask) filters.AddRange(provider.GetServices<ITaskRunFilter>());
            if (task.RunFilters is { } own)
            {
                foreach (var make in own) filters.Add(make(provider));
            }

            var run = new TaskRunContext(context, task, arguments, provider, cancellationToken);
            var pipeline = new Pipeline(filters, run, task, provider);
            await pipeline.RunAsync().ConfigureAwait(false);
            context.SkippedBecause = run.SkippedBecause;
        }
        finally
        {
            if (scope is { } owned) await owned.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// One run's way through its filters: each filter gets a <c>next</c> of its own, which runs the next filter (or the
    /// task) once. A misuse is a fault of the code, not of this run, so it fails the task permanently, naming the filter:
    /// <c>next()</c> twice, after <c>Skip()</c>, <c>Skip()</c> after the task ran, or a filter that returned with neither.
    /// </summary>
    private sealed class Pipeline
    {
        private readonly List<ITaskRunFilter> filters;
        private readonly TaskRunContext run;
        private readonly TaskDefinition task;
        private readonly IServiceProvider provider;
        private readonly bool[] called;

        public Pipeline(List<ITaskRunFilter> filters, TaskRunContext run, TaskDefinition task, IServiceProvider provider)
        {
            (this.filters, this.run, this.task, this.provider) = (filters, run, task, provider);
            called = new bool[filters.Count];
        }

        public async Task RunAsync()
        {
            await StepAsync(0).ConfigureAwait(false);
            if (run.TaskInvoked || run.SkippedBecause is not null) return;
            var stopped = Array.IndexOf(called, false);
            throw Misuse(stopped, "returned without calling next() or Skip(reason): the task did not run");
        }

        private ValueTask StepAsync(int at)
        {
            if (at == filters.Count)
            {
                run.TaskInvoked = true;
                return new ValueTask(task.InvokeAsync(provider, run.Arguments, run.CancellationToken));
            }

            return filters[at].OnRunAsync(run, () =>
            {
                if (called[at]) throw Misuse(at, "called next() twice: the task runs once per run");
                if (run.SkippedBecause is not null) throw Misuse(at, "called next() after Skip(): skip the run, or run it");
                called[at] = true;
                return StepAsync(at + 1);
            });
        }

        private PermanentTaskException Misuse(int at, string what)
            => new($"Run filter {filters[Math.Max(0, at)].GetType().Name} of task '{task.Name}' {what}.");
    }

    /// <summary>What a static task's invoker gets without a host: it asks for no service.</summary>
    private sealed class EmptyServiceProvider : IServiceProvider
    {
        public static readonly EmptyServiceProvider Instance = new();

        public object? GetService(Type serviceType) => null;
    }
}
