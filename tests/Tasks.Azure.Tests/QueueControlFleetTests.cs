using System.Globalization;
using System.Text.RegularExpressions;

namespace Tasks.Azure.Tests;

/// <summary>
/// Pause and priorities across a fleet: four worker processes (tests/Fixtures/Tasks.Fixtures.FaultWorker) on an Azurite of
/// their own whose queue service logs every request, so the receives of a paused queue are counted where they arrive.
/// </summary>
[Trait("Category", "Fault")]
public sealed partial class QueueControlFleetTests : IAsyncLifetime
{
    private readonly string requestLog = Path.Combine(Path.GetTempPath(), $"azurite-requests-{Guid.NewGuid():N}.log");
    private AzuriteProcess? azurite;

    public async Task InitializeAsync() => azurite = await AzuriteProcess.StartAsync(tables: true, queueLog: requestLog);

    public async Task DisposeAsync()
    {
        if (azurite is not null) await azurite.DisposeAsync();
        File.Delete(requestLog);
    }

    [Fact]
    public async Task A_paused_queue_gets_no_receive_from_any_of_four_workers_within_ten_seconds_and_a_resume_restarts_it()
    {
        using var fleet = new FaultWorkers(azurite!.ConnectionString, "pause");
        var workers = Enumerable.Range(0, 4).Select(i => fleet.Start("worker", $"worker{i}.log", ["4", "10"])).ToArray();
        await fleet.Start("prio", "warm.log", ["4", "4", "0"]).WaitForExitAsync(TimeSpan.FromMinutes(1));
        await FaultWorkers.WaitAsync(() => Runs(fleet).Count == 8, TimeSpan.FromMinutes(1), () => workers[0].Output);

        await fleet.Start("pause", "control.log", ["fault-low"]).WaitForExitAsync(TimeSpan.FromMinutes(1));
        var pausedAt = At(fleet, "paused");
        await Task.Delay(TimeSpan.FromSeconds(10)); // every worker reads the pauses every 5 s
        var quietFrom = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await fleet.Start("prio", "paused.log", ["10", "10", "0"]).WaitForExitAsync(TimeSpan.FromMinutes(1));
        await FaultWorkers.WaitAsync(() => Runs(fleet).Count(r => r.Queue == "fault-high") == 14, TimeSpan.FromMinutes(1), () => workers[0].Output);
        await Task.Delay(TimeSpan.FromSeconds(5));

        Assert.Equal(4, Runs(fleet).Count(r => r.Queue == "fault-low")); // the warm-up's only
        Assert.Equal(0, Receives(fleet.Prefix + "fault-low", quietFrom, long.MaxValue));
        Assert.True(Receives(fleet.Prefix + "fault-high", quietFrom, long.MaxValue) > 0, "the queue that is not paused was received from meanwhile");
        Assert.True(Receives(fleet.Prefix + "fault-low", pausedAt - 10_000, pausedAt) > 0, "the request log shows the receives before the pause");

        await fleet.Start("resume", "control.log", ["fault-low"]).WaitForExitAsync(TimeSpan.FromMinutes(1));
        var resumedAt = At(fleet, "resumed");
        await FaultWorkers.WaitAsync(() => Runs(fleet).Count(r => r.Queue == "fault-low") == 14, TimeSpan.FromMinutes(1), () => workers[0].Output);
        var firstAfter = Runs(fleet).Where(r => r.Queue == "fault-low").Select(r => r.Start).Order().Skip(4).First();
        Assert.True(firstAfter - resumedAt <= 10_000, $"the first task of the resumed queue started {firstAfter - resumedAt} ms after the resume");
    }

    [Fact]
    public async Task Four_workers_weighted_three_to_one_share_their_slots_three_to_one_and_in_strict_order_leave_the_low_queue_waiting()
    {
        var weighted = new Dictionary<string, string> { ["TASKS_FAULT_PRIORITY"] = "weighted:fault-high=3,fault-low=1", ["TASKS_FAULT_BATCH"] = "1" };
        using (var fleet = new FaultWorkers(azurite!.ConnectionString, "weights"))
        {
            // Tasks of 150 ms, much longer than a receive: the slots are what both queues wait for, and what the weights share.
            await fleet.Start("prio", "backlog.log", ["400", "400", "150"]).WaitForExitAsync(TimeSpan.FromMinutes(2));
            var workers = Enumerable.Range(0, 4).Select(i => fleet.Start("worker", $"worker{i}.log", ["4", "30"], environment: weighted)).ToArray();
            await FaultWorkers.WaitAsync(() => Runs(fleet).Count >= 300, TimeSpan.FromMinutes(2), () => workers[0].Output);

            // While both queues were busy: the runs after each worker's first receives, before either ran out.
            var window = Runs(fleet).OrderBy(r => r.Start).Skip(40).Take(240).ToArray();
            var share = window.Count(r => r.Queue == "fault-high") / (double)window.Length;
            Assert.InRange(share, 0.65, 0.85);
        }

        var strict = new Dictionary<string, string> { ["TASKS_FAULT_PRIORITY"] = "strict:fault-high,fault-low", ["TASKS_FAULT_BATCH"] = "1" };
        using (var fleet = new FaultWorkers(azurite!.ConnectionString, "strict"))
        {
            await fleet.Start("prio", "backlog.log", ["120", "40", "150"]).WaitForExitAsync(TimeSpan.FromMinutes(2));
            var workers = Enumerable.Range(0, 4).Select(i => fleet.Start("worker", $"worker{i}.log", ["4", "30"], environment: strict)).ToArray();
            await FaultWorkers.WaitAsync(() => Runs(fleet).Count == 160, TimeSpan.FromMinutes(2), () => workers[0].Output);

            // Low tasks start only in each worker's first receives (before it saw the high queue busy), or at the very
            // end, when a worker finds the high queue empty while others still run its last tasks.
            var runs = Runs(fleet);
            var lastHighStart = runs.Where(r => r.Queue == "fault-high").Max(r => r.Start);
            var lowMeanwhile = runs.Count(r => r.Queue == "fault-low" && r.Start < lastHighStart - 1000);
            Assert.True(lowMeanwhile <= 16, $"{lowMeanwhile} low tasks started while the high queue had work (4 workers of 4 slots: at most their first receives)");
        }
    }

    private static List<(string Queue, int N, long Start, long End)> Runs(FaultWorkers fleet)
        => Directory.EnumerateFiles(fleet.Directory, "worker*.log").SelectMany(f => fleet.Lines(Path.GetFileName(f)))
            .Where(l => l is ["prio", _, _, _, _, _])
            .Select(l => (l[1], int.Parse(l[2]), long.Parse(l[3]), long.Parse(l[4]))).ToList();

    private static long At(FaultWorkers fleet, string what)
        => long.Parse(fleet.Lines("control.log").Last(l => l[0] == what)[2]);

    /// <summary>The receives (not peeks) of <paramref name="queue"/> in Azurite's request log between two Unix-ms times.</summary>
    private int Receives(string queue, long from, long to)
    {
        using var stream = new FileStream(requestLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var receive = new Regex($@"^(\S+) \S+ info: QueueStorageContextMiddleware: RequestMethod=GET RequestURL=\S+/devstoreaccount1/{Regex.Escape(queue)}/messages\?(?!\S*peekonly=true)");
        return new StreamReader(stream).ReadToEnd().Split('\n')
            .Select(line => receive.Match(line)).Where(m => m.Success)
            .Select(m => DateTimeOffset.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds())
            .Count(at => at >= from && at < to);
    }
}
