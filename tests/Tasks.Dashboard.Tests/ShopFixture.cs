using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Reflection;

namespace Tasks.Dashboard.Tests;

/// <summary>
/// The Shop as it runs: Azurite (queues, blobs, tables), Shop.Worker and Shop.Api (which hosts the
/// dashboard at /tasks) as processes of their own, on a queue prefix of their own.
/// </summary>
public sealed class ShopFixture : IAsyncLifetime
{
    private static readonly string BinPattern = typeof(ShopFixture).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ShopBin").Value!;
    private AzuriteProcess? azurite;
    private ChildProcess? worker;
    private ChildProcess? api;

    public Uri Address { get; private set; } = default!;

    public HttpClient Http { get; private set; } = default!;

    internal ChildProcess Worker => worker!;

    public async Task InitializeAsync()
    {
        azurite = await AzuriteProcess.StartAsync(blobs: true, tables: true);
        var environment = new Dictionary<string, string>
        {
            ["Tasks__Azure__ConnectionString"] = azurite.ConnectionString,
            ["Tasks__Azure__QueuePrefix"] = "shop" + Guid.NewGuid().ToString("N")[..8] + "-",
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        };
        worker = Start("Shop.Worker", [], environment);
        await worker.WaitForOutputAsync(o => o.Contains("Task worker started"), TimeSpan.FromSeconds(90), "the worker to start");
        var port = FreePort();
        api = Start("Shop.Api", ["--urls", $"http://127.0.0.1:{port}"], environment);
        await api.WaitForOutputAsync(o => o.Contains("Now listening on"), TimeSpan.FromSeconds(90), "the API to listen");
        Address = new Uri($"http://127.0.0.1:{port}");
        Http = new HttpClient { BaseAddress = Address };
    }

    /// <summary>POSTs to the Shop's API and returns the id of the task it enqueued.</summary>
    public async Task<string> EnqueueAsync(string path)
    {
        using var response = await Http.PostAsync(path, null);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"POST {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<Accepted>())!.MessageId;
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        api?.Dispose();
        worker?.Dispose();
        if (azurite is not null) await azurite.DisposeAsync();
    }

    private static ChildProcess Start(string project, string[] arguments, IReadOnlyDictionary<string, string> environment)
    {
        var bin = string.Format(System.Globalization.CultureInfo.InvariantCulture, BinPattern, project);
        var dll = Path.Combine(bin, project + ".dll");
        if (!File.Exists(dll)) throw new InvalidOperationException($"{dll} is missing: build the solution first (./test.sh does).");
        return ChildProcess.Start("dotnet", [dll, .. arguments], bin, environment);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed record Accepted(string MessageId);
}
