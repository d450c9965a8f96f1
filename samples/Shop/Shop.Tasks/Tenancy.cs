using Microsoft.Extensions.Logging;
using Tasks;

namespace Shop.Tasks;

/// <summary>
/// The shop's tenant: each request names one (the <c>X-Tenant</c> header), and each task runs for the tenant of the
/// request that enqueued it. The API's enqueue filter puts it in the envelope; <see cref="TenantRunFilter"/> sets it
/// for the run, so task code reads <see cref="Current"/> as request code does.
/// </summary>
public static class Tenant
{
    /// <summary>The envelope header that carries the tenant from the enqueue to the run.</summary>
    public const string Header = "shop-tenant";

    private static readonly AsyncLocal<string?> current = new();

    /// <summary>The tenant of this request or task run, or null.</summary>
    public static string? Current
    {
        get => current.Value;
        set => current.Value = value;
    }
}

/// <summary>Runs each task for the tenant its envelope carries, in a logging scope that names it (the worker adds it for every task).</summary>
public sealed class TenantRunFilter(ILogger<TenantRunFilter> logger) : ITaskRunFilter
{
    /// <inheritdoc />
    public async ValueTask OnRunAsync(TaskRunContext context, TaskRunNext next)
    {
        var tenant = context.Task.Headers.GetValueOrDefault(Tenant.Header);
        using var scope = logger.BeginScope(new Dictionary<string, object?> { ["Tenant"] = tenant });
        Tenant.Current = tenant; // set before next(): the task's flow sees it
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
