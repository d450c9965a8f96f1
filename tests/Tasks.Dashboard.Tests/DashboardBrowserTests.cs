using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Tasks.Dashboard.Tests;

/// <summary>
/// The dashboard in a real headless Chromium (Debian's, driven by Playwright), against the Shop's API
/// hosting it over Azurite with the Shop's real worker: what an operator on call does, click by click.
/// Each page is screenshotted (docs/dashboard/ holds them, taken with TASKS_UPDATE_SCREENSHOTS=1).
/// </summary>
public sealed class DashboardBrowserTests(ShopFixture shop) : IClassFixture<ShopFixture>, IAsyncLifetime
{
    private const string ChromiumPath = "/usr/bin/chromium";
    // docs/dashboard/ with TASKS_UPDATE_SCREENSHOTS=1 (how its PNGs are made); else beside the test binaries, so a run leaves the tree clean.
    private static readonly string Screenshots = Environment.GetEnvironmentVariable("TASKS_UPDATE_SCREENSHOTS") == "1"
        ? Path.Combine(AzuriteProcess.RepositoryRoot(), "docs", "dashboard")
        : Path.Combine(AppContext.BaseDirectory, "screenshots");
    private IPlaywright? playwright;
    private IBrowser? browser;

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException($"The browser tests need Debian's Chromium at {ChromiumPath}: apt-get update && apt-get install -y chromium chromium-driver (./test.sh does it).");
        playwright = await Playwright.CreateAsync();
        browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = ChromiumPath,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        Directory.CreateDirectory(Screenshots);
    }

    public async Task DisposeAsync()
    {
        if (browser is not null) await browser.DisposeAsync();
        playwright?.Dispose();
    }

    [Fact]
    public async Task An_operator_sees_the_counts_reads_a_failure_requeues_it_watches_progress_cancels_triggers_and_purges()
    {
        var order = Guid.NewGuid();
        for (var i = 0; i < 3; i++) await shop.EnqueueAsync($"/welcome?email=user{i}@example.com");
        await shop.EnqueueAsync($"/orders/{order}/ship?items=2");
        var closed = await shop.EnqueueAsync($"/orders/{order}/pickup?deskOpensInSeconds=6");   // fails until the desk opens: then requeued
        var hopeless = await shop.EnqueueAsync($"/orders/{order}/pickup?deskOpensInSeconds=86400"); // fails all day: purged
        var page = await browser!.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 900 } });
        page.SetDefaultTimeout(30_000);
        Assertions.SetDefaultExpectTimeout(30_000); // live counts on a loaded machine (the outbox tests run beside these) can take more than the default 5 s

        // The overview: the counts of the last hour, live.
        await page.GotoAsync(shop.Address + "tasks");
        await Assertions.Expect(page.Locator("ul.counts li", new() { HasText = "dead-lettered" }).Locator("b")).ToHaveTextAsync(new Regex("^[2-9]"));
        await Assertions.Expect(page.Locator("ul.counts li", new() { HasText = "succeeded" }).Locator("b")).ToHaveTextAsync(new Regex("^([4-9]|\\d\\d)"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "overview.png"), FullPage = true });

        // The failed task: its exception, then a requeue once the desk is open, and it succeeds.
        await page.ClickAsync("nav a:has-text('Tasks')");
        await page.ClickAsync("nav.tabs a:has-text('DeadLettered')");
        await Assertions.Expect(page.Locator($"a:has-text('{closed}')")).ToBeVisibleAsync();
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "tasks.png"), FullPage = true });
        await page.ClickAsync($"a:has-text('{closed}')");
        await Assertions.Expect(page.Locator(".attempt .problem")).ToContainTextAsync("The carrier's desk is closed until");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "task-dead-lettered.png"), FullPage = true });
        await Task.Delay(TimeSpan.FromSeconds(6)); // the desk opens
        await page.ClickAsync("button:has-text('Requeue')");
        await Assertions.Expect(page.Locator(".message")).ToContainTextAsync("is requeued");
        await Assertions.Expect(page.Locator("dl.record .state")).ToHaveTextAsync("Succeeded");
        await Assertions.Expect(page.Locator("article.attempt h3")).ToHaveTextAsync(["Attempt 1: DeadLettered", "Attempt 1: Completed"]);

        // A running task's progress bar moves; cancelled, its token fires and it ends Cancelled.
        var import = await shop.EnqueueAsync("/stock/import?rows=200");
        await page.GotoAsync(shop.Address + $"tasks/task/{import}");
        var bar = page.Locator("dl.record progress");
        await Assertions.Expect(bar).ToBeVisibleAsync();
        var first = double.Parse((await bar.GetAttributeAsync("value"))!, System.Globalization.CultureInfo.InvariantCulture);
        await Assertions.Expect(bar).Not.ToHaveAttributeAsync("value", first.ToString(System.Globalization.CultureInfo.InvariantCulture)); // live: htmx refreshes it
        var later = double.Parse((await bar.GetAttributeAsync("value"))!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(later > first, $"the progress bar went from {first} to {later}");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "task-running.png"), FullPage = true });
        await page.ClickAsync("button:has-text('Cancel')");
        await Assertions.Expect(page.Locator("dl.record .state")).ToHaveTextAsync("Cancelled");
        await Assertions.Expect(page.Locator("article.attempt h3")).ToHaveTextAsync("Attempt 1: Cancelled");

        // A recurring task, triggered now: the worker runs it with the id the page shows.
        await page.ClickAsync("nav a:has-text('Recurring')");
        await Assertions.Expect(page.Locator("td", new() { HasText = "*/10 * * * * *" })).ToBeVisibleAsync();
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "recurring.png"), FullPage = true });
        await page.ClickAsync("button:has-text('Trigger now')");
        var triggered = Regex.Match(await page.Locator(".message").TextContentAsync() ?? "", "as task (\\S+)\\.").Groups[1].Value;
        Assert.NotEmpty(triggered);
        await shop.Worker.WaitForOutputAsync(o => o.Contains($"Stock report written (message {triggered})"), TimeSpan.FromSeconds(30), "the triggered report to run");

        // A dead letter, selected and purged.
        await page.ClickAsync("nav a:has-text('Dead letters')");
        await page.ClickAsync("nav.tabs a:has-text('orders')");
        await Assertions.Expect(page.Locator($"tr:has-text('{hopeless}')")).ToBeVisibleAsync();
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "dead-letters.png"), FullPage = true });
        // Many viewers at once all see it: the page peeks, it takes nothing.
        var views = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => shop.Http.GetStringAsync("/tasks/dead?queue=orders")));
        Assert.All(views, view => Assert.Contains(hopeless, view));
        await page.CheckAsync($"input[value='{hopeless}']");
        await page.ClickAsync("button:has-text('Purge selected')");
        await Assertions.Expect(page.Locator(".message")).ToContainTextAsync("Purged 1 dead letter(s) of 'orders'");
        await Assertions.Expect(page.Locator($"tr:has-text('{hopeless}')")).ToHaveCountAsync(0);

        // The workers: the Shop's worker, alive, with its queues.
        await page.ClickAsync("nav a:has-text('Workers')");
        await Assertions.Expect(page.Locator("td", new() { HasText = "alive" })).ToHaveCountAsync(1);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "workers.png"), FullPage = true });
    }
}
