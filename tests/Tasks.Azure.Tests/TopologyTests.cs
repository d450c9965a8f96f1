using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tasks.Azure.Tests;

/// <summary>
/// The app this library exists for, built as a new user builds it: the packages packed from a clean
/// copy of the sources into a folder feed; a task library, an ASP.NET Core API that only enqueues and
/// a worker service, created outside the repository with PackageReference only; Azurite, the worker
/// and the API started as real processes; HTTP requests in, and every task run once, with the id
/// that Enqueue returned. The sources of the three projects are the repository's samples/Shop.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed partial class TopologyTests(AzuriteFixture azurite, PackedFeed packages) : IClassFixture<PackedFeed>
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Web_api_enqueues_and_a_worker_service_runs_every_task_once_with_the_id_Enqueue_returned()
    {
        var root = AzuriteProcess.RepositoryRoot();
        var work = Directory.CreateTempSubdirectory("tasks-topology-").FullName;
        ChildProcess? worker = null, api = null;
        try
        {
            var app = CreateApp(root, work, packages);
            await BuildAsync(app, "Shop.Worker");
            await BuildAsync(app, "Shop.Api");

            var environment = new Dictionary<string, string>
            {
                ["Tasks__Azure__ConnectionString"] = azurite.ConnectionString,
                ["Tasks__Azure__QueuePrefix"] = "shop" + Guid.NewGuid().ToString("N")[..8] + "-",
                ["DOTNET_ENVIRONMENT"] = "Production",
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
            };
            worker = Run(app, "Shop.Worker", ["--Telemetry:Console=true"], environment);
            await worker.WaitForOutputAsync(o => o.Contains("Task worker started"), RunTimeout, "the worker to start");
            var port = FreePort();
            api = Run(app, "Shop.Api", ["--urls", $"http://127.0.0.1:{port}", "--Telemetry:Console=true"], environment);
            await api.WaitForOutputAsync(o => o.Contains("Now listening on"), RunTimeout, "the API to listen");

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            var ids = new List<string>();
            for (var i = 0; i < 10; i++) ids.Add(await PostAsync(http, $"/welcome?email=user{i}@example.com", tenant: i % 2 == 0 ? "acme" : null));
            var orders = Enumerable.Range(0, 5).Select(_ => Guid.NewGuid()).ToArray();
            for (var i = 0; i < 5; i++) ids.Add(await PostAsync(http, $"/orders/{orders[i]}/ship?items={i + 1}"));

            await worker.WaitForOutputAsync(o => ids.All(id => o.Contains($"(message {id}) completed on attempt 1")), RunTimeout, "every task to run and be completed");
            var runs = MessageIds().Matches(worker.Output).Select(m => m.Groups[1].Value).ToArray();
            Assert.Equal(ids.Order(), runs.Order());

            // The API's enqueue filter carried each request's tenant in its envelope; the worker's run filter set it for the run.
            for (var i = 0; i < 10; i++) Assert.Contains($"Welcome mail sent to user{i}@example.com (task Shop.Tasks.EmailTasks.SendWelcome, message {ids[i]}, attempt 1) for tenant {(i % 2 == 0 ? "acme" : "none")}", worker.Output);

            // A plain record argument (no attribute) crossed the processes by its generated formatter, default member included.
            for (var i = 0; i < 5; i++) Assert.Contains($"Order {orders[i]} shipped with {i + 1} item(s) by post", worker.Output);
            Assert.Matches(@"Task worker started: 10 task\(s\) on queue\(s\) (emails, orders|orders, emails) via Azure Storage Queues at http://127\.0\.0\.1:", worker.Output);
            Assert.Contains("run filters: TenantRunFilter on every task", worker.Output);

            // Every task has a record in Azurite's table service: GET /tasks/{id} returns it.
            var welcome = await RecordAsync(http, ids[0], r => r.GetProperty("state").GetString() == "Succeeded", "the welcome task's record says it succeeded");
            Assert.Equal("Shop.Tasks.EmailTasks.SendWelcome", welcome.GetProperty("taskName").GetString());
            Assert.Equal("user0@example.com", JsonDocument.Parse(welcome.GetProperty("argumentsJson").GetString()!).RootElement.GetProperty("email").GetString());
            Assert.Equal("Completed", welcome.GetProperty("history")[0].GetProperty("outcome").GetString());
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/tasks/nope")).StatusCode);

            // A unique task: a double click sends one invoice, and both clicks get its id.
            var invoiced = Guid.NewGuid();
            var clicks = await Task.WhenAll(PostAsync(http, $"/orders/{invoiced}/invoice"), PostAsync(http, $"/orders/{invoiced}/invoice"));
            Assert.Equal(clicks[0], clicks[1]);
            await worker.WaitForOutputAsync(o => o.Contains($"Invoice for order {invoiced} sent (message {clicks[0]})"), RunTimeout, "the invoice to be sent");

            // An order placed: stored in SQLite with its charge in one SaveChanges, the charge sent from the outbox once committed.
            using (var response = await http.PostAsync("/orders?email=ada@example.com&items=2&amount=5.25", null))
            {
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
                var placed = await response.Content.ReadFromJsonAsync<JsonElement>();
                var (order, charge) = (placed.GetProperty("orderId").GetString(), placed.GetProperty("messageId").GetString()!);
                await worker.WaitForOutputAsync(o => o.Contains($"Order {order} charged 5.25 (message {charge})"), RunTimeout, "the charge of the order placed to run");
                var charged = await RecordAsync(http, charge, r => r.GetProperty("state").GetString() == "Succeeded", "the charge's record says it succeeded");
                Assert.Equal(1, charged.GetProperty("attempts").GetInt32());
                Assert.Equal(2, (await http.GetFromJsonAsync<JsonElement>($"/orders/{order}")).GetProperty("items").GetInt32());
            }

            // A checkout: charge, then ship, then mail, each after the one before, with the ids the API returned.
            var checkout = Guid.NewGuid();
            using (var response = await http.PostAsync($"/orders/{checkout}/checkout?items=2&amount=19.99&email=ada@example.com", null))
            {
                var steps = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("messageIds").EnumerateArray().Select(e => e.GetString()!).ToArray();
                string[] lines = [$"Order {checkout} charged 19.99 (message {steps[0]})", $"(task Shop.Tasks.OrderTasks.Ship, message {steps[1]}", $"Shipping mail for order {checkout} sent to ada@example.com (message {steps[2]})"];
                await worker.WaitForOutputAsync(o => lines.All(o.Contains), RunTimeout, "the three steps of the checkout to run");
                var at = lines.Select(l => worker.Output.IndexOf(l, StringComparison.Ordinal)).ToArray();
                Assert.True(at[0] < at[1] && at[1] < at[2], "the steps ran in order");
                var shipped = await RecordAsync(http, steps[1], r => r.GetProperty("state").GetString() == "Succeeded", "the shipping step's record");
                Assert.Equal(steps[0], shipped.GetProperty("parentId").GetString());
            }

            // One billing run per customer at a time: three requests for one customer run one after another (500 ms each),
            // the waiting ones in the queue with their records saying so; another customer's run goes on meanwhile.
            var bills = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => PostAsync(http, "/customers/c42/bill?month=2026-11")).Append(PostAsync(http, "/customers/c7/bill?month=2026-11")));
            await AzureHarness.WaitUntil(async () => (await Task.WhenAll(bills.Take(3).Select(id => http.GetFromJsonAsync<JsonElement>($"/tasks/{id}")))).Any(r => r.TryGetProperty("waitingFor", out var w) && w.ValueKind == JsonValueKind.String && w.GetString()!.Contains("(key c42)")), "a second bill of c42 to wait for the first");
            await worker.WaitForOutputAsync(o => bills.All(id => o.Contains($"billed for 2026-11 (message {id})")), RunTimeout, "every bill to run");
            var c42 = new List<(DateTimeOffset Started, DateTimeOffset Finished)>();
            foreach (var id in bills.Take(3))
            {
                var bill = await RecordAsync(http, id, r => r.GetProperty("state").GetString() == "Succeeded", "a bill's record says it succeeded");
                Assert.Equal(1, bill.GetProperty("attempts").GetInt32()); // waiting used no attempt
                c42.Add((bill.GetProperty("startedAt").GetDateTimeOffset(), bill.GetProperty("finishedAt").GetDateTimeOffset()));
            }

            c42.Sort();
            Assert.True(c42[1].Started >= c42[0].Finished && c42[2].Started >= c42[1].Finished, $"two bills of c42 ran at once: {string.Join(", ", c42)}");

            // A long task reports its progress while it runs; cancelled by id, its token fires and it ends Cancelled.
            var import = await PostAsync(http, "/stock/import?rows=30");
            var stream = ReadEventsAsync(http, $"/tasks/{import}/events"); // server-sent events, as a browser's EventSource reads them
            var running = await RecordAsync(http, import, r => r.GetProperty("state").GetString() == "Running" && r.TryGetProperty("progress", out var p) && p.ValueKind == JsonValueKind.Object && p.GetProperty("fraction").GetDouble() > 0, "the import to report progress");
            Assert.StartsWith("row ", running.GetProperty("progress").GetProperty("note").GetString());
            using (var cancel = await http.PostAsync($"/tasks/{import}/cancel", null)) Assert.Contains("\"Requested\"", await cancel.Content.ReadAsStringAsync());
            var cancelled = await RecordAsync(http, import, r => r.GetProperty("state").GetString() == "Cancelled", "the import to end cancelled");
            Assert.True(cancelled.GetProperty("progress").GetProperty("fraction").GetDouble() < 1);
            Assert.DoesNotContain("Stock import of 30 rows done", worker.Output);
            var events = await stream.WaitAsync(RunTimeout); // the stream ends with the task
            Assert.Equal("Enqueued", events[0].GetProperty("kind").GetString());
            Assert.Contains(events, e => e.GetProperty("kind").GetString() == "Progress" && e.GetProperty("progress").GetProperty("note").GetString()!.StartsWith("row ", StringComparison.Ordinal));
            Assert.Equal("Cancelled", events[^1].GetProperty("kind").GetString());

            // A large argument: a 1 MiB file travels in a blob, arrives whole, and its blob is deleted after the import.
            var csv = string.Concat(Enumerable.Range(0, 40_000).Select(i => $"sku-{i:00000},{i % 97}\n"));
            string catalog;
            using (var response = await http.PostAsync("/catalog/import?fileName=catalog.csv", new StringContent(csv)))
                catalog = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("messageId").GetString()!;
            await worker.WaitForOutputAsync(o => o.Contains($"Catalog catalog.csv imported: {csv.Length} bytes, 40000 lines (message {catalog})"), RunTimeout, "the catalog import to run with the whole file");
            var imported = await RecordAsync(http, catalog, r => r.GetProperty("state").GetString() == "Succeeded", "the catalog import's record");
            Assert.Contains("payload store", imported.GetProperty("argumentsNote").GetString());
            var payloads = new global::Azure.Storage.Blobs.BlobContainerClient(azurite.ConnectionString, environment["Tasks__Azure__QueuePrefix"] + AzureQueueTransport.PayloadContainer);
            await AzureHarness.WaitUntil(() => !payloads.GetBlobs().Any(), "the catalog's blob is deleted after the import");

            // The recurring task runs on its schedule, kept in Azurite's blob service.
            await worker.WaitForOutputAsync(o => o.Contains("Stock report written (message "), RunTimeout, "the recurring task to run");

            // One trace from the API's request, across the queue, to the worker's run, on the console exporters.
            var requestTraces = TraceIds().Matches(api.Output).Select(m => m.Groups[1].Value).ToHashSet();
            Assert.Contains("process Shop.Tasks.EmailTasks.SendWelcome", worker.Output);
            Assert.Contains(TraceIds().Matches(worker.Output).Select(m => m.Groups[1].Value), requestTraces.Contains);
            Assert.Contains("Task client ready (enqueue only, no worker in this process)", api.Output);
            Assert.DoesNotContain("Task worker started", api.Output);
            Assert.DoesNotContain("AccountKey", worker.Output + api.Output);

            // A stop says what it drains, and the process exits cleanly.
            await worker.SignalAsync("TERM");
            await worker.WaitForOutputAsync(o => o.Contains("Task worker stopped after"), RunTimeout, "the worker to stop");
            Assert.Matches(@"Task worker stopping: waiting up to 00:00:10 for \d+ running task\(s\)", worker.Output);
        }
        finally
        {
            worker?.Dispose();
            api?.Dispose();
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task Dotnet_format_fixes_every_fixable_diagnostic_in_one_run_and_the_project_then_builds()
    {
        var work = Directory.CreateTempSubdirectory("tasks-format-").FullName;
        try
        {
            var directory = TaskLibrary(work, "Broken", documented: true);
            File.WriteAllText(Path.Combine(directory, "Jobs.cs"), """
                using Tasks;

                namespace Broken;

                /// <summary>Mail.</summary>
                public static class Mail
                {
                    /// <summary>Sends mail.</summary>
                    /// <param name="to">To whom.</param>
                    /// <param name="cc">Copies.</param>
                    [AsyncTask]
                    public static ValueTask Send(string to, params string[] cc) => default;

                    /// <summary>Ticks.</summary>
                    [AsyncTask]
                    public static void Tick() => Console.WriteLine("tick");
                }

                /// <summary>Reports.</summary>
                public class Reports
                {
                    /// <summary>Builds a report.</summary>
                    /// <param name="year">Of this year.</param>
                    /// <param name="cancellationToken">Stops it.</param>
                    [AsyncTask]
                    public async void Build(int year, CancellationToken cancellationToken) => await Task.Delay(year, cancellationToken);
                }
                """);
            var before = await Assert.ThrowsAsync<InvalidOperationException>(() => ChildProcess.RunAsync("dotnet", ["build", directory], work, PackedFeed.BuildTimeout));
            foreach (var id in new[] { "TASK001", "TASK002", "TASK003", "TASK006" }) Assert.Contains(id, before.Message);

            await ChildProcess.RunAsync("dotnet", ["format", "analyzers", directory, "--severity", "error"], work, PackedFeed.BuildTimeout);

            var fixedSource = File.ReadAllText(Path.Combine(directory, "Jobs.cs"));
            await ChildProcess.RunAsync("dotnet", ["build", directory], work, PackedFeed.BuildTimeout);
            Assert.Contains("public static Task Send(CancellationToken cancellationToken, string to, string[] cc) => Task.CompletedTask;", fixedSource);
            Assert.Contains("public async Task Build(CancellationToken cancellationToken, int year)", fixedSource);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task The_wire_lock_from_the_package_is_started_by_dotnet_format_and_refuses_a_breaking_change()
    {
        var work = Directory.CreateTempSubdirectory("tasks-lock-").FullName;
        try
        {
            var directory = TaskLibrary(work, "Locked", documented: false);
            const string jobs = """
                using Tasks;

                namespace Locked;

                public sealed record Shipment(Guid OrderId, int Items);

                public static partial class Orders
                {
                    [AsyncTask(Queue = "orders")]
                    public static Task Ship(CancellationToken cancellationToken, Shipment shipment) => Task.CompletedTask;

                    [AsyncTask(Name = "locked.cancel")]
                    public static Task Cancel(CancellationToken cancellationToken, Guid orderId) => Task.CompletedTask;
                }
                """;
            var source = Path.Combine(directory, "Jobs.cs");
            var lockFile = Path.Combine(directory, "tasks.lock.txt");
            File.WriteAllText(source, jobs);
            File.WriteAllText(lockFile, "");

            // An empty lock opts in; Fix All of TASK014 (an info) records every task.
            await ChildProcess.RunAsync("dotnet", ["format", "analyzers", directory, "--diagnostics", "TASK014", "--severity", "info"], work, PackedFeed.BuildTimeout);
            Assert.Equal("""
                # Tasks wire lock: the shape of the messages each task's queue may hold, checked at every build.
                # Written by the code fixes of TASK013, TASK014 and TASK015; see docs/evolving-tasks.md before you change a task.

                [Locked.Orders.Ship]
                queue orders
                parameters (Locked.Shipment shipment)
                type Locked.Shipment (System.Guid OrderId, int Items)

                [locked.cancel]
                queue tasks
                parameters (System.Guid orderId)

                """.ReplaceLineEndings("\n"), File.ReadAllText(lockFile));

            // Appending, with a default value, is compatible.
            File.WriteAllText(source, jobs
                .Replace("int Items);", "int Items, string Carrier = \"post\");")
                .Replace("Guid orderId)", "Guid orderId, string reason = \"\")"));
            await ChildProcess.RunAsync("dotnet", ["build", directory], work, PackedFeed.BuildTimeout);

            // Reordering a type's members, or removing a task whose messages may be queued, is not.
            File.WriteAllText(source, jobs
                .Replace("Guid OrderId, int Items", "int Items, Guid OrderId")
                .Replace("""
                        [AsyncTask(Name = "locked.cancel")]
                        public static Task Cancel(CancellationToken cancellationToken, Guid orderId) => Task.CompletedTask;
                    """, ""));
            var broken = await Assert.ThrowsAsync<InvalidOperationException>(() => ChildProcess.RunAsync("dotnet", ["build", directory], work, PackedFeed.BuildTimeout));
            Assert.Contains("Jobs.cs(10,66): error TASK013: Task 'Locked.Orders.Ship' has 'int Items' as member 1 of 'Locked.Shipment', where queued messages carry 'System.Guid OrderId'", broken.Message);
            Assert.Contains("tasks.lock.txt(9,1): error TASK015: tasks.lock.txt has an entry for 'locked.cancel', but no task has that wire name", broken.Message);

            // Formatting out of habit accepts none of it: the lock changes only by a decision about one task.
            var locked = File.ReadAllText(lockFile);
            await ChildProcess.RunAsync("dotnet", ["format", directory], work, PackedFeed.BuildTimeout);
            Assert.Equal(locked, File.ReadAllText(lockFile));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>A class library referencing the packed Tasks package, in <paramref name="work"/>/<paramref name="name"/>; returns its directory.</summary>
    private string TaskLibrary(string work, string name, bool documented)
    {
        var directory = Path.Combine(work, name);
        Directory.CreateDirectory(directory);
        packages.WriteNuGetConfig(work);
        File.WriteAllText(Path.Combine(directory, name + ".csproj"),
            PackedFeed.Project("Microsoft.NET.Sdk", documented, $"<PackageReference Include=\"Tasks\" Version=\"{packages.Version}\" />"));
        return directory;
    }

    /// <summary>The three projects a user writes, with the lines README's "Using it in a project" shows.</summary>
    private static string CreateApp(string root, string work, PackedFeed packages)
    {
        var app = Path.Combine(work, "app");
        var samples = Path.Combine(root, "samples", "Shop");
        Directory.CreateDirectory(app);
        packages.WriteNuGetConfig(app);
        var tasks = $"<PackageReference Include=\"Tasks\" Version=\"{packages.Version}\" />";
        var azure = $"<PackageReference Include=\"Tasks.Azure\" Version=\"{packages.Version}\" />";
        var telemetry = $"""
            <PackageReference Include="Tasks.OpenTelemetry" Version="{packages.Version}" />
                <PackageReference Include="OpenTelemetry.Extensions.Hosting" Version="1.20.1" />
                <PackageReference Include="OpenTelemetry.Exporter.Console" Version="1.20.1" />
            """;
        const string library = "<ProjectReference Include=\"../Shop.Tasks/Shop.Tasks.csproj\" />";
        WriteProject(app, samples, "Shop.Tasks", PackedFeed.Project("Microsoft.NET.Sdk", documented: true, tasks));
        var dashboard = $"<PackageReference Include=\"Tasks.Dashboard\" Version=\"{packages.Version}\" />";
        var outbox = $"""
            <PackageReference Include="Tasks.EntityFrameworkCore" Version="{packages.Version}" />
                <PackageReference Include="Microsoft.EntityFrameworkCore.Sqlite" Version="10.0.15" />
            """;
        WriteProject(app, samples, "Shop.Api", PackedFeed.Project("Microsoft.NET.Sdk.Web", documented: false, azure, dashboard, telemetry, outbox, library));
        WriteProject(app, samples, "Shop.Worker", PackedFeed.Project("Microsoft.NET.Sdk.Worker", documented: false,
            "<PackageReference Include=\"Microsoft.Extensions.Hosting\" Version=\"10.0.0\" />", azure, telemetry, library));
        return app;
    }

    private static void WriteProject(string app, string samples, string name, string project)
    {
        var directory = Path.Combine(app, name);
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, name + ".csproj"), project);
        foreach (var source in Directory.EnumerateFiles(Path.Combine(samples, name)).Where(f => f.EndsWith(".cs") || f.EndsWith(".json") || f.EndsWith(".lock.txt")))
            File.Copy(source, Path.Combine(directory, Path.GetFileName(source)));
    }

    private static Task<string> BuildAsync(string app, string project)
        => ChildProcess.RunAsync("dotnet", ["build", Path.Combine(app, project), "-c", "Release"], app, PackedFeed.BuildTimeout);

    private static ChildProcess Run(string app, string project, string[] arguments, Dictionary<string, string> environment)
    {
        var directory = Path.Combine(app, project);
        return ChildProcess.Start("dotnet", [Path.Combine(directory, "bin", "Release", "net10.0", project + ".dll"), .. arguments], directory, environment);
    }

    /// <summary>Reads a server-sent event stream to its end: the data of each "task" event, parsed.</summary>
    private static async Task<List<JsonElement>> ReadEventsAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var events = new List<JsonElement>();
        var kind = "";
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) kind = line["event: ".Length..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal) && kind == "task") events.Add(JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone());
        }

        return events;
    }

    /// <summary>GET /tasks/{id} until the record meets <paramref name="condition"/>.</summary>
    private static async Task<JsonElement> RecordAsync(HttpClient http, string id, Func<JsonElement, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + RunTimeout;
        while (true)
        {
            using var response = await http.GetAsync($"/tasks/{id}");
            var body = await response.Content.ReadAsStringAsync();
            if (response.IsSuccessStatusCode && condition(JsonDocument.Parse(body).RootElement)) return JsonDocument.Parse(body).RootElement;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out waiting for {what}: GET /tasks/{id} answers {(int)response.StatusCode} {body}");
            await Task.Delay(100);
        }
    }

    private static async Task<string> PostAsync(HttpClient http, string path, string? tenant = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path);
        if (tenant is not null) request.Headers.Add("X-Tenant", tenant);
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"POST {path}: {(int)response.StatusCode} {body}");
        var accepted = await response.Content.ReadFromJsonAsync<Accepted>();
        return Assert.IsType<string>(accepted?.MessageId);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed record Accepted(string? MessageId);

    [GeneratedRegex(@"message (\S+), attempt 1\)")]
    private static partial Regex MessageIds();

    [GeneratedRegex(@"Activity\.TraceId:\s+([0-9a-f]{32})")]
    private static partial Regex TraceIds();
}

