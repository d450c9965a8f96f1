using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Tasks.Core.Tests;

/// <summary>Tasks whose runs the filter tests watch; each run says what it saw.</summary>
public static partial class FilteredTasks
{
    public const string Queue = "filtered";

    public static readonly ConcurrentQueue<string> Log = new();

    /// <summary>The name a run was given: what a filter reads from the task's typed arguments.</summary>
    public static string RunName(object arguments) => arguments switch
    {
        PlainAsync.Arguments plain => plain.name,
        AuditedAsync.Arguments audited => audited.name,
        _ => throw new ArgumentException("not a filtered task", nameof(arguments)),
    };

    [AsyncTask(Queue = Queue, MaxAttempts = 2, RetryDelay = "00:00:00.050")]
    public static Task Plain(CancellationToken cancellationToken, string name)
    {
        Log.Enqueue($"{name}: task sees tenant {Tenant.Current ?? "none"}");
        return Task.CompletedTask;
    }

    [AsyncTask(Queue = Queue), TaskFilter(typeof(OwnFilter)), TaskFilter(typeof(SecondOwnFilter))]
    public static Task Audited(CancellationToken cancellationToken, string name)
    {
        Log.Enqueue($"{name}: task");
        return Task.CompletedTask;
    }
}

/// <summary>The tenant of the current flow: set by the web request in an app, by the run filter in the worker.</summary>
public static class Tenant
{
    private static readonly AsyncLocal<string?> current = new();

    public static string? Current
    {
        get => current.Value;
        set => current.Value = value;
    }
}

/// <summary>Copies the enqueuing flow's tenant into a header.</summary>
public sealed class TenantEnqueueFilter : ITaskEnqueueFilter
{
    public void OnEnqueuing(TaskEnqueueContext context)
    {
        if (Tenant.Current is { } tenant) context.SetHeader("tenant", tenant);
    }
}

/// <summary>Sets the tenant a header carries for the task's run; skips the runs of a suspended tenant.</summary>
public sealed class TenantRunFilter : ITaskRunFilter
{
    public async ValueTask OnRunAsync(TaskRunContext context, TaskRunNext next)
    {
        var tenant = context.Task.Headers.GetValueOrDefault("tenant");
        if (tenant == "suspended")
        {
            context.Skip($"tenant {tenant} is suspended");
            return;
        }

        Tenant.Current = tenant;
        try
        {
            await next();
        }
        finally
        {
            Tenant.Current = null;
        }
    }
}

public abstract class LoggingFilter(string name) : ITaskRunFilter
{
    public async ValueTask OnRunAsync(TaskRunContext context, TaskRunNext next)
    {
        var run = FilteredTasks.RunName(context.Arguments);
        FilteredTasks.Log.Enqueue($"{run}: {name} before");
        try
        {
            await next();
            FilteredTasks.Log.Enqueue($"{run}: {name} after");
        }
        catch (Exception ex)
        {
            FilteredTasks.Log.Enqueue($"{run}: {name} saw {ex.Message}");
            throw;
        }
    }
}

public sealed class OuterFilter() : LoggingFilter("outer");

public sealed class InnerFilter() : LoggingFilter("inner");

public sealed class OwnFilter() : LoggingFilter("own");

public sealed class SecondOwnFilter() : LoggingFilter("own2");

/// <summary>Throws before the task for runs named "throw-*", as a permanent failure for "permanent-*".</summary>
public sealed class ThrowingFilter : ITaskRunFilter
{
    public ValueTask OnRunAsync(TaskRunContext context, TaskRunNext next)
    {
        var run = FilteredTasks.RunName(context.Arguments);
        if (run.StartsWith("throw-", StringComparison.Ordinal)) throw new InvalidOperationException("the filter failed");
        if (run.StartsWith("permanent-", StringComparison.Ordinal)) throw new PermanentTaskException("the filter refused it for good");
        return next();
    }
}

/// <summary>Filter code with the mistakes people make: returning without next() or Skip(), skipping after next().</summary>
public sealed class MistakenFilter : ITaskRunFilter
{
    public async ValueTask OnRunAsync(TaskRunContext context, TaskRunNext next)
    {
        var run = FilteredTasks.RunName(context.Arguments);
        if (run.StartsWith("forgot-", StringComparison.Ordinal)) return;
        await next();
        if (run.StartsWith("late-", StringComparison.Ordinal)) context.Skip("too late");
    }
}

