using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Htmx;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Tasks.Dashboard.Pages;
using Tasks.Transports;

namespace Tasks.Dashboard;

/// <summary>
/// The dashboard's one route table: each page gathers its data from the library's API (records, queue
/// depths, dead letters, schedules) and renders a Razor component on the server; each action is a
/// POST with an antiforgery token that calls one <see cref="TaskOperations"/> method and redirects.
/// </summary>
internal static partial class DashboardEndpoints
{
    // No inline script or style anywhere: the page's own CSS and htmx, from the package.
    private const string ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public static RouteGroupBuilder Map(IEndpointRouteBuilder endpoints, string prefix)
    {
        var group = endpoints.MapGroup(prefix);
        group.WithMetadata(new DashboardPrefix(prefix));
        group.AddEndpointFilter(GuardAsync);
        group.MapGet("", OverviewAsync);
        group.MapGet("/list", ListAsync);
        group.MapGet("/task/{id}", TaskAsync);
        group.MapPost("/task/{id}/{action:regex(^(requeue|cancel|delete)$)}", TaskActionAsync);
        group.MapGet("/dead", DeadLettersAsync);
        group.MapPost("/dead/{queue}", DeadLettersActionAsync);
        group.MapGet("/recurring", RecurringAsync);
        group.MapPost("/recurring/trigger", TriggerAsync);
        group.MapGet("/workers", WorkersAsync);
        QueueControlEndpoints.Map(group);
        group.MapGet("/batch/{id}", BatchAsync);
        group.MapGet("/assets/{name}", Asset);
        return group;
    }

    /// <summary>
    /// Before every page and action: only local requests until the endpoints require authorization
    /// (Hangfire's LocalRequestsOnlyAuthorizationFilter, the other way round: safe unless told
    /// otherwise), the security headers, and no action in read-only mode.
    /// </summary>
    private static async ValueTask<object?> GuardAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        var options = Options(context);
        var authorized = context.GetEndpoint()?.Metadata.GetMetadata<IAuthorizeData>() is not null;
        if (!authorized && !options.AllowRemoteRequestsWithoutAuthorization && !IsLocal(context))
            return Results.Text("The Tasks dashboard serves only requests from this machine until its endpoints require authorization: app.MapTasksDashboard(\"/tasks\").RequireAuthorization(\"<policy>\").", statusCode: StatusCodes.Status403Forbidden);
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "same-origin";
        if (HttpMethods.IsPost(context.Request.Method))
        {
            if (options.ReadOnly) return Results.Text("The Tasks dashboard is read-only (TasksDashboardOptions.ReadOnly): it changes nothing.", statusCode: StatusCodes.Status403Forbidden);
            try
            {
                await context.RequestServices.GetRequiredService<IAntiforgery>().ValidateRequestAsync(context).ConfigureAwait(false);
            }
            catch (AntiforgeryValidationException)
            {
                return Results.Text("This form has no valid antiforgery token (open the page again and resubmit): nothing was changed.", statusCode: StatusCodes.Status400BadRequest);
            }
        }

        try
        {
            return await next(invocation).ConfigureAwait(false);
        }
        catch (TaskTransportException ex) when (ex.IsTransient)
        {
            // A storage service that does not answer: said, naming it, within its deadline (at once while it stays silent).
            return Results.Text($"The Tasks dashboard could not read what this page shows: {ex.Message}", statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }

    private static bool IsLocal(HttpContext context)
    {
        var remote = context.Connection.RemoteIpAddress;
        return remote is null || IPAddress.IsLoopback(remote) || remote.Equals(context.Connection.LocalIpAddress);
    }

    private static async Task<IResult> OverviewAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var services = context.RequestServices;
        var records = Records(services);
        var now = DateTimeOffset.UtcNow;
        // Each part is read on its own: a storage service that does not answer empties its part, named, not the page.
        var problems = new List<string>();
        async Task<T> Part<T>(string what, Func<Task<T>> read, T none)
        {
            try
            {
                return await read().ConfigureAwait(false);
            }
            catch (TaskTransportException ex) when (ex.IsTransient)
            {
                problems.Add($"{what} could not be read: {ex.Message}");
                return none;
            }
        }

        IReadOnlyList<TaskWorkerInfo> workers = records is null ? [] : await Part("Workers", () => records.ListWorkersAsync(cancellationToken).AsTask(), []).ConfigureAwait(false);
        IReadOnlyList<TaskStateCounts> perMinute = records is null ? [] : await Part("The last hour's counts", () => records.CountPerMinuteAsync(now.AddMinutes(-60), now.AddMinutes(1), cancellationToken).AsTask(), []).ConfigureAwait(false);
        var monitor = services.GetService<ITaskQueueMonitor>();
        var pauses = QueueControlEndpoints.Pauses(services);
        var paused = pauses is null ? new Dictionary<string, DateTimeOffset>() : (await Part("Paused queues", () => pauses.ListPausedAsync(cancellationToken).AsTask(), [])).ToDictionary(p => p.Queue, p => p.Since, StringComparer.Ordinal);
        var queues = new List<QueueRow>();
        foreach (var queue in Queues())
        {
            var running = workers.Where(w => w.IsAlive).Sum(w => w.InFlight.TryGetValue(queue, out var n) ? n : 0);
            try
            {
                var depth = monitor is null ? null : await monitor.GetDepthAsync(queue, cancellationToken).ConfigureAwait(false);
                queues.Add(new QueueRow(queue, depth?.Exists ?? false, depth?.Messages ?? 0, depth?.DeadLetters ?? 0, running, monitor is null ? "the transport reports no depths" : null)
                {
                    PausedSince = paused.TryGetValue(queue, out var since) ? since : null,
                    CanPause = pauses is not null,
                });
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                queues.Add(new QueueRow(queue, false, 0, 0, running, ex.Message));
            }
        }

        // The hour's totals are the sum of its minutes: the counters are read once.
        var lastHour = perMinute.Count == 0 ? null : perMinute.Skip(1).Aggregate(new TaskStateCounts(perMinute[1].From, now, 0, 0, 0, 0, 0, 0),
            (sum, m) => sum with { Enqueued = sum.Enqueued + m.Enqueued, Started = sum.Started + m.Started, Retried = sum.Retried + m.Retried, Succeeded = sum.Succeeded + m.Succeeded, DeadLettered = sum.DeadLettered + m.DeadLettered, Cancelled = sum.Cancelled + m.Cancelled });
        var schedules = await Part("Recurring schedules", () => Operations(services).ListSchedulesAsync(cancellationToken).AsTask(), []).ConfigureAwait(false);
        return await RenderAsync<OverviewPage>(context, "", new OverviewModel(queues, perMinute.Skip(1).ToArray(), lastHour, workers, schedules, records is not null) { Problems = problems }).ConfigureAwait(false);
    }

