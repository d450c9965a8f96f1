using Microsoft.AspNetCore.Builder;
using System.Net;
using AngleSharp.Html.Parser;
using Microsoft.Extensions.DependencyInjection;

namespace Tasks.Dashboard.Tests;

/// <summary>The dashboard's security rules, over HTTP against Kestrel, pages parsed with AngleSharp.</summary>
public sealed class DashboardSecurityTests
{
    private static readonly HtmlParser Parser = new();

    [Fact]
    public async Task A_request_from_another_machine_is_refused_until_the_endpoints_require_authorization()
    {
        await using var host = await DashboardHost.StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await host.Http.GetAsync("/tasks")).StatusCode);

        using var remote = new HttpRequestMessage(HttpMethod.Get, "/tasks");
        remote.Headers.Add("X-Forwarded-For", "203.0.113.7"); // through the app's proxy, from another machine
        using var refused = await host.Http.SendAsync(remote);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("RequireAuthorization", await refused.Content.ReadAsStringAsync());

        // Requiring a policy is what opens it: authorization decides from then on.
        await using var secured = await DashboardHost.StartAsync(map: group => group.RequireAuthorization(policy => policy.RequireAssertion(_ => true)));
        using var allowed = new HttpRequestMessage(HttpMethod.Get, "/tasks");
        allowed.Headers.Add("X-Forwarded-For", "203.0.113.7");
        Assert.Equal(HttpStatusCode.OK, (await secured.Http.SendAsync(allowed)).StatusCode);
    }

    [Fact]
    public async Task A_post_without_a_valid_antiforgery_token_is_rejected_and_changes_nothing()
    {
        await using var host = await DashboardHost.StartAsync(worker: false);
        var id = await DashboardTestTasks.RunAsync.Enqueue(host.Client, "s", "n", new TaskEnqueueOptions { Delay = TimeSpan.FromHours(1) });

        using var forged = await host.Http.PostAsync($"/tasks/task/{id}/cancel", new FormUrlEncodedContent([new("action", "cancel")]));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        using var wrong = await host.Http.PostAsync($"/tasks/task/{id}/cancel", new FormUrlEncodedContent([new("__RequestVerificationToken", "forged"), new("action", "cancel")]));
        Assert.Equal(HttpStatusCode.BadRequest, wrong.StatusCode);
        Assert.Equal(TaskState.Scheduled, (await host.Records.GetAsync(id))!.State);

        // The page's own form, with its token and cookie, does what it says.
        var (action, fields) = await FormAsync(host, $"/tasks/task/{id}", "cancel");
        using var posted = await host.Http.PostAsync(action, new FormUrlEncodedContent(fields));
        Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
        Assert.Equal(TaskState.Cancelled, (await host.Records.GetAsync(id))!.State);
    }

    [Fact]
    public async Task Read_only_shows_no_action_and_refuses_every_post()
    {
        await using var host = await DashboardHost.StartAsync(o => o.ReadOnly = true, worker: false);
        var id = await DashboardTestTasks.RunAsync.Enqueue(host.Client, "s", "n", new TaskEnqueueOptions { Delay = TimeSpan.FromHours(1) });
        var page = Parser.ParseDocument(await host.Http.GetStringAsync($"/tasks/task/{id}"));
        Assert.Empty(page.QuerySelectorAll("form[method=post]"));
        Assert.Contains("Read-only", page.QuerySelector(".readonly")!.TextContent);
        Assert.Empty(Parser.ParseDocument(await host.Http.GetStringAsync("/tasks/recurring")).QuerySelectorAll("button"));

        using var refused = await host.Http.PostAsync($"/tasks/task/{id}/cancel", new FormUrlEncodedContent([]));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(TaskState.Scheduled, (await host.Records.GetAsync(id))!.State);
    }

    [Fact]
    public async Task What_a_task_or_its_exception_contains_is_encoded_and_the_policy_forbids_inline_script()
    {
        await using var host = await DashboardHost.StartAsync();
        const string markup = "<script>alert('x')</script><img src=x onerror=alert(1)>";
        var id = await DashboardTestTasks.RunAsync.Enqueue(host.Client, Scripts.Add((_, _) => throw new InvalidOperationException(markup)), markup);
        await WaitAsync(async () => (await host.Records.GetAsync(id))?.State == TaskState.DeadLettered, "the task is dead-lettered");

        using var response = await host.Http.GetAsync($"/tasks/task/{id}");
        var html = await response.Content.ReadAsStringAsync();
        var page = Parser.ParseDocument(html);
        Assert.Equal("htmx.min.js", Path.GetFileName(Assert.Single(page.Scripts).Source)); // only the dashboard's own script
        Assert.Empty(page.QuerySelectorAll("img"));
        Assert.Contains(markup, page.QuerySelector(".attempt .problem")!.TextContent);
        Assert.Contains(markup, page.QuerySelector("pre.json")!.TextContent);
        var policy = response.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("script-src 'self'", policy);
        Assert.DoesNotContain("unsafe-inline", policy);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());

        var dead = Parser.ParseDocument(await host.Http.GetStringAsync("/tasks/dead"));
        Assert.Empty(dead.QuerySelectorAll("img"));
        Assert.Contains(markup, dead.QuerySelector("td.problem")!.TextContent);
    }

    [Fact]
    public async Task Arguments_are_hidden_for_personal_data_and_everywhere_when_the_option_says_so()
    {
        await using var host = await DashboardHost.StartAsync(worker: false);
        var personal = await DashboardTestTasks.MailAsync.Enqueue(host.Client, "ada@example.com");
        var plain = await DashboardTestTasks.RunAsync.Enqueue(host.Client, "s", "visible note");
        Assert.DoesNotContain("ada@example.com", await host.Http.GetStringAsync($"/tasks/task/{personal}"));
        Assert.Contains("personal data", await host.Http.GetStringAsync($"/tasks/task/{personal}"));
        Assert.Contains("visible note", await host.Http.GetStringAsync($"/tasks/task/{plain}"));

        await using var hidden = await DashboardHost.StartAsync(o => o.HideArguments = true, worker: false);
        var id = await DashboardTestTasks.RunAsync.Enqueue(hidden.Client, "s", "secret note");
        var page = await hidden.Http.GetStringAsync($"/tasks/task/{id}");
        Assert.DoesNotContain("secret note", page);
        Assert.Contains("HideArguments", page);
    }

    /// <summary>The form on <paramref name="path"/> whose button says <paramref name="action"/>: its target and fields, token included.</summary>
    internal static async Task<(string Action, List<KeyValuePair<string, string>> Fields)> FormAsync(DashboardHost host, string path, string action)
    {
        var page = Parser.ParseDocument(await host.Http.GetStringAsync(path));
        var form = page.QuerySelectorAll("form[method=post]").Single(f => f.QuerySelector($"button[value={action}]") is not null);
        var fields = form.QuerySelectorAll("input[type=hidden]").Select(i => new KeyValuePair<string, string>(i.GetAttribute("name")!, i.GetAttribute("value")!)).ToList();
        fields.Add(new("action", action));
        return (form.GetAttribute("action")!, fields);
    }

    internal static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out waiting until {what}.");
            await Task.Delay(20);
        }
    }
}
