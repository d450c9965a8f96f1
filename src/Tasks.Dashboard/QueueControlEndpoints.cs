using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Tasks.Dashboard.Pages;
using Tasks.Transports;

namespace Tasks.Dashboard;

/// <summary>The dashboard's view of limits across workers, and its pause and resume of queues (docs/limits.md).</summary>
internal static class QueueControlEndpoints
{
    public static void Map(RouteGroupBuilder group)
    {
        group.MapGet("/limits", LimitsAsync);
        group.MapPost("/queue/{queue}/{action:regex(^(pause|resume)$)}", QueueActionAsync);
    }

    private static async Task<IResult> LimitsAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var store = context.RequestServices.GetRequiredService<ITaskTransport>() as ITaskLimitStore;
        var limits = store is null ? [] : await store.ListAsync(DateTimeOffset.UtcNow, cancellationToken).ConfigureAwait(false);
        return await DashboardEndpoints.RenderAsync<LimitsPage>(context, "/limits", new LimitsModel(limits, store is not null)).ConfigureAwait(false);
    }

    private static async Task<IResult> QueueActionAsync(HttpContext context, string queue, string action, CancellationToken cancellationToken)
    {
        if (Pauses(context.RequestServices) is not { } pauses) return DashboardEndpoints.Redirect(context, "", "This transport cannot pause queues.");
        if (!DashboardEndpoints.Queues().Contains(queue, StringComparer.Ordinal)) return DashboardEndpoints.Redirect(context, "", $"There is no task queue '{queue}' in this app.");
        if (action == "pause") await pauses.PauseAsync(queue, cancellationToken).ConfigureAwait(false);
        else await pauses.ResumeAsync(queue, cancellationToken).ConfigureAwait(false);
        return DashboardEndpoints.Redirect(context, "", action == "pause"
            ? $"Queue '{queue}' is paused: every worker stops receiving from it within 5 s; its messages wait untouched."
            : $"Queue '{queue}' is resumed: every worker receives from it again within 5 s.");
    }

    internal static ITaskQueuePauses? Pauses(IServiceProvider services) => services.GetRequiredService<ITaskTransport>() as ITaskQueuePauses;
}
