using System.Reflection;

namespace Tasks.Azure.Tests;

/// <summary>
/// Processes of tests/Fixtures/Tasks.Fixtures.FaultWorker on one Azurite and one queue prefix, each writing its
/// record file in a temporary directory; killed and the directory deleted on dispose.
/// </summary>
internal sealed class FaultWorkers(string connectionString, string name) : IDisposable
{
    private static readonly string WorkerDll = typeof(FaultWorkers).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "FaultWorker").Value!;
    private readonly List<ChildProcess> processes = new();
    /// <summary>The queue prefix of every process of this set: its queues are Azure's <c>{Prefix}{queue}</c>.</summary>
    public string Prefix { get; } = name[0] + Guid.NewGuid().ToString("N")[..8] + "-";

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory($"tasks-{name}-").FullName;

    public FaultWorkers(AzuriteFixture azurite, string name)
        : this(azurite.ConnectionString, name)
    {
    }

    /// <summary>Starts a FaultWorker in <paramref name="mode"/>, recording to <paramref name="file"/>; with <paramref name="killAt"/>, it kills itself there.</summary>
    public ChildProcess Start(string mode, string file, string[] arguments, string? killAt = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var variables = new Dictionary<string, string>(environment ?? new Dictionary<string, string>());
        if (killAt is not null) variables["TASKS_FAULT_KILL_AT"] = killAt;
        var process = ChildProcess.Start("dotnet", [WorkerDll, mode, connectionString, Prefix, Path.Combine(Directory, file), .. arguments], Directory, variables.Count == 0 ? null : variables);
        processes.Add(process);
        return process;
    }

    /// <summary>The lines of a record file so far, split at spaces; none if it does not exist yet.</summary>
    public string[][] Lines(string file)
    {
        var path = Path.Combine(Directory, file);
        if (!File.Exists(path)) return [];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim().Split(' ')).ToArray();
    }

    /// <summary>The markers the workers that killed themselves left: what each was doing.</summary>
    public string[] Kills() => System.IO.Directory.EnumerateFiles(Directory, "killed-*").Select(File.ReadAllText).ToArray();

    public static async Task WaitAsync(Func<bool> condition, TimeSpan timeout, Func<string> output)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out: {output()}");
            await Task.Delay(100);
        }
    }

    public void Dispose()
    {
        foreach (var process in processes) process.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
