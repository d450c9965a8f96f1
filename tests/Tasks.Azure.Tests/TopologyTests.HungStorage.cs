using System.Diagnostics;
using System.Net;

namespace Tasks.Azure.Tests;

/// <summary>The Shop app from packed packages (a worker and two APIs as processes) while Azurite's table service hangs.</summary>
public sealed partial class TopologyTests
{
    [Fact]
    [Trait("Category", "Fault")]
    public async Task With_the_table_service_hung_two_apis_answer_within_bounds_and_every_accepted_task_runs_once()
    {
        await using var storage = await AzuriteProcess.StartAsync(blobs: true, tables: true); // its own: its tables are paused
        var root = AzuriteProcess.RepositoryRoot();
        var work = Directory.CreateTempSubdirectory("tasks-hung-").FullName;
        var processes = new List<ChildProcess>();
        try
        {
            var app = CreateApp(root, work, packages);
            await BuildAsync(app, "Shop.Worker");
            await BuildAsync(app, "Shop.Api");
            var environment = new Dictionary<string, string>
            {
                ["Tasks__Azure__ConnectionString"] = storage.ConnectionString,
                ["Tasks__Azure__QueuePrefix"] = "hung" + Guid.NewGuid().ToString("N")[..8] + "-",
                ["DOTNET_ENVIRONMENT"] = "Production",
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
            };
            var worker = Run(app, "Shop.Worker", [], environment);
            processes.Add(worker);
            await worker.WaitForOutputAsync(o => o.Contains("Task worker started"), RunTimeout, "the worker to start");
            var apis = new List<HttpClient>();
            for (var i = 0; i < 2; i++)
            {
                var port = FreePort();
                var api = Run(app, "Shop.Api", ["--urls", $"http://127.0.0.1:{port}"], environment);
                processes.Add(api);
                await api.WaitForOutputAsync(o => o.Contains("Now listening on"), RunTimeout, "an API to listen");
                apis.Add(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) });
            }

            foreach (var http in apis) await PostAsync(http, $"/orders/{Guid.NewGuid()}/invoice"); // queues and tables known to both

            await storage.PauseTablesAsync();
            var hung = Stopwatch.StartNew();
            var invoiced = Guid.NewGuid();
            var checkouts = Enumerable.Range(0, 3).Select(_ => Guid.NewGuid()).ToArray();
            var clicks = Enumerable.Range(0, 10).Select(i => TimedPostAsync(apis[i % 2], $"/orders/{invoiced}/invoice")).ToArray();
            var chains = checkouts.Select((order, i) => TimedPostAsync(apis[i % 2], $"/orders/{order}/checkout?items=1&amount=5&email=ada@example.com")).ToArray();
            var calls = await Task.WhenAll(clicks.Concat(chains));
            var overview = await TimedGetAsync(apis[0], "/tasks");
            var overviewAgain = await TimedGetAsync(apis[0], "/tasks");

            // Every call answers within the tables' deadline (5 s) plus HTTP; the dashboard shows the queues and names the silent tables.
            Assert.All(calls, c => Assert.True(c.Took < TimeSpan.FromSeconds(8), $"{c.Status} after {c.Took}"));
            Assert.All(calls, c => Assert.Contains(c.Status, new[] { HttpStatusCode.Accepted, HttpStatusCode.ServiceUnavailable }));
            Assert.True(overview.Took < TimeSpan.FromSeconds(8) && overviewAgain.Took < TimeSpan.FromSeconds(1), $"the overview took {overview.Took}, then {overviewAgain.Took}");
            Assert.Equal(HttpStatusCode.OK, overviewAgain.Status);
            Assert.Contains("Azure Table service at", overviewAgain.Body);

            if (hung.Elapsed < TimeSpan.FromSeconds(15)) await Task.Delay(TimeSpan.FromSeconds(15) - hung.Elapsed); // longer than the worker's 30 s lease is not needed: runs end at once
            await storage.ResumeTablesAsync();

            // A unique invoice: one id among every caller that got one, and it runs once; none if every caller was told it failed.
            var ids = calls[..10].Where(c => c.Status == HttpStatusCode.Accepted).Select(c => MessageIdOf(c.Body)).Distinct().ToArray();
            Assert.True(ids.Length <= 1, "one id per order: " + string.Join(", ", ids));
            if (ids.Length == 1) await worker.WaitForOutputAsync(o => o.Contains($"Invoice for order {invoiced} sent"), RunTimeout, "the accepted invoice to run");

            // A checkout: refused whole (nothing of it runs) or each step once, in order.
            for (var i = 0; i < checkouts.Length; i++)
            {
                if (calls[10 + i].Status == HttpStatusCode.Accepted)
                    await worker.WaitForOutputAsync(o => o.Contains($"Shipping mail for order {checkouts[i]}"), RunTimeout, "an accepted checkout to end");
            }

            await Task.Delay(TimeSpan.FromSeconds(5)); // a second run would show now
            var output = worker.Output;
            Assert.Equal(ids.Length, Count(output, $"Invoice for order {invoiced} sent"));
            for (var i = 0; i < checkouts.Length; i++)
            {
                var expected = calls[10 + i].Status == HttpStatusCode.Accepted ? 1 : 0;
                var steps = new[] { $"Order {checkouts[i]} charged", $"Order {checkouts[i]} shipped", $"Shipping mail for order {checkouts[i]}" };
                Assert.Equal(steps.Select(_ => expected), steps.Select(s => Count(output, s)));
                if (expected == 1) Assert.True(output.IndexOf(steps[0], StringComparison.Ordinal) < output.IndexOf(steps[1], StringComparison.Ordinal) && output.IndexOf(steps[1], StringComparison.Ordinal) < output.IndexOf(steps[2], StringComparison.Ordinal), "in order");
            }

            // After the hang an invoice is sent again, or the one sent is still the order's.
            var again = await TimedPostAsync(apis[1], $"/orders/{Guid.NewGuid()}/invoice");
            Assert.Equal(HttpStatusCode.Accepted, again.Status);
        }
        finally
        {
            foreach (var process in processes) process.Dispose();
            Directory.Delete(work, recursive: true);
        }
    }

    private static int Count(string text, string part) => text.Split(part).Length - 1;

    private static string MessageIdOf(string body) => System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("messageId").GetString()!;

    private static async Task<(HttpStatusCode Status, string Body, TimeSpan Took)> TimedPostAsync(HttpClient http, string path)
    {
        var clock = Stopwatch.StartNew();
        using var response = await http.PostAsync(path, null);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), clock.Elapsed);
    }

    private static async Task<(HttpStatusCode Status, string Body, TimeSpan Took)> TimedGetAsync(HttpClient http, string path)
    {
        var clock = Stopwatch.StartNew();
        using var response = await http.GetAsync(path);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), clock.Elapsed);
    }
}
