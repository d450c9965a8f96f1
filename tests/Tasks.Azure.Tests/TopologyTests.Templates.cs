using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Xml.Linq;

namespace Tasks.Azure.Tests;

/// <summary>
/// A new app as README's "Start a new app" makes it: the template package installed into a private hive (the
/// machine's own template list untouched), <c>dotnet new tasks-app</c>, built with warnings as errors against the
/// packages packed from this checkout, its tests run, its worker and API started on Azurite; and the packages
/// themselves, as a public feed shows them.
/// </summary>
public sealed partial class TopologyTests
{
    /// <summary>Every package README's pack command makes, with the tool and the templates.</summary>
    private static readonly string[] PackageIds = ["Tasks", "Tasks.Azure", "Tasks.OpenTelemetry", "Tasks.Dashboard", "Tasks.EntityFrameworkCore", "Tasks.Cli", "Tasks.Templates"];

    [Fact]
    public async Task A_tasks_app_made_by_dotnet_new_builds_without_warnings_passes_its_tests_and_runs_a_task_on_azurite()
    {
        var work = Directory.CreateTempSubdirectory("tasks-template-").FullName;
        var hive = Path.Combine(work, "hive");
        ChildProcess? worker = null, api = null;
        try
        {
            await DotnetNewAsync(work, ["install", Path.Combine(packages.Feed, $"Tasks.Templates.{packages.Version}.nupkg"), "--debug:custom-hive", hive]);
            var created = await DotnetNewAsync(work, ["tasks-app", "-n", "Acme.Orders", "--outbox", "--debug:custom-hive", hive]);
            Assert.Contains("was created successfully", created);
            var app = Path.Combine(work, "Acme.Orders");
            Assert.Contains($"<TasksVersion>{packages.Version}</TasksVersion>", File.ReadAllText(Path.Combine(app, "Directory.Build.props")));

            // A second worker service added to the solution by the other template, for the same task library.
            var src = Path.Combine(app, "src");
            await DotnetNewAsync(src, ["tasks-worker", "-n", "Acme.Orders.Backfill", "--tasks", "../Acme.Orders.Tasks/Acme.Orders.Tasks.csproj", "--queue-prefix", "acmeorders-", "--debug:custom-hive", hive]);

            Assert.Contains("src/Acme.Orders.Backfill/Acme.Orders.Backfill.csproj", File.ReadAllText(Path.Combine(app, "Acme.Orders.slnx")));

            packages.WriteNuGetConfig(app);
            // The solution's Directory.Build.props turns warnings into errors; a warning of ours (generated code included) fails here.
            var build = await ChildProcess.RunAsync("dotnet", ["build", Path.Combine(app, "Acme.Orders.slnx"), "-c", "Release"], app, PackedFeed.BuildTimeout);
            Assert.Contains("0 Error(s)", build);
            var tests = await ChildProcess.RunAsync("dotnet", ["test", Path.Combine(app, "Acme.Orders.slnx"), "-c", "Release", "--no-build"], app, PackedFeed.BuildTimeout);
            Assert.Matches(@"Passed!\s+- Failed:\s+0, Passed:\s+2,", tests);

            var environment = new Dictionary<string, string>
            {
                ["Tasks__Azure__ConnectionString"] = azurite.ConnectionString,
                ["Tasks__Azure__QueuePrefix"] = "acme" + Guid.NewGuid().ToString("N")[..8] + "-",
                ["DOTNET_ENVIRONMENT"] = "Production",
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
            };
            worker = Run(src, "Acme.Orders.Worker", [], environment);
            await worker.WaitForOutputAsync(o => o.Contains("Task worker started"), RunTimeout, "the template's worker to start");
            var port = FreePort();
            api = Run(src, "Acme.Orders.Api", ["--urls", $"http://127.0.0.1:{port}"], environment);
            await api.WaitForOutputAsync(o => o.Contains("Now listening on"), RunTimeout, "the template's API to listen");
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

            var welcome = await PostAsync(http, "/welcome?email=ada@example.com");
            await worker.WaitForOutputAsync(o => o.Contains("Mail 'Welcome!' sent to ada@example.com") && o.Contains($"(message {welcome}) completed on attempt 1"), RunTimeout, "the welcome task to run");
            var record = await RecordAsync(http, welcome, r => r.GetProperty("state").GetString() == "Succeeded", "the welcome task's record says it succeeded");
            Assert.Equal("Acme.Orders.Tasks.WelcomeTasks.SendWelcome", record.GetProperty("taskName").GetString());
            Assert.Equal(1, record.GetProperty("attempts").GetInt32());

            // --outbox: the sign-up and its task in one SaveChanges, sent once it commits.
            using (var response = await http.PostAsync("/signups?email=grace@example.com", null))
            {
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
                var signup = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("messageId").GetString();
                await worker.WaitForOutputAsync(o => o.Contains("Mail 'Welcome!' sent to grace@example.com") && o.Contains($"(message {signup}) completed on attempt 1"), RunTimeout, "the sign-up's task to run");
            }

            // The dashboard, on by default; the API serves it to this machine.
            using (var dashboard = await http.GetAsync("/dashboard")) Assert.Equal(HttpStatusCode.OK, dashboard.StatusCode);

            // The queue service hung: the enqueue gives up within its deadline, and the API answers 503 with Retry-After.
            await azurite.PauseQueuesAsync();
            try
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                using var hung = await http.PostAsync("/welcome?email=hung@example.com", null);
                Assert.Equal(HttpStatusCode.ServiceUnavailable, hung.StatusCode);
                Assert.NotNull(hung.Headers.RetryAfter);
                Assert.Equal("application/problem+json", hung.Content.Headers.ContentType?.MediaType);
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the API answered after {clock.Elapsed.TotalSeconds:N1} s");
            }
            finally
            {
                await azurite.ResumeQueuesAsync();
            }
        }
        finally
        {
            api?.Dispose();
            worker?.Dispose();
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task A_tasks_app_without_the_dashboard_or_the_outbox_builds_without_warnings()
    {
        // The other end of the options from the app above: every #if of the template left out.
        var work = Directory.CreateTempSubdirectory("tasks-template-plain-").FullName;
        try
        {
            var hive = Path.Combine(work, "hive");
            await DotnetNewAsync(work, ["install", Path.Combine(packages.Feed, $"Tasks.Templates.{packages.Version}.nupkg"), "--debug:custom-hive", hive]);
            await DotnetNewAsync(work, ["tasks-app", "-n", "Plain", "--dashboard", "false", "--debug:custom-hive", hive]);
            var app = Path.Combine(work, "Plain");
            Assert.False(File.Exists(Path.Combine(app, "src", "Plain.Api", "AppDb.cs")));
            Assert.DoesNotContain("Dashboard", File.ReadAllText(Path.Combine(app, "src", "Plain.Api", "Plain.Api.csproj")));
            packages.WriteNuGetConfig(app);
            var build = await ChildProcess.RunAsync("dotnet", ["build", Path.Combine(app, "Plain.slnx"), "-c", "Release"], app, PackedFeed.BuildTimeout);
            Assert.Contains("0 Error(s)", build);
            Assert.DoesNotContain("warning CS", build); // (a restore's NU1603 on a mirror that lacks a version is not ours)
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void Every_package_carries_its_readme_license_icon_and_repository_and_every_library_its_symbols()
    {
        foreach (var id in PackageIds)
        {
            var path = Path.Combine(packages.Feed, $"{id}.{packages.Version}.nupkg");
            Assert.True(File.Exists(path), $"dotnet pack Tasks.Packages.slnf made no {id} package");
            using var package = ZipFile.OpenRead(path);
            var nuspec = XDocument.Load(package.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
            string? Meta(string name) => nuspec.Descendants().FirstOrDefault(e => e.Name.LocalName == name)?.Value;
            var repository = nuspec.Descendants().Single(e => e.Name.LocalName == "repository");

            Assert.Equal("MIT", Meta("license"));
            Assert.StartsWith("https://github.com/", repository.Attribute("url")?.Value);
            Assert.False(string.IsNullOrWhiteSpace(Meta("description")), $"{id} has no description");
            Assert.False(string.IsNullOrWhiteSpace(Meta("tags")), $"{id} has no tags");
            Assert.False(string.IsNullOrWhiteSpace(Meta("releaseNotes")), $"{id} has no release notes");
            foreach (var file in new[] { Meta("readme"), Meta("icon"), "LICENSE" })
                Assert.True(package.GetEntry(file!) is { Length: > 0 }, $"{id} lacks {file}");

            // Its own README (what NuGet shows on the package's page), naming the package, not the repository's.
            using var readme = new StreamReader(package.GetEntry(Meta("readme")!)!.Open());
            Assert.Equal($"# {id}", readme.ReadLine());

            // The configuration schema Visual Studio merges for appsettings*.json, named by the package's build targets.
            if (id is "Tasks" or "Tasks.Azure")
            {
                Assert.True(package.GetEntry("ConfigurationSchema.json") is { Length: > 0 }, $"{id} lacks its configuration schema");
                using var targets = new StreamReader(package.GetEntry($"buildTransitive/{id}.targets")!.Open());
                Assert.Contains("<JsonSchemaSegment Include=\"$(MSBuildThisFileDirectory)../ConfigurationSchema.json\"", targets.ReadToEnd());
            }

            if (id == "Tasks.Templates")
            {
                Assert.Contains(nuspec.Descendants(), e => e.Name.LocalName == "packageType" && e.Attribute("name")?.Value == "Template");
                continue;
            }

            var symbols = Path.Combine(packages.Feed, $"{id}.{packages.Version}.snupkg");
            Assert.True(File.Exists(symbols), $"{id} has no symbol package");
            using var snupkg = ZipFile.OpenRead(symbols);
            Assert.Contains(snupkg.Entries, e => e.FullName.EndsWith(".pdb", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Every_library_package_is_validated_as_it_is_packed()
    {
        // Package validation (each target framework offers the same API; after a release, the released one's too) runs in
        // the pack of every library: a break fails the one pack command. (The SDK leaves it out for a tool: no one compiles against it.)
        var root = AzuriteProcess.RepositoryRoot();
        foreach (var project in new[] { "Tasks.Core", "Tasks.Azure", "Tasks.OpenTelemetry", "Tasks.Dashboard", "Tasks.EntityFrameworkCore" })
        {
            var path = Path.Combine(root, "src", project, project + ".csproj");
            var properties = await ChildProcess.RunAsync("dotnet", ["msbuild", path, "-getProperty:EnablePackageValidation", "-getProperty:IncludeSymbols", "-getProperty:SymbolPackageFormat"], root, PackedFeed.BuildTimeout);
            var values = JsonDocument.Parse(properties).RootElement.GetProperty("Properties");
            Assert.True(values.GetProperty("EnablePackageValidation").GetString() == "true", $"{project} is packed without package validation");
            Assert.Equal(("true", "snupkg"), (values.GetProperty("IncludeSymbols").GetString(), values.GetProperty("SymbolPackageFormat").GetString()));
        }
    }

    private static Task<string> DotnetNewAsync(string directory, string[] arguments)
        => ChildProcess.RunAsync("dotnet", ["new", .. arguments], directory, PackedFeed.BuildTimeout);
}
