namespace Tasks.Azure.Tests;

/// <summary>
/// Limits across a fleet: four worker processes (tests/Fixtures/Tasks.Fixtures.FaultWorker) on an Azurite of their own,
/// each run recording its start and end in a ledger. What ran at once, and how often, is read from the ledger.
/// </summary>
[Trait("Category", "Fault")]
public sealed class LimitFleetTests : IAsyncLifetime
{
    private AzuriteProcess? azurite;

    public async Task InitializeAsync() => azurite = await AzuriteProcess.StartAsync(tables: true);

    public async Task DisposeAsync()
    {
        if (azurite is not null) await azurite.DisposeAsync();
    }

    [Fact]
    public async Task Four_workers_keep_a_keyed_mutex_a_limit_of_three_and_a_rate_of_twenty_in_ten_seconds_and_waiting_uses_no_attempt()
    {
        using var fleet = new FaultWorkers(azurite!.ConnectionString, "limits");
        var workers = Enumerable.Range(0, 4).Select(i => fleet.Start("worker", $"worker{i}.log", ["8", "10"])).ToArray();
        await Task.WhenAll(
            fleet.Start("limits", "invoices.log", ["invoice", "40", "200"]).WaitForExitAsync(TimeSpan.FromMinutes(1)),
            fleet.Start("limits", "crm.log", ["crm", "24", "600"]).WaitForExitAsync(TimeSpan.FromMinutes(1)),
            fleet.Start("limits", "mail.log", ["mail", "45", "0"]).WaitForExitAsync(TimeSpan.FromMinutes(1)));

        await FaultWorkers.WaitAsync(() => Runs(fleet).Count(r => r.Task == "mail") >= 45 && Runs(fleet).Count >= 40 + 24 + 45, TimeSpan.FromMinutes(2), () => Describe(fleet, workers));
        var runs = Runs(fleet);

        // One invoice run per customer at a time, on whichever worker.
        foreach (var customer in runs.Where(r => r.Task == "invoice").GroupBy(r => r.Key))
        {
            var ordered = customer.OrderBy(r => r.Start).ToArray();
            for (var i = 1; i < ordered.Length; i++)
                Assert.True(ordered[i].Start >= ordered[i - 1].End, $"customer {customer.Key}: a run started at {ordered[i].Start} before the one before ended at {ordered[i - 1].End} (pids {ordered[i - 1].Pid}, {ordered[i].Pid})");
        }

        // At most three CRM calls at once across the four workers, and three reached.
        Assert.Equal(3, MostAtOnce(runs.Where(r => r.Task == "crm")));

        // At most 20 mails in any 10 s.
        var mails = runs.Where(r => r.Task == "mail").Select(r => r.Start).Order().ToArray();
        foreach (var start in mails)
            Assert.True(mails.Count(s => s >= start && s < start + 10_000) <= 20, $"more than 20 mails in the 10 s from {start}");
        Assert.True(mails[^1] - mails[0] >= 20_000, "45 mails at 20 in 10 s take more than 20 s");

        // Every task ran once, on its first attempt: waiting used none, and nothing ran twice.
        Assert.All(runs, r => Assert.Equal(1, r.Attempt));
        Assert.Equal(40 + 24 + 45, runs.Select(r => (r.Task, r.N)).Distinct().Count());
        Assert.Equal(40 + 24 + 45, runs.Count);
        Assert.True(runs.Select(r => r.Pid).Distinct().Count() >= 2, "the runs were shared by the fleet");
    }

    [Fact]
    public async Task A_holder_killed_with_its_place_frees_it_within_its_lease_and_the_waiting_task_then_runs()
    {
        const int LeaseSeconds = 6;
        using var fleet = new FaultWorkers(azurite!.ConnectionString, "holder");
        await fleet.Start("limits", "hold.log", ["hold", "2", "100"]).WaitForExitAsync(TimeSpan.FromMinutes(1));

        var killed = fleet.Start("worker", "killed.log", ["1", LeaseSeconds.ToString()], killAt: "holding");
        await killed.WaitForExitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(137, killed.ExitCode); // SIGKILL, holding the one place of 'fault-hold'
        var holding = fleet.Lines("killed.log").Single(l => l[0] == "holding");
        var heldSince = long.Parse(holding[2]);

        var survivor = fleet.Start("worker", "survivor.log", ["4", LeaseSeconds.ToString()]);
        await FaultWorkers.WaitAsync(() => Runs(fleet).Count(r => r.Task == "hold") == 2, TimeSpan.FromMinutes(1), () => survivor.Output);
        var runs = Runs(fleet).Where(r => r.Task == "hold").OrderBy(r => r.Start).ToArray();

        // The place lapsed a lease after it was taken; the first run after it waited no longer than the lease and a
        // deferral's rounding to whole seconds (the service keeps message times in seconds).
        Assert.True(runs[0].Start >= heldSince + LeaseSeconds * 1000 - 1000, $"a Hold ran {runs[0].Start - heldSince} ms after the killed worker took the place: before it lapsed");
        Assert.True(runs[0].Start <= heldSince + (LeaseSeconds + 6) * 1000, $"the place freed {runs[0].Start - heldSince} ms after it was taken: longer than the lease and a deferral");
        Assert.True(runs[1].Start >= runs[0].End, "the two Holds overlapped");
    }

    private static List<(string Task, string Key, int N, long Start, long End, int Attempt, string Pid)> Runs(FaultWorkers fleet)
        => Directory.EnumerateFiles(fleet.Directory, "*.log").SelectMany(f => fleet.Lines(Path.GetFileName(f)))
            .Where(l => l is ["limited", _, _, _, _, _, _, _])
            .Select(l => (l[1], l[2], int.Parse(l[3]), long.Parse(l[4]), long.Parse(l[5]), int.Parse(l[6]), l[7])).ToList();

    private static int MostAtOnce(IEnumerable<(string Task, string Key, int N, long Start, long End, int Attempt, string Pid)> runs)
        => runs.SelectMany(r => new[] { (At: r.Start, Change: 1), (At: r.End, Change: -1) })
            .OrderBy(e => e.At).ThenBy(e => e.Change)
            .Aggregate((Now: 0, Most: 0), (acc, e) => (acc.Now + e.Change, Math.Max(acc.Most, acc.Now + e.Change))).Most;

    private static string Describe(FaultWorkers fleet, ChildProcess[] workers)
        => $"{Runs(fleet).Count} runs so far: " + string.Join(", ", Runs(fleet).GroupBy(r => r.Task).Select(g => $"{g.Key} {g.Count()}")) + "\n" + string.Join("\n---\n", workers.Select(w => w.Output));
}
