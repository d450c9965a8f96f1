using System;
using System.Collections.Generic;
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
            await new Pipeline(filters, run, task, provider).NextAsync().ConfigureAwait(false);
            context.SkippedBecause = run.SkippedBecause;
        }
        finally
        {
            if (scope is { } owned) await owned.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>One run's way through its filters: each <c>next</c> moves one filter in, the last calls the task.</summary>
    private sealed class Pipeline
    {
        private readonly List<ITaskRunFilter> filters;
        private readonly TaskRunContext run;
        private readonly TaskDefinition task;
        private readonly IServiceProvider provider;
        private readonly TaskRunNext next;
        private int position;

        public Pipeline(List<ITaskRunFilter> filters, TaskRunContext run, TaskDefinition task, IServiceProvider provider)
        {
            (this.filters, this.run, this.task, this.provider) = (filters, run, task, provider);
            next = NextAsync;
        }

        public ValueTask NextAsync()
        {
            var at = position++;
            if (at < filters.Count) return filters[at].OnRunAsync(run, next);
            if (at > filters.Count) throw new InvalidOperationException($"A run filter of task '{task.Name}' called next() twice: the task runs once per run.");
            if (run.SkippedBecause is not null) throw new InvalidOperationException($"A run filter of task '{task.Name}' called next() after Skip(): skip the run, or run it.");
            return new ValueTask(task.InvokeAsync(provider, run.Arguments, run.CancellationToken));
        }
    }

    /// <summary>What a static task's invoker gets without a host: it asks for no service.</summary>
    private sealed class EmptyServiceProvider : IServiceProvider
    {
        public static readonly EmptyServiceProvider Instance = new();

        public object? GetService(Type serviceType) => null;
    }
}