/// <summary>
/// Every package, the CLI tool and the templates, packed once per class by README's one pack command from a copy of the sources (what a fresh clone has, so the
/// repository's build output is left alone) into a folder feed, under a version of this run's own.
/// </summary>
public sealed class PackedFeed : IAsyncLifetime
{
    public static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(6);

    /// <summary>
    /// A project as a careful user writes it (nullable, warnings as errors; the generated code must
    /// compile under it without a warning), with the README's references.
    /// </summary>
    public static string Project(string sdk, bool documented, params string[] items) => $"""
        <Project Sdk="{sdk}">
          <PropertyGroup>
            <TargetFramework>net10.0</TargetFramework>
            <ImplicitUsings>enable</ImplicitUsings>
            <Nullable>enable</Nullable>
            <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
            <WarningsNotAsErrors>NU1603</WarningsNotAsErrors>
            <GenerateDocumentationFile>{(documented ? "true" : "false")}</GenerateDocumentationFile>
          </PropertyGroup>
          <ItemGroup>
            {string.Join("\n    ", items)}
          </ItemGroup>
        </Project>
        """;

    private readonly string work = Directory.CreateTempSubdirectory("tasks-feed-").FullName;

    public string Version { get; } = $"0.0.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

    public string Feed => Path.Combine(work, "feed");

