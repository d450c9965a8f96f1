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
            Assert.EndsWith("Done.", output.TrimEnd());
        }
    }
}
