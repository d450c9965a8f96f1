using Tasks.Testing;

namespace Tasks.Azure.Tests;

/// <summary>samples/AotWorker published as a native binary, as the README says: no trim or AOT warning of ours, and it runs record arguments in memory and on Azurite.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class AotWorkerTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task The_native_AOT_worker_publishes_without_warnings_of_ours_and_runs_record_arguments_in_memory_and_on_Azurite()
    {
        var root = AzuriteProcess.RepositoryRoot();
        var output = Path.Combine(Path.GetTempPath(), "tasks-aot-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var publish = await ChildProcess.RunAsync(
                "dotnet", ["publish", Path.Combine(root, "samples", "AotWorker"), "-c", "Release", "-r", "linux-x64", "-o", output, "-nologo"], root, TimeSpan.FromMinutes(10));

            // MessagePack 2.5 and Azure.Data.Tables 12.13 (limits and paused queues live in a table) are not annotated for
            // trimming: each warns once for its assembly (IL2104, IL3053). Nothing else may. The worker's reads of the
            // tables run natively below; their writes do not (see the README's Native AOT section).
            var warnings = publish.Split('\n').Where(l => l.Contains(": warning ", StringComparison.Ordinal)).Select(l => l.Trim()).Distinct().ToArray();
            Assert.All(warnings, w => Assert.Matches(@"(MessagePack|Azure\.Data\.Tables)\.dll : warning IL(2104|3053):", w));
            var binary = Path.Combine(output, "AotWorker");
            Assert.True(File.Exists(binary), $"no native binary in {output}:\n{publish}");
            Assert.False(File.Exists(Path.Combine(output, "AotWorker.dll")), "the publish left IL to JIT");

            var inMemory = await ChildProcess.RunAsync(binary, ["50"], output, TimeSpan.FromMinutes(1));
            Assert.Contains("Transport: in memory; runtime: native AOT", inMemory);
            Assert.Contains("Ran 50 of 50 task(s), 0 failure(s), 1 dead-lettered as expected, through the run filter 50 time(s)", inMemory);
            Assert.Matches(@"First: invoice [0-9a-f-]{36} for customer \d+: 2 line\(s\), [0-9.]+, (High|Low), 1 header\(s\), copies 1\+\d+", inMemory);

            var onAzurite = await ChildProcess.RunAsync(binary, ["20"], output, TimeSpan.FromMinutes(1), new Dictionary<string, string> { ["TASKS_AZURE_CONNECTION_STRING"] = azurite.ConnectionString });
            Assert.Contains("Transport: Azure Storage Queues; runtime: native AOT", onAzurite);
            Assert.Contains("Ran 20 of 20 task(s), 0 failure(s), 1 dead-lettered as expected, through the run filter 20 time(s)", onAzurite);
            Assert.Contains("Paused queues: 0; limits in use: 0", onAzurite);
        }
        finally
        {
            if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
        }
    }
}