    private static async Task<IResult> ListAsync(HttpContext context, string? state, string? task, string? queue, string? since, string? after, string? id, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrWhiteSpace(id)) return Results.Redirect(BasePath(context) + "/task/" + Uri.EscapeDataString(id.Trim()));
        var records = Records(context.RequestServices);
        var now = DateTimeOffset.UtcNow;
        var from = now - (Window(since) ?? TimeSpan.FromDays(1));
        var query = new TaskRecordQuery
        {
            State = Enum.TryParse<TaskState>(state, ignoreCase: true, out var s) ? s : null,
            TaskName = string.IsNullOrEmpty(task) ? null : task,
            Queue = string.IsNullOrEmpty(queue) ? null : queue,
            From = from,
            ContinuationToken = string.IsNullOrEmpty(after) ? null : after,
        };
        var page = records is null ? new TaskRecordPage([], null) : await records.ListAsync(query, cancellationToken).ConfigureAwait(false);
        var counts = records is null ? null : await records.CountAsync(from, now.AddMinutes(1), cancellationToken).ConfigureAwait(false);
        var names = TaskRegistry.Default.Definitions.Select(d => d.Name).Order(StringComparer.Ordinal).ToArray();
        return await RenderAsync<TaskListPage>(context, "/list", new TaskListModel(page, query, since, counts, names, Queues())).ConfigureAwait(false);
    }

    private static async Task<IResult> TaskAsync(HttpContext context, string id, CancellationToken cancellationToken)
    {
        var records = Records(context.RequestServices);
        if (records is null || await records.GetAsync(id, cancellationToken).ConfigureAwait(false) is not { } record)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return await RenderAsync<NotFoundPage>(context, "/list", $"There is no record of task '{id}': it was never recorded, it was deleted, or its record has expired.").ConfigureAwait(false);
        }
        var hide = Options(context).HideArguments;
        return await RenderAsync<TaskPage>(context, "/list", new TaskDetailModel(record, hide, hide ? null : Pretty(record.ArgumentsJson))).ConfigureAwait(false);
    }

    private static async Task<IResult> TaskActionAsync(HttpContext context, string id, string action, CancellationToken cancellationToken)
    {
        var operations = Operations(context.RequestServices);
        var message = action switch
        {
            "requeue" => await operations.RequeueAsync(id, cancellationToken).ConfigureAwait(false) ? $"Task {id} is requeued: it runs again with its id." : $"Task {id} is not in its queue's dead letters: nothing was requeued.",
            "cancel" => (await operations.CancelAsync(id, cancellationToken).ConfigureAwait(false)).Describe(id),
            _ => await operations.DeleteAsync(id, cancellationToken).ConfigureAwait(false) ? $"Task {id} is deleted." : $"There was nothing of task {id} to delete.",
        };
        return Redirect(context, action == "delete" ? "/list" : "/task/" + Uri.EscapeDataString(id), message);
    }

    private static async Task<IResult> RecurringAsync(HttpContext context, CancellationToken cancellationToken)
        => await RenderAsync<RecurringPage>(context, "/recurring", new RecurringModel(await Operations(context.RequestServices).ListSchedulesAsync(cancellationToken).ConfigureAwait(false))).ConfigureAwait(false);

    private static async Task<IResult> TriggerAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var form = await context.Request.ReadFormAsync(cancellationToken).ConfigureAwait(false);
        var task = form["task"].ToString();
        try
        {
            var id = await Operations(context.RequestServices).TriggerAsync(task, cancellationToken).ConfigureAwait(false);
            return Redirect(context, "/recurring", $"Enqueued {task} now, as task {id}.");
        }
        catch (ArgumentException ex)
        {
            return Redirect(context, "/recurring", ex.Message);
        }
    }

    private static async Task<IResult> BatchAsync(HttpContext context, string id, CancellationToken cancellationToken)
    {
        var records = Records(context.RequestServices);
        if (records is null || await records.GetBatchAsync(id, cancellationToken).ConfigureAwait(false) is not { } batch)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return await RenderAsync<NotFoundPage>(context, "/list", $"There is no tracked batch '{id}' (tracked are batches with OnCompleted, or Tracked = true), or its record has expired.").ConfigureAwait(false);
        }

        return await RenderAsync<BatchPage>(context, "/list", batch).ConfigureAwait(false);
    }

    private static async Task<IResult> WorkersAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var records = Records(context.RequestServices);
        var workers = records is null ? [] : await records.ListWorkersAsync(cancellationToken).ConfigureAwait(false);
        return await RenderAsync<WorkersPage>(context, "/workers", new WorkersModel(workers)).ConfigureAwait(false);
    }

    private static IResult Asset(HttpContext context, string name)
    {
        var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream("Tasks.Dashboard.Assets." + name);
        if (stream is null) return Results.NotFound();
        context.Response.Headers.CacheControl = "public, max-age=3600";
        return Results.Stream(stream, name.EndsWith(".css", StringComparison.Ordinal) ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8");
    }

    internal static async Task<IResult> RenderAsync<TPage>(HttpContext context, string current, object model)
        where TPage : IComponent
    {
        var tokens = context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context);
        var page = new DashboardPage(BasePath(context), Options(context), tokens.FormFieldName, tokens.RequestToken ?? "", Unprotect(context, context.Request.Query["done"].FirstOrDefault()), current);
        var services = context.RequestServices;
        await using var renderer = new HtmlRenderer(services, services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance);
        var html = await renderer.Dispatcher.InvokeAsync(async () =>
        {
            var parameters = ParameterView.FromDictionary(new Dictionary<string, object?> { ["Page"] = page, ["Model"] = model });
            return (await renderer.RenderComponentAsync<TPage>(parameters).ConfigureAwait(false)).ToHtmlString();
        }).ConfigureAwait(false);
        if (context.Request.IsHtmx()) context.Response.Headers.Vary = "HX-Request";
        return Results.Content(html, "text/html; charset=utf-8");
    }

    /// <summary>After an action, a redirect to the page (so a reload does not post again), with what was done.</summary>
    /// <remarks>The message travels protected by ASP.NET Core's data protection: a link cannot make a page say what the dashboard did not do.</remarks>
    internal static IResult Redirect(HttpContext context, string relative, string message)
        => Results.Redirect(BasePath(context) + relative + (relative.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "done=" + Uri.EscapeDataString(Protector(context).Protect(message)), permanent: false, preserveMethod: false);

    private static string? Unprotect(HttpContext context, string? protectedMessage)
    {
        if (string.IsNullOrEmpty(protectedMessage)) return null;
        try
        {
            return Protector(context).Unprotect(protectedMessage);
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return null; // not ours, or from before a key change: no message
        }
    }

    private static IDataProtector Protector(HttpContext context)
        => context.RequestServices.GetRequiredService<IDataProtectionProvider>().CreateProtector("Tasks.Dashboard.Message");

    /// <summary>Where the dashboard is mounted, as this request reached it (after the app's own PathBase, if any).</summary>
    private static string BasePath(HttpContext context)
        => context.Request.PathBase + (context.GetEndpoint()?.Metadata.GetMetadata<DashboardPrefix>()?.Prefix ?? "");

    private sealed record DashboardPrefix(string Prefix);

    private static TasksDashboardOptions Options(HttpContext context)
        => context.RequestServices.GetService<IOptions<TasksDashboardOptions>>()?.Value ?? new TasksDashboardOptions();

    private static TaskOperations Operations(IServiceProvider services) => services.GetRequiredService<TaskOperations>();

    private static ITaskRecords? Records(IServiceProvider services) => services.GetRequiredService<TaskOperations>().Records;

    internal static IReadOnlyList<string> Queues()
        => TaskRegistry.Default.Definitions.Select(d => d.Queue).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();

    private static TimeSpan? Window(string? since) => since switch
    {
        "1h" => TimeSpan.FromHours(1),
        "7d" => TimeSpan.FromDays(7),
        "15d" => TimeSpan.FromDays(15),
        _ => null,
    };

    private static string? Pretty(string? json)
    {
        if (json is null) return null;
        using var document = JsonDocument.Parse(json);
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            document.WriteTo(writer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