    public async Task InitializeAsync()
    {
        var root = AzuriteProcess.RepositoryRoot();
        var clone = Path.Combine(work, "clone");
        foreach (var folder in new[] { "src", "templates", "eng" })
            CopyTree(Path.Combine(root, folder), Path.Combine(clone, folder));
        foreach (var file in new[] { "Directory.Build.props", "Directory.Packages.props", "global.json", "LICENSE", "Tasks.sln", "Tasks.Packages.slnf" })
            File.Copy(Path.Combine(root, file), Path.Combine(clone, file));
        // README's one pack command: every package, the CLI tool and the templates.
        await ChildProcess.RunAsync("dotnet", ["pack", Path.Combine(clone, "Tasks.Packages.slnf"), "-c", "Release", "-o", Feed, $"-p:Version={Version}"], clone, BuildTimeout);
    }

    /// <summary>The nuget.config README shows: the local feed added to the machine's sources.</summary>
    public void WriteNuGetConfig(string directory)
        => File.WriteAllText(Path.Combine(directory, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="local" value="{Feed}" />
              </packageSources>
            </configuration>
            """);

    public Task DisposeAsync()
    {
        Directory.Delete(work, recursive: true);

        // The global package folder keeps every version restored; these were for this run only.
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var id in new[] { "tasks", "tasks.azure", "tasks.opentelemetry", "tasks.dashboard", "tasks.entityframeworkcore" })
        {
            var folder = Path.Combine(packages, id, Version);
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }

        return Task.CompletedTask;
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            if (relative.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj")) continue;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(to, relative))!);
            File.Copy(file, Path.Combine(to, relative));
        }
    }
}
