using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Tasks.Azure.Tests;

/// <summary>
/// A real Azurite queue server for the whole test run, started from the repository's pinned npm
/// package on a free loopback port, in memory, and killed afterwards (it ignores SIGTERM).
/// </summary>
public sealed partial class AzuriteFixture : IAsyncLifetime
{
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private Process? process;

    public string ConnectionString { get; private set; } = "";

    public Uri ServiceUri { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var root = RepositoryRoot();
        var executable = Path.Combine(root, "node_modules", ".bin", "azurite-queue");
        if (!File.Exists(executable))
        {
            throw new InvalidOperationException(
                $"Azurite is not installed: {executable} is missing. Run `npm ci` in {root} " +
                "(./test.sh does it), which installs the Azurite version pinned in package-lock.json.");
        }

        var start = new ProcessStartInfo(executable)
        {
            ArgumentList = { "--queueHost", "127.0.0.1", "--queuePort", "0", "--inMemoryPersistence", "--skipApiVersionCheck", "--loose" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        process = Process.Start(start) ?? throw new InvalidOperationException("Could not start Azurite.");
        var output = new System.Text.StringBuilder();
        var port = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (output) output.AppendLine(e.Data);
            if (Listening().Match(e.Data) is { Success: true } match) port.TrySetResult(int.Parse(match.Groups[1].Value));
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) lock (output) output.AppendLine(e.Data);
        };
        process.Exited += (_, _) => port.TrySetException(new InvalidOperationException($"Azurite exited at start:\n{output}"));
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        int listening;
        try
        {
            listening = await port.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            throw new InvalidOperationException($"Azurite did not report its port within 60 s:\n{output}");
        }

        ServiceUri = new Uri($"http://127.0.0.1:{listening}/devstoreaccount1");
        ConnectionString = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};QueueEndpoint={ServiceUri};";
    }

    public Task DisposeAsync()
    {
        if (process is { HasExited: false }) process.Kill(entireProcessTree: true);
        process?.Dispose();
        return Task.CompletedTask;
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "package.json"))) directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException("package.json not found above the test binaries.");
    }

    [GeneratedRegex(@"successfully listens on http://127\.0\.0\.1:(\d+)")]
    private static partial Regex Listening();
}

[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "Azurite";
}
