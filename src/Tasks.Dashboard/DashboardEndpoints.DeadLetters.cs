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

namespace Tasks.Dashboard;

/// <summary>The dead-letter page and its actions: requeue and purge of a queue's dead letters.</summary>
internal static partial class DashboardEndpoints
{
    private static async Task<IResult> DeadLettersAsync(HttpContext context, string? queue, CancellationToken cancellationToken)
    {
        var queues = Queues();
        var monitor = context.RequestServices.GetService<ITaskQueueMonitor>();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var name in queues)
        {
            try
            {
                counts[name] = monitor is null ? 0 : (await monitor.GetDepthAsync(name, cancellationToken).ConfigureAwait(false)).DeadLetters;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                counts[name] = 0;
            }
        }

        // Without a queue asked for: the one with the most dead letters.
        var chosen = queue is not null && queues.Contains(queue, StringComparer.Ordinal) ? queue : queues.OrderByDescending(q => counts[q]).FirstOrDefault();
        // A peek, not a scan: a scan takes the dead letters for a moment, and another viewer would see none.
        var letters = chosen is null ? [] : await context.RequestServices.GetRequiredService<ITaskDeadLetters>().PeekDeadLettersAsync(chosen, PeekedDeadLetters, cancellationToken).ConfigureAwait(false);
        var hideAll = Options(context).HideArguments;
        var personal = TaskRegistry.Default.Definitions.Where(d => d.HasPersonalData).Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
        return await RenderAsync<DeadLettersPage>(context, "/dead", new DeadLettersModel(queues, counts, chosen, letters, name => hideAll || name is null || personal.Contains(name))).ConfigureAwait(false);
    }

    /// <summary>The most dead letters a page shows: what Azure peeks in one call.</summary>
    internal const int PeekedDeadLetters = 32;

    private static async Task<IResult> DeadLettersActionAsync(HttpContext context, string queue, CancellationToken cancellationToken)
    {
        var form = await context.Request.ReadFormAsync(cancellationToken).ConfigureAwait(false);
        var ids = form["id"].Where(i => !string.IsNullOrEmpty(i)).Select(i => i!).ToArray();
        var action = form["action"].ToString();
        if (ids.Length == 0) return Redirect(context, "/dead?queue=" + Uri.EscapeDataString(queue), "Select the dead letters first: nothing was changed.");
        // Every selected id in one scan of the dead letters, not one scan each.
        var deadLetters = context.RequestServices.GetRequiredService<ITaskDeadLetters>();
        var filter = new DeadLetterFilter { MessageIds = ids.ToHashSet(StringComparer.Ordinal) };
        var done = (action == "requeue"
            ? await deadLetters.RequeueDeadLettersAsync(queue, filter, cancellationToken).ConfigureAwait(false)
            : await deadLetters.DeleteDeadLettersAsync(queue, filter, cancellationToken).ConfigureAwait(false)).Count;

        return Redirect(context, "/dead?queue=" + Uri.EscapeDataString(queue), action == "requeue" ? $"Requeued {done} dead letter(s) of '{queue}', each with its id." : $"Purged {done} dead letter(s) of '{queue}'.");
    }
}
