using System.Net;
using AngleSharp.Html.Parser;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Tasks.Transports;

namespace Tasks.Dashboard.Tests;

/// <summary>The dashboard's actions over HTTP with the page's own forms: what each leaves behind.</summary>
public sealed class DashboardActionTests
{
    private static readonly HtmlParser Parser = new();

    [Fact]
    public async Task Deleting_a_running_task_cancels_it_and_its_record_stays_gone()
    {
        await using var host = await DashboardHost.StartAsync();
        var started = new TaskCompletionSource();
        var stopped = new TaskCompletionSource();
        var id = await DashboardTestTasks.RunAsync.Enqueue(host.Client, Scripts.Add(async (_, ct) =>
        {
            started.SetResult();
            try { await Task.Delay(Timeout.Infinite, ct); } finally { stopped.TrySetResult(); }
        }), "long");
        await started.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await DashboardSecurityTests.WaitAsync(async () => (await host.Records.GetAsync(id))?.State == TaskState.Running, "the record says Running");

        var (action, fields) = await DashboardSecurityTests.FormAsync(host, $"/tasks/task/{id}", "delete");
        using var deleted = await host.Http.PostAsync(action, new FormUrlEncodedContent(fields));
        Assert.Equal(HttpStatusCode.Redirect, deleted.StatusCode);
        await stopped.Task.WaitAsync(TimeSpan.FromSeconds(10)); // its token fired
        await Task.Delay(500); // the worker settles it, and would write its record now

        Assert.Null(await host.Records.GetAsync(id));
        Assert.Equal(HttpStatusCode.NotFound, (await host.Http.GetAsync($"/tasks/task/{id}")).StatusCode);
        Assert.Contains("deleted", await (await host.Http.GetAsync($"/tasks/task/{id}")).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_purged_dead_letter_leaves_its_task_dead_lettered_with_nothing_to_requeue()
    {
        await using var host = await DashboardHost.StartAsync();
        var id = await DashboardTestTasks.RunAsync.Enqueue(host.Client, Scripts.Add((_, _) => throw new PermanentTaskException("no")), "n");
        await DashboardSecurityTests.WaitAsync(async () => (await host.Records.GetAsync(id))?.State == TaskState.DeadLettered, "the task is dead-lettered");

        var page = Parser.ParseDocument(await host.Http.GetStringAsync("/tasks/dead"));
        Assert.Contains(id, page.Body!.TextContent);
        var form = page.QuerySelector("form[method=post]")!;
        var fields = form.QuerySelectorAll("input[type=hidden]").Select(i => new KeyValuePair<string, string>(i.GetAttribute("name")!, i.GetAttribute("value")!)).ToList();
        fields.Add(new("id", id));
        fields.Add(new("action", "purge"));
        using var purged = await host.Http.PostAsync(form.GetAttribute("action"), new FormUrlEncodedContent(fields));
        var after = Parser.ParseDocument(await host.Http.GetStringAsync(purged.Headers.Location!.ToString()));
        Assert.Contains("Purged 1 dead letter(s)", after.QuerySelector(".message")!.TextContent);

        var record = (await host.Records.GetAsync(id))!;
        Assert.True(record.DeadLetterPurged);
        var task = Parser.ParseDocument(await host.Http.GetStringAsync($"/tasks/task/{id}"));
        Assert.Null(task.QuerySelector("button[value=requeue]"));
        Assert.Contains("purged", task.QuerySelector("dl.record")!.TextContent);
    }

    [Fact]
    public async Task Selected_dead_letters_are_requeued_in_one_scan_of_the_dead_letters()
    {
        CountingDeadLetters? counting = null;
        await using var host = await DashboardHost.StartAsync(services: s => s.AddSingleton<ITaskDeadLetters>(sp => counting = new CountingDeadLetters((ITaskDeadLetters)sp.GetRequiredService<ITaskTransport>())));
        var runs = 0;
        var script = Scripts.Add((_, _) => Interlocked.Increment(ref runs) <= 3 ? throw new PermanentTaskException("no") : Task.CompletedTask);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.Add(await DashboardTestTasks.RunAsync.Enqueue(host.Client, script, "n" + i));
        foreach (var id in ids) await DashboardSecurityTests.WaitAsync(async () => (await host.Records.GetAsync(id))?.State == TaskState.DeadLettered, "the task is dead-lettered");

        var page = Parser.ParseDocument(await host.Http.GetStringAsync("/tasks/dead"));
        var form = page.QuerySelector("form[method=post]")!;
        var fields = form.QuerySelectorAll("input[type=hidden]").Select(i => new KeyValuePair<string, string>(i.GetAttribute("name")!, i.GetAttribute("value")!)).ToList();
        fields.AddRange(ids.Select(id => new KeyValuePair<string, string>("id", id)));
        fields.Add(new("action", "requeue"));
        using var requeued = await host.Http.PostAsync(form.GetAttribute("action"), new FormUrlEncodedContent(fields));
        var after = Parser.ParseDocument(await host.Http.GetStringAsync(requeued.Headers.Location!.ToString()));

        Assert.Contains("Requeued 3 dead letter(s)", after.QuerySelector(".message")!.TextContent);
        Assert.Equal(1, counting!.Scans);
        foreach (var id in ids) await DashboardSecurityTests.WaitAsync(async () => (await host.Records.GetAsync(id))?.State == TaskState.Succeeded, "the requeued task succeeds");
    }

    /// <summary>Counts the scans of the dead letters (a requeue or a delete reads them all).</summary>
    private sealed class CountingDeadLetters(ITaskDeadLetters inner) : ITaskDeadLetters
    {
        private int scans;

        public int Scans => Volatile.Read(ref scans);

        public ValueTask<IReadOnlyList<TaskDeadLetter>> ListDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
            => inner.ListDeadLettersAsync(queue, filter, cancellationToken);

        public ValueTask<IReadOnlyList<TaskDeadLetter>> PeekDeadLettersAsync(string queue, int maxCount = 32, CancellationToken cancellationToken = default)
            => inner.PeekDeadLettersAsync(queue, maxCount, cancellationToken);

        public ValueTask<IReadOnlyList<TaskDeadLetter>> RequeueDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref scans);
            return inner.RequeueDeadLettersAsync(queue, filter, cancellationToken);
        }

        public ValueTask<IReadOnlyList<TaskDeadLetter>> DeleteDeadLettersAsync(string queue, DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref scans);
            return inner.DeleteDeadLettersAsync(queue, filter, cancellationToken);
        }
    }

    [Fact]
    public async Task A_queue_is_paused_and_resumed_from_the_overview_and_the_limits_page_shows_holders_and_waiters()
    {
        await using var host = await DashboardHost.StartAsync();
        var queue = DashboardTestTasks.RunAsync.Definition.Queue;
        async Task<HttpResponseMessage> PostAsync(string verb)
        {
            var page = Parser.ParseDocument(await host.Http.GetStringAsync("/tasks"));
            var form = page.QuerySelectorAll("form[method=post]").Single(f => f.GetAttribute("action") == $"/tasks/queue/{queue}/{verb}");
            var fields = form.QuerySelectorAll("input[type=hidden]").Select(i => new KeyValuePair<string, string>(i.GetAttribute("name")!, i.GetAttribute("value")!)).Append(new("action", verb));
            return await host.Http.PostAsync(form.GetAttribute("action"), new FormUrlEncodedContent(fields));
        }

        var pauses = host.Services.GetRequiredService<ITaskQueuePauses>();
        using (var paused = await PostAsync("pause")) Assert.Equal(HttpStatusCode.Redirect, paused.StatusCode);
        Assert.Equal([queue], (await pauses.ListPausedAsync(default)).Select(p => p.Queue));
        var overview = Parser.ParseDocument(await host.Http.GetStringAsync("/tasks"));
        var row = overview.QuerySelectorAll("tbody tr").Single(r => r.QuerySelector("td")!.TextContent == queue);
        Assert.Contains("paused", row.TextContent);
        using (var resumed = await PostAsync("resume")) Assert.Equal(HttpStatusCode.Redirect, resumed.StatusCode);
        Assert.Empty(await pauses.ListPausedAsync(default));

        Assert.Contains("No limit", await host.Http.GetStringAsync("/tasks/limits"));
        var limits = host.Services.GetRequiredService<ITaskLimitStore>();
        var scope = new LimitScope(TaskLimitKind.Concurrency, "invoices", "42", 1);
        var now = DateTimeOffset.UtcNow;
        await limits.TryAcquireAsync(scope, new LimitHolder("task-a", "Shop.Invoice", "worker-1", now), now, now.AddMinutes(1), default);
        await limits.NoteWaiterAsync(scope, new LimitWaiter("task-b", "Shop.Invoice", now, now.AddSeconds(5)), default);
        var limitsPage = Parser.ParseDocument(await host.Http.GetStringAsync("/tasks/limits"));
        var cells = limitsPage.QuerySelectorAll("tbody tr td").Select(c => c.TextContent.Trim()).ToArray();
        Assert.Equal(["invoices", "42", "at once", "1 / 1"], cells[..4]);
        Assert.StartsWith("task-a Shop.Invoice since", cells[4]);
        Assert.StartsWith("task-b Shop.Invoice waits since", cells[5]);
    }

    [Fact]
    public async Task A_link_cannot_make_a_page_say_what_the_dashboard_did_not_do()
    {
        await using var host = await DashboardHost.StartAsync(worker: false);
        foreach (var query in new[] { "?message=Your%20account%20is%20closed", "?done=Your%20account%20is%20closed", "?done=CfDJ8garbage" })
            Assert.Null(Parser.ParseDocument(await host.Http.GetStringAsync("/tasks" + query)).QuerySelector(".message"));
    }

    [Fact]
    public async Task Mapping_the_dashboard_in_an_app_without_tasks_fails_at_start_with_what_to_add()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Services.AddTasksDashboard();
        await using var app = builder.Build();
        var ex = Assert.Throws<InvalidOperationException>(() => app.MapTasksDashboard());
        Assert.Contains("AddAsyncTasks()", ex.Message);

        var refresh = WebApplication.CreateBuilder();
        refresh.Services.AddAsyncTasks().UseInMemoryTransport();
        refresh.Services.AddTasksDashboard(o => o.RefreshInterval = TimeSpan.FromMilliseconds(10));
        await using var fast = refresh.Build();
        Assert.Contains("RefreshInterval", (await Assert.ThrowsAnyAsync<Exception>(() => fast.StartAsync())).Message);
    }
}
