using System.Diagnostics;
using System.Text;
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
    private readonly Process process;

    private AzuriteProcess(Process process, int port)
    {
        this.process = process;
        ServiceUri = new Uri($"http://127.0.0.1:{port}/devstoreaccount1");
        ConnectionString = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};QueueEndpoint={ServiceUri};";
    }

    public string ConnectionString { get; }

    public Uri ServiceUri { get; }

    public static async Task<AzuriteProcess> StartAsync()
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
            // --skipApiVersionCheck: Azure.Storage.Queues 12.28 sends a service version newer than Azurite 3.37 knows.
            ArgumentList = { "--queueHost", "127.0.0.1", "--queuePort", "0", "--inMemoryPersistence", "--skipApiVersionCheck", "--loose" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start Azurite.");
        var output = new StringBuilder();
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

        try
        {
            return new AzuriteProcess(process, await port.Task.WaitAsync(TimeSpan.FromSeconds(60)));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"Azurite did not report its port within 60 s:\n{output}");
        }
    }

    /// <summary>An outage without losing what Azurite acknowledged: SIGSTOP (a SIGKILL would roll back its last 5 s of writes).</summary>
    public void Pause() => Signal("STOP");

    public void Resume() => Signal("CONT");

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, process.Id.ToString()]);
        kill.WaitForExit();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -{signal} {process.Id} failed with {kill.ExitCode}");
    }

    public ValueTask DisposeAsync()
    {
        if (!process.HasExited) Resume(); // a stopped process cannot die of SIGKILL until it runs again on some kernels
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.Dispose();
        return ValueTask.CompletedTask;
    }

    public static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "package.json"))) directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException("package.json not found above the binaries.");
    }

    [GeneratedRegex(@"successfully listens on http://127\.0\.0\.1:(\d+)")]
    private static partial Regex Listening();
}
