using System;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Tasks.Dashboard;

/// <summary>
/// Mounts the dashboard in an ASP.NET Core app that has Tasks (<c>AddAsyncTasks()</c> or <c>AddAsyncTaskWorker()</c>):
/// <c>builder.Services.AddTasksDashboard();</c> then <c>app.MapTasksDashboard("/tasks");</c>.
/// Until the endpoints require an authorization policy (<c>.RequireAuthorization("ops")</c> on what
/// <see cref="MapTasksDashboard"/> returns), only requests from this machine are served.
/// </summary>
public static class TasksDashboardExtensions
{
    /// <summary>Adds what the dashboard needs (antiforgery for its forms) and its options.</summary>
    public static IServiceCollection AddTasksDashboard(this IServiceCollection services, Action<TasksDashboardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddAntiforgery();
        var options = services.AddOptions<TasksDashboardOptions>();
        if (configure is not null) options.Configure(configure);
        options.Validate(o =>
        {
            o.Validate();
            return true;
        }).ValidateOnStart();
        return services;
    }

    /// <summary>
    /// Maps the dashboard's pages and actions under <paramref name="prefix"/>. Returns their group, so
    /// <c>.RequireAuthorization("ops")</c> (or any convention) applies to every one of them.
    /// </summary>
    /// <exception cref="InvalidOperationException"><see cref="AddTasksDashboard"/> was not called.</exception>
    public static RouteGroupBuilder MapTasksDashboard(this IEndpointRouteBuilder endpoints, string prefix = "/tasks")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(prefix);
        if (endpoints.ServiceProvider.GetService(typeof(Microsoft.AspNetCore.Antiforgery.IAntiforgery)) is null)
            throw new InvalidOperationException("The Tasks dashboard needs its services: call builder.Services.AddTasksDashboard() before builder.Build().");
        if (endpoints.ServiceProvider.GetService(typeof(TaskOperations)) is null)
            throw new InvalidOperationException("The Tasks dashboard shows the tasks of this app, and it has none: call builder.Services.AddAsyncTasks() (or AddAsyncTaskWorker()) with a transport, e.g. .UseAzureQueues(...), before builder.Build().");
        return DashboardEndpoints.Map(endpoints, prefix.TrimEnd('/'));
    }
}
