using System.Collections.Concurrent;
using Xunit.Abstractions;

namespace Tasks.Azure.Tests;

[Collection(AzuriteCollection.Name)]
public sealed class ScaleOutTests(AzuriteFixture azurite, ITestOutputHelper output)
{
    [Fact]
    public async Task Two_workers_run_2000_tasks_and_lose_none()
    {
        const int total = 2000;
        await using var h = new AzureHarness(azurite, o => o.MaxConcurrency = 16);
        var run = Guid.NewGuid().ToString("N");
        var numbers = Enumerable.Range(0, total).ToArray();
        Random.Shared.Shuffle(numbers); // no test may rely on Azurite's FIFO order

        await Parallel.ForEachAsync(numbers, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (n, ct) =>
            await AzureTasks.CountAsync.Enqueue(h.Client, run, n, cancellationToken: ct));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await h.NewWorker().StartAsync();
        await h.NewWorker(new ShufflingTransport(h.Transport)).StartAsync();

        var counts = AzureTasks.Counts.GetOrAdd(run, _ => new ConcurrentDictionary<int, int>());
        await AzureHarness.WaitUntil(() => counts.Count == total, $"all {total} tasks ran", seconds: 240);
        await AzureHarness.WaitUntil(async () => await h.CountVisibleAsync() == 0, "the queue is empty");
        var duplicates = counts.Values.Sum() - total;
        output.WriteLine($"{total} tasks in {clock.Elapsed.TotalSeconds:0.0} s on two workers; {duplicates} duplicate run(s) (at-least-once allows them)");

        Assert.Equal(numbers.Order(), counts.Keys.Order());
        Assert.Empty(await h.PoisonAsync());
        Assert.DoesNotContain(h.Results, r => r.Outcome != TaskOutcome.Completed);
    }

    /// <summary>Hands each batch out in a random order, as the real service may (Azurite is FIFO).</summary>
    private sealed class ShufflingTransport(ITaskTransport inner) : DelegatingTransport(inner)
    {
        public override async ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
        {
            var batch = (await base.ReceiveAsync(queue, maxMessages, leaseDuration, cancellationToken)).ToArray();
            Random.Shared.Shuffle(batch);
            return batch;
        }
    }
}
