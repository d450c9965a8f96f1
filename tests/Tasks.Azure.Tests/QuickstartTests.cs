using Tasks.Testing;

namespace Tasks.Azure.Tests;

/// <summary>The README's first command, as a newcomer runs it: in memory with no setup, then against Azurite.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class QuickstartTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task The_quickstart_runs_every_task_in_memory_and_on_Azurite()
    {
        var root = AzuriteProcess.RepositoryRoot();
        var project = Path.Combine(root, "samples", "Quickstart");
        await ChildProcess.RunAsync("dotnet", ["build", project, "-c", "Release", "-nologo", "-v", "q"], root, TimeSpan.FromMinutes(5));

        foreach (var arguments in new[] { Array.Empty<string>(), ["--azure", azurite.ConnectionString] })
        {
            var output = await ChildProcess.RunAsync("dotnet", ["run", "--project", project, "-c", "Release", "--no-build", "--", .. arguments], root, TimeSpan.FromMinutes(2));

            Assert.Contains(arguments.Length == 0 ? "Transport: in memory" : "Transport: Azure Storage Queues", output);
            Assert.Contains("Enqueued 3 tasks, and a batch of 4 in one message.", output);
            Assert.Equal(5, output.Split('\n').Count(l => l.Contains("Quickstart.DemoTasks.Greet attempt 1: Completed")));
            Assert.Contains("BuildReport attempt 2: Completed", output);
            Assert.Contains("billing.charge attempt 1: DeadLettered", output);
            Assert.Matches(@"Cancel \S+: Task \S+ is cancelled: it will not run\.", output);
            Assert.Matches(@"Quickstart\.DemoTasks\.BuildReport: Succeeded after 2 attempt\(s\), arguments \{""report"":\{""Title"":""Q3"",""Figures"":\[120,80,42\]\}\}", output);
            Assert.Contains("attempt 1: Retried in ", output);
            Assert.Contains("(System.TimeoutException: the figures service timed out)", output);
            Assert.Matches(@"billing\.charge: DeadLettered after 1 attempt\(s\)", output);
            Assert.Matches(@"Quickstart\.DemoTasks\.Greet: Cancelled after 0 attempt\(s\)", output);
            Assert.EndsWith("Done.", output.TrimEnd());
        }
    }
}