public interface IUnregistered;

public sealed class NeedsUnregisteredFilter(IUnregistered unregistered) : ITaskRunFilter
{
    public ValueTask OnRunAsync(TaskRunContext context, TaskRunNext next) => unregistered is null ? default : next();
}

/// <summary>Task filters in a host, in memory: an enqueue filter's header read by a run filter, order, skips and failures.</summary>
public sealed class FilterTests
{
    [Fact]
    public async Task A_tenant_set_where_the_task_is_enqueued_travels_in_a_header_and_the_run_filter_sets_it_for_the_task()
    {
        await using var host = await FilterHost.StartAsync(b => b.AddEnqueueFilter<TenantEnqueueFilter>().AddRunFilter<TenantRunFilter>());
        Tenant.Current = "acme";
        var id = await FilteredTasks.PlainAsync.Enqueue(host.Client, "t1");
        Tenant.Current = null;
        var none = await FilteredTasks.PlainAsync.Enqueue(host.Client, "t2");

        await host.WaitForAsync(id, none);

        Assert.Contains("t1: task sees tenant acme", FilteredTasks.Log);
        Assert.Contains("t2: task sees tenant none", FilteredTasks.Log);
        Assert.Equal(TaskState.Succeeded, (await host.Records.GetAsync(id))!.State);
    }

