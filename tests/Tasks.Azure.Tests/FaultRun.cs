using System.Reflection;

namespace Tasks.Azure.Tests;

/// <summary>What the producers acknowledged and what the workers ran, read back from their record files.</summary>
internal sealed record FaultRecords(HashSet<int> Acknowledged, int Failed, int Retried, List<(int N, string Id, int Attempt, double LatencyMs)> Ran)
{
    public int DistinctRan => Ran.Select(r => r.N).Distinct().Count();

    public int Duplicates => Ran.Count - DistinctRan;

    public int Lost => Acknowledged.Except(Ran.Select(r => r.N)).Count();
}

/// <summary>One scenario: a fresh Azurite (it slows as it carries more messages), a queue prefix, the processes and their record files.</summary>
internal sealed partial class FaultRun : IAsyncDisposable
{
    private static readonly string WorkerDll = typeof(FaultRun).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "FaultWorker").Value!;
    private readonly string directory = Directory.CreateTempSubdirectory("tasks-fault-").FullName;
    private readonly List<ChildProcess> processes = new();

    private FaultRun(AzuriteProcess azurite, AzuriteProcess[] moreAccounts)
    {
        Azurite = azurite;
        MoreAccounts = moreAccounts;
    }

    /// <summary>Writes a scenario's figures to the test output and to the console (where the suite's log keeps them).</summary>
    public static void Report(Xunit.Abstractions.ITestOutputHelper output, string scenario, FaultRecords records, int expected, string detail)
    {
        var line = $"{scenario}: {expected:N0} acknowledged, {records.DistinctRan:N0} ran, lost {records.Lost}, duplicates {records.Duplicates}; {detail}";
        output.WriteLine(line);
        Console.WriteLine("fault suite: " + line);
    }

    /// <summary>How long a scenario waits for a condition before it fails with what it saw.</summary>
    public static TimeSpan Patience { get; } = TimeSpan.FromMinutes(4);

    /// <summary>The main account: queues, records, dead letters.</summary>
    public AzuriteProcess Azurite { get; }

    /// <summary>More Azurite processes, each standing in for another storage account (for shards).</summary>
    public AzuriteProcess[] MoreAccounts { get; }

    /// <summary>The environment of the processes started from now on (TASKS_FAULT_SHARDS, say).</summary>
    public Dictionary<string, string> Environment { get; } = new();

    /// <summary>Shards the fault queue over <paramref name="count"/> queues in every account of the run, for the processes started from now on.</summary>
    /// <summary>
    /// A longer RequestTimeout for every process of the run: for a load under which Azurite, on 2 busy cores, answers a
    /// call only after tens of seconds (a deployment that would rather wait than fail sets it so too).
    /// </summary>
    public void PatientCalls(int seconds) => Environment["TASKS_FAULT_REQUEST_TIMEOUT"] = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public void ShardFaultQueue(int count)
    {
        Environment["TASKS_FAULT_SHARDS"] = $"fault={count}";
        Environment["TASKS_FAULT_SHARD_ACCOUNTS"] = string.Join('|', MoreAccounts.Select(a => a.ConnectionString));
    }

    public string Prefix { get; } = "f" + Guid.NewGuid().ToString("N")[..8] + "-";

    public static async Task<FaultRun> StartAsync(int accounts = 1)
    {
        if (!File.Exists(WorkerDll)) throw new InvalidOperationException($"{WorkerDll} is missing: build the solution first (./test.sh does).");
        var main = await AzuriteProcess.StartAsync(tables: true);
        var more = new AzuriteProcess[accounts - 1];
        for (var i = 0; i < more.Length; i++) more[i] = await AzuriteProcess.StartAsync();
        return new FaultRun(main, more);
    }

    public ChildProcess StartWorker(int maxConcurrency, int leaseSeconds = 5)
        => Start("worker", maxConcurrency.ToString(), leaseSeconds.ToString());

    /// <param name="retries">How often the producer tries again an enqueue that failed transiently (as a web API's caller retries a 503).</param>
    public ChildProcess StartProducer(int first, int count, int producers, int taskMs = 0, bool ignoreToken = false, int retries = 0)
        => Start("produce", first.ToString(), count.ToString(), producers.ToString(), taskMs.ToString(), ignoreToken ? "1" : "0", retries.ToString());

    public async Task<ChildProcess> ProduceAsync(int first, int count, int producers, int taskMs = 0, bool ignoreToken = false, int retries = 0)
    {
        var producer = StartProducer(first, count, producers, taskMs, ignoreToken, retries);
        // 20,000 enqueues took over 4 minutes once, on 2 cores shared with a build: the bound is for a hang, not a speed goal.
        try
        {
            await producer.WaitForExitAsync(count > 1_000 ? 2 * Patience : Patience);
        }
        catch (TimeoutException)
        {
            var sofar = Read();
            throw new TimeoutException($"The producer did not finish in time: {sofar.Acknowledged.Count} of {count} enqueued, {sofar.Failed} failed, {sofar.DistinctRan} ran so far:\n{producer.Output}");
        }

        var records = Read();
        Assert.True(records.Acknowledged.Count == count, $"{records.Acknowledged.Count} of {count} enqueued:\n{producer.Output}");
        return producer;
    }

    public async Task WaitAsync(Func<FaultRecords, bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Patience);
        while (!condition(Read()))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"Timed out waiting until {what}: {Describe(Read())}\n{string.Join("\n---\n", processes.Select(p => p.Output))}");
            await Task.Delay(250);
        }
    }

    /// <summary>
    /// The messages some worker could not settle in time (it logged losing the lease or failing to settle):
    /// each comes back to run again, at least once as promised.
    /// </summary>
    public HashSet<string> Unsettled()
        => processes.SelectMany(p => UnsettledLine().Matches(p.Output)).Select(m => m.Groups[1].Value).ToHashSet();

    [System.Text.RegularExpressions.GeneratedRegex(@"(?:Lost the lease of message|Could not settle message|Handling message) (\S+) on ")]
    private static partial System.Text.RegularExpressions.Regex UnsettledLine();

    public FaultRecords Read()
    {
        var acknowledged = new HashSet<int>();
        var (failed, retried) = (0, 0);
        var ran = new List<(int, string, int, double)>();
        foreach (var file in Directory.EnumerateFiles(directory, "*.log"))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            foreach (var line in new StreamReader(stream).ReadToEnd().Split('\n'))
            {
                var parts = line.Trim().Split(' ');
                // A SIGKILL may cut the last line short: only whole lines count.
                if (parts is ["ok", var n, _] && int.TryParse(n, out var ok)) acknowledged.Add(ok);
                else if (parts is ["failed", _, _, _]) failed++;
                else if (parts is ["retried", _]) retried++;
                else if (parts is ["ran", var r, var id, var attempt, var latency] && int.TryParse(r, out var number) && double.TryParse(latency, out var ms))
                    ran.Add((number, id, int.Parse(attempt), ms));
            }
        }

        return new FaultRecords(acknowledged, failed, retried, ran);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in processes) process.Dispose();
        await Azurite.DisposeAsync();
        foreach (var account in MoreAccounts) await account.DisposeAsync();
        Directory.Delete(directory, recursive: true);
    }

    private static string Describe(FaultRecords records)
        => $"{records.Acknowledged.Count} acknowledged, {records.Failed} failed, {records.Retried} retried, {records.Ran.Count} runs of {records.DistinctRan} tasks";

    private ChildProcess Start(string mode, params string[] arguments)
    {
        var file = Path.Combine(directory, $"{mode}{processes.Count}.log");
        var process = ChildProcess.Start("dotnet", [WorkerDll, mode, Azurite.ConnectionString, Prefix, file, .. arguments], directory, new Dictionary<string, string>(Environment));
        processes.Add(process);
        return process;
    }
}
