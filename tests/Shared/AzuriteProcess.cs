using System.Text.RegularExpressions;

namespace Tasks.Testing;

/// <summary>
/// A real Azurite queue server, started from the repository's pinned npm package on a free
/// loopback port, in memory, and killed afterwards (it ignores SIGTERM). Shared by the Azure
/// tests and the benchmarks.
/// </summary>
internal sealed partial class AzuriteProcess : IAsyncDisposable
{
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private readonly ChildProcess process;
    private readonly ChildProcess? blobProcess;
    private readonly ChildProcess? tableProcess;

    private AzuriteProcess((ChildProcess Process, int Port) queue, (ChildProcess Process, int Port)? blob, (ChildProcess Process, int Port)? table)
    {
        process = queue.Process;
        blobProcess = blob?.Process;
        tableProcess = table?.Process;
        ServiceUri = new Uri($"http://127.0.0.1:{queue.Port}/devstoreaccount1");
        ConnectionString = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};QueueEndpoint={ServiceUri};" +
            (blob is { } b ? $"BlobEndpoint=http://127.0.0.1:{b.Port}/devstoreaccount1;" : "") +
            (table is { } t ? $"TableEndpoint=http://127.0.0.1:{t.Port}/devstoreaccount1;" : "");
    }

    public string ConnectionString { get; }

    public Uri ServiceUri { get; }

    /// <summary>
    /// Starts the queue service, and with <paramref name="blobs"/> the blob service too (recurring tasks
    /// keep their schedules there), with <paramref name="tables"/> the table service (task records):
    /// each its own process, so one can be paused while the others serve. With <paramref name="queueLog"/>, the queue
    /// service writes every request it gets there (Azurite's debug log), for a test that counts them.
    /// </summary>
    public static async Task<AzuriteProcess> StartAsync(bool blobs = false, bool tables = false, string? queueLog = null)
    {
        var started = new List<ChildProcess>();
        try
        {
            var queue = await StartServiceAsync("queue", queueLog);
            started.Add(queue.Process);
            (ChildProcess, int)? blob = null, table = null;
            if (blobs)
            {
                blob = await StartServiceAsync("blob");
                started.Add(blob.Value.Item1);
            }

            if (tables)
            {
                table = await StartServiceAsync("table");
                started.Add(table.Value.Item1);
            }

            return new AzuriteProcess(queue, blob, table);
        }
        catch
        {
            foreach (var child in started) child.Dispose();
            throw;
        }
    }

    private static async Task<(ChildProcess Process, int Port)> StartServiceAsync(string service, string? debugLog = null)
    {
        var root = RepositoryRoot();
        var executable = Path.Combine(root, "node_modules", ".bin", "azurite-" + service);
        if (!File.Exists(executable))
        {
            throw new InvalidOperationException(
                $"Azurite is not installed: {executable} is missing. Run `npm ci` in {root} " +
                "(./test.sh does it), which installs the Azurite version pinned in package-lock.json.");
        }

        // --skipApiVersionCheck: Azure.Storage.Queues 12.28 sends a service version newer than Azurite 3.37 knows.
        // The table service does not say which port it took for port 0: it is given a free one.
        var port = service == "table" ? FreePort() : 0;
        string[] arguments = [$"--{service}Host", "127.0.0.1", $"--{service}Port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--inMemoryPersistence", "--skipApiVersionCheck", "--loose", .. debugLog is null ? Array.Empty<string>() : ["--debug", debugLog]];
        var process = ChildProcess.Start(executable, arguments, Path.GetTempPath());
        try
        {
            if (port != 0)
            {
                await process.WaitForOutputAsync(o => o.Contains("successfully started", StringComparison.Ordinal), TimeSpan.FromSeconds(60), $"Azurite's {service} service to start");
                return (process, port);
            }

            await process.WaitForOutputAsync(o => Listening().IsMatch(o), TimeSpan.FromSeconds(60), $"Azurite's {service} service to report its port");
            return (process, int.Parse(Listening().Match(process.Output).Groups[1].Value));
        }
        catch
        {
            process.Dispose();
            throw;
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>An outage without losing what Azurite acknowledged: SIGSTOP (a SIGKILL would roll back its last 5 s of writes).</summary>
    public Task PauseAsync() => process.SignalAsync("STOP");

    public Task ResumeAsync() => process.SignalAsync("CONT");

    /// <summary>An outage of the table service alone (task records), the queues serving on.</summary>
    public Task PauseTablesAsync() => TableProcess.SignalAsync("STOP");

    public Task ResumeTablesAsync() => TableProcess.SignalAsync("CONT");

    /// <summary>An outage of the blob service alone (payloads, schedules), the queues and tables serving on.</summary>
    public Task PauseBlobsAsync() => BlobProcess.SignalAsync("STOP");

    public Task ResumeBlobsAsync() => BlobProcess.SignalAsync("CONT");

    private ChildProcess BlobProcess => blobProcess ?? throw new InvalidOperationException("This Azurite was started without its blob service.");

    private ChildProcess TableProcess => tableProcess ?? throw new InvalidOperationException("This Azurite was started without its table service.");

    public async ValueTask DisposeAsync()
    {
        await ResumeAsync(); // a stopped process dies of SIGKILL only once it runs again on some kernels
        if (tableProcess is not null) await ResumeTablesAsync();
        if (blobProcess is not null) await ResumeBlobsAsync();
        process.Dispose();
        blobProcess?.Dispose();
        tableProcess?.Dispose();
    }

    public static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "package.json"))) directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException("package.json not found above the binaries.");
    }

    /// <summary>
    /// The storage operations Azurite has served, counted from its access log by kind (send,
    /// receive, delete, update, create, other): what a library costs the service, measured outside it.
    /// </summary>
    public IReadOnlyDictionary<string, int> RequestCounts()
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (Match request in AccessLogLine().Matches(process.Output))
        {
            var (method, path) = (request.Groups[1].Value, request.Groups[2].Value);
            var kind = (method, path.Contains("/messages", StringComparison.Ordinal)) switch
            {
                ("POST", true) => "send",
                ("GET", true) when !path.Contains("peekonly=true", StringComparison.Ordinal) => "receive",
                ("DELETE", true) => "delete",
                ("PUT", true) => "update",
                ("PUT", false) when !path.Contains("comp=", StringComparison.Ordinal) => "create",
                _ => "other",
            };
            counts[kind] = counts.GetValueOrDefault(kind) + 1;
        }

        return counts;
    }

    /// <summary>The messages sent to <paramref name="queue"/> (its Azure name), counted from the access log.</summary>
    public int SendsTo(string queue)
        => AccessLogLine().Matches(process.Output).Count(m => m.Groups[1].Value == "POST" && m.Groups[2].Value.Contains($"/{queue}/messages", StringComparison.Ordinal));

    /// <summary>The calls the table service has served (task records): its access log's lines, a batch transaction counted once.</summary>
    public int TableRequestCount() => AccessLogLine().Matches(TableProcess.Output).Count;

    [GeneratedRegex(@"\] ""(GET|PUT|POST|DELETE|HEAD|OPTIONS) (\S+) HTTP/[\d.]+"" \d{3}")]
    private static partial Regex AccessLogLine();

    [GeneratedRegex(@"successfully listens on http://127\.0\.0\.1:(\d+)")]
    private static partial Regex Listening();
}