    [Fact]
    public async Task Filters_for_every_task_run_outside_a_tasks_own_in_the_order_they_were_added()
    {
        await using var host = await FilterHost.StartAsync(b => b.AddRunFilter<OuterFilter>().AddRunFilter<InnerFilter>());
        var id = await FilteredTasks.AuditedAsync.Enqueue(host.Client, "o1");
        await host.WaitForAsync(id);

        Assert.Equal(
            ["o1: outer before", "o1: inner before", "o1: own before", "o1: own2 before", "o1: task", "o1: own2 after", "o1: own after", "o1: inner after", "o1: outer after"],
            FilteredTasks.Log.Where(l => l.StartsWith("o1:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_skip_ends_the_task_cancelled_with_the_reason_and_it_never_runs()
    {
        await using var host = await FilterHost.StartAsync(b => b.AddEnqueueFilter<TenantEnqueueFilter>().AddRunFilter<TenantRunFilter>());
        Tenant.Current = "suspended";
        var id = await FilteredTasks.PlainAsync.Enqueue(host.Client, "s1");
        Tenant.Current = null;

        var record = await host.WaitForAsync(id);

        Assert.Equal(TaskState.Cancelled, record.State);
        Assert.Equal("Skipped by a task filter: tenant suspended is suspended", record.Reason);
        Assert.DoesNotContain(FilteredTasks.Log, l => l.StartsWith("s1:", StringComparison.Ordinal));
        var result = Assert.Single(host.Results, r => r.MessageId == id);
        Assert.Equal(TaskOutcome.Cancelled, result.Outcome);
    }

    [Fact]
    public async Task A_filter_that_throws_fails_the_run_as_the_task_would_retried_and_a_permanent_one_dead_letters_at_once()
    {
        await using var host = await FilterHost.StartAsync(b => b.AddRunFilter<OuterFilter>().AddRunFilter<ThrowingFilter>());
        var retried = await FilteredTasks.PlainAsync.Enqueue(host.Client, "throw-1");
        var permanent = await FilteredTasks.PlainAsync.Enqueue(host.Client, "permanent-1");

        var (a, b) = (await host.WaitForAsync(retried), await host.WaitForAsync(permanent));

        Assert.Equal((TaskState.DeadLettered, 2), (a.State, a.Attempts)); // MaxAttempts = 2: retried once
        Assert.Contains("the filter failed", a.Reason);
        Assert.Equal((TaskState.DeadLettered, 1), (b.State, b.Attempts));
        Assert.Contains("failed permanently", b.Reason);
        Assert.Equal(2, FilteredTasks.Log.Count(l => l == "throw-1: outer saw the filter failed")); // an outer filter sees what an inner one threw
        Assert.DoesNotContain(FilteredTasks.Log, l => l.Contains("task sees", StringComparison.Ordinal) && l.Contains("-1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_enqueue_filter_that_throws_or_sets_a_header_tasks_own_fails_the_enqueue_and_nothing_is_sent()
    {
        await using var host = await FilterHost.StartAsync(b => b.AddEnqueueFilter<ReservedHeaderFilter>(), worker: false);

        var error = await Assert.ThrowsAsync<TaskEnqueueException>(() => FilteredTasks.PlainAsync.Enqueue(host.Client, "e1").AsTask());

        Assert.Contains("ReservedHeaderFilter", error.Message);
        Assert.Contains("Header 'parent' is one Tasks writes itself", error.Message);
        Assert.Equal(0, (await host.Transport.GetDepthAsync(FilteredTasks.Queue)).Messages);
    }

    [Fact]
    public async Task A_filter_that_returns_without_next_or_skips_after_it_fails_the_task_at_once_naming_itself()
    {
        await using var host = await FilterHost.StartAsync(b => b.AddRunFilter<MistakenFilter>());
        var forgot = await FilteredTasks.PlainAsync.Enqueue(host.Client, "forgot-1");
        var late = await FilteredTasks.PlainAsync.Enqueue(host.Client, "late-1");

        var (a, b) = (await host.WaitForAsync(forgot), await host.WaitForAsync(late));

        Assert.Equal((TaskState.DeadLettered, 1), (a.State, a.Attempts)); // a fault of the code: no retry
        Assert.Contains("Run filter MistakenFilter of task 'Tasks.Core.Tests.FilteredTasks.Plain' returned without calling next() or Skip(reason)", a.Reason);
        Assert.DoesNotContain(FilteredTasks.Log, l => l.StartsWith("forgot-1:", StringComparison.Ordinal));
        Assert.Equal((TaskState.DeadLettered, 1), (b.State, b.Attempts));
        Assert.Contains("called Skip() after next(): the task has run", b.Reason);
    }

    [Fact]
    public async Task A_run_filter_that_cannot_be_made_from_DI_fails_the_start_with_what_is_missing()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => FilterHost.StartAsync(b => b.AddRunFilter<NeedsUnregisteredFilter>()));

        Assert.Contains("A run filter (AddRunFilter) cannot be made from DI", error.Message);
        Assert.Contains("IUnregistered", error.Message);
    }

    private sealed class ReservedHeaderFilter : ITaskEnqueueFilter
    {
        public void OnEnqueuing(TaskEnqueueContext context) => context.SetHeader("parent", "forged");
    }
}

/// <summary>A host with the in-memory transport, records and a worker on the filtered queue, with the filters a test adds.</summary>
internal sealed class FilterHost : IAsyncDisposable
{
    private readonly IHost host;
    private readonly ConcurrentQueue<TaskRunResult> results = new();

    private FilterHost(IHost host) => this.host = host;

    public ITaskClient Client => host.Services.GetRequiredService<ITaskClient>();

    public ITaskRecords Records => host.Services.GetRequiredService<ITaskRecords>();

    public InMemoryTransport Transport => host.Services.GetRequiredService<InMemoryTransport>();

    public IReadOnlyCollection<TaskRunResult> Results => results;

    public static async Task<FilterHost> StartAsync(Action<TasksBuilder> filters, bool worker = true)
    {
        var builder = Host.CreateApplicationBuilder();
        var tasks = worker
            ? builder.Services.AddAsyncTaskWorker(o =>
            {
                o.Queues.Add(FilteredTasks.Queue);
                (o.MinPollingInterval, o.MaxPollingInterval) = (TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(20));
            })
            : builder.Services.AddAsyncTasks();
        tasks.UseInMemoryTransport().UseTaskRecords(o => o.FlushInterval = TimeSpan.FromMilliseconds(20));
        filters(tasks);
        var filterHost = new FilterHost(builder.Build());
        if (worker) filterHost.host.Services.GetRequiredService<TaskWorker>().TaskRan += filterHost.results.Enqueue;
        await filterHost.host.StartAsync();
        return filterHost;
    }

    /// <summary>Waits until each task has ended; returns the last one's record.</summary>
    public async Task<TaskRecord> WaitForAsync(params string[] ids)
    {
        TaskRecord? record = null;
        foreach (var id in ids)
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while ((record = await Records.GetAsync(id)) is not { IsFinished: true })
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"Task {id} did not end in 20 s (state {record?.State}).");
                await Task.Delay(20);
            }
        }

        return record!;
    }

    public async ValueTask DisposeAsync()
    {
        await host.StopAsync();
        host.Dispose();
    }
}
