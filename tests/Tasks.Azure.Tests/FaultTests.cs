using System.Diagnostics;
using System.Reflection;
using Azure.Storage.Queues;
using Xunit.Abstractions;

namespace Tasks.Azure.Tests;

/// <summary>
/// The fault suite: producers and workers as real processes (tests/Fixtures/Tasks.Fixtures.FaultWorker)
/// against a fresh Azurite each, killed, paused and stopped under load. Every scenario reports its
/// figures and asserts that no acknowledged task is lost. docs/reliability.md keeps the last figures.
/// </summary>
[Collection(AzuriteCollection.Name)]
[Trait("Category", "Fault")]
public sealed class FaultTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task A_worker_killed_mid_batch_and_restarted_loses_nothing()
    {
        await using var run = await FaultRun.StartAsync();
        await run.ProduceAsync(first: 1, count: 2_000, producers: 8);
        var doomed = run.StartWorker(maxConcurrency: 16);
        await run.WaitAsync(r => r.Ran.Count >= 600, "600 tasks ran before the kill");

        await doomed.SignalAsync("KILL");
        var ranBeforeKill = run.Read().Ran.Count;
        run.StartWorker(maxConcurrency: 16);
        await run.WaitAsync(r => r.DistinctRan >= 2_000, "every task ran after the restart");

        var records = run.Read();
        FaultRun.Report(output, "SIGKILL mid-batch", records, 2_000, $"killed after {ranBeforeKill} runs");
        Assert.Equal(0, records.Lost);
    }

    [Fact]
    public async Task An_Azurite_outage_while_producers_and_workers_run_loses_no_acknowledged_task()
    {
        await using var run = await FaultRun.StartAsync();
        run.StartWorker(maxConcurrency: 16);
        var producing = run.StartProducer(first: 1, count: 2_000, producers: 4);
        await run.WaitAsync(r => r.Ran.Count >= 300, "300 tasks ran before the outage");

        await run.Azurite.PauseAsync();
        await Task.Delay(TimeSpan.FromSeconds(8));
        await run.Azurite.ResumeAsync();
        await producing.WaitForExitAsync(Patience);
        var acknowledged = run.Read().Acknowledged.Count;
        await run.WaitAsync(r => r.Lost == 0, "every acknowledged task ran after the outage");

        var records = run.Read();
        FaultRun.Report(output, "Azurite paused 8 s (SIGSTOP/SIGCONT)", records, acknowledged, $"{records.Failed} enqueue(s) failed with TaskEnqueueException");
        Assert.Equal(2_000, records.Acknowledged.Count + records.Failed);
        Assert.Equal(0, records.Lost);
    }

    [Fact]
    public async Task Eight_producers_and_two_workers_run_20000_tasks_and_lose_none()
    {
        await using var run = await FaultRun.StartAsync();
        run.StartWorker(maxConcurrency: 32);
        run.StartWorker(maxConcurrency: 32);
        var clock = Stopwatch.StartNew();
        await run.ProduceAsync(first: 1, count: 20_000, producers: 8);
        await run.WaitAsync(r => r.DistinctRan >= 20_000, "20,000 tasks ran", TimeSpan.FromMinutes(8));
        var elapsed = clock.Elapsed;

        var records = run.Read();
        var latencies = records.Ran.Select(r => r.LatencyMs).Order().ToArray();
        FaultRun.Report(output, "8 producers, 2 workers", records, 20_000,
            $"{20_000 / elapsed.TotalSeconds:0} tasks/s end to end; enqueue-to-start p50 {latencies[latencies.Length / 2]:0} ms, p99 {latencies[(int)(latencies.Length * 0.99)]:0} ms");
        Assert.Equal(20_000, records.Acknowledged.Count);
        Assert.Equal(0, records.Lost);
    }

    [Fact]
    public async Task A_stop_under_load_with_tasks_that_ignore_their_token_is_bounded_and_loses_nothing()
    {
        await using var run = await FaultRun.StartAsync();
        await run.ProduceAsync(first: 1, count: 32, producers: 4, taskMs: 12_000, ignoreToken: true);
        var stopping = run.StartWorker(maxConcurrency: 16);
        await stopping.WaitForOutputAsync(o => o.Contains("Task worker started"), Patience, "the worker to start");
        await Task.Delay(TimeSpan.FromSeconds(2)); // 16 tasks are running; none can finish within the drain and the grace

        var clock = Stopwatch.StartNew();
        await stopping.SignalAsync("TERM");
        await stopping.WaitForExitAsync(Patience);
        var stopTime = clock.Elapsed;
        var abandoned = stopping.Output.Split('\n').Count(l => l.Contains("Abandoned task"));
        run.StartWorker(maxConcurrency: 32);
        await run.WaitAsync(r => r.DistinctRan >= 32, "every task ran on the next worker");

        var records = run.Read();
        FaultRun.Report(output, "SIGTERM under load, tasks ignoring their token", records, 32, $"stop took {stopTime.TotalSeconds:0.0} s (DrainTimeout 2 s + StopGrace 2 s), {abandoned} task(s) abandoned and released");
        Assert.True(stopTime < TimeSpan.FromSeconds(10), $"the stop took {stopTime}");
        Assert.True(abandoned == 16, stopping.Output);
        Assert.Equal(0, records.Lost);
    }

    [Fact]
    public async Task Hostile_raw_messages_are_poisoned_with_a_reason_and_their_original_text_byte_for_byte()
    {
        await using var run = await FaultRun.StartAsync();
        var transport = new AzureQueueTransport(new AzureQueueOptions { ConnectionString = run.Azurite.ConnectionString, QueuePrefix = run.Prefix });
        var raw = new QueueClient(run.Azurite.ConnectionString, transport.QueueName("fault"), new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
        await raw.CreateIfNotExistsAsync();
        var random = new Random(7);
        var deep = new byte[40_000];
        Array.Fill(deep, (byte)0x91);
        var cases = new Dictionary<string, (string Text, string Reason)>
        {
            ["not base64"] = ("this is not base64 at all!", "not valid base64"),
            ["empty"] = ("", ""),
            ["random bytes"] = (Convert.ToBase64String(Bytes(random, 300)), ""),
            ["unknown name"] = (Convert.ToBase64String(Envelopes.Build((ref MessagePack.MessagePackWriter w) => { w.WriteArrayHeader(4); w.Write(1); w.Write("Nobody.Knows"); w.WriteArrayHeader(0); w.WriteMapHeader(0); })), "No task named 'Nobody.Knows'"),
            ["deep nesting"] = (Convert.ToBase64String(Envelopes.Build((ref MessagePack.MessagePackWriter w) =>
            {
                w.WriteArrayHeader(5);
                w.Write(1);
                w.Write(AzureTasks.RunAsync.Definition.Name);
                w.WriteArrayHeader(1);
                w.Write("x");
                w.WriteMapHeader(0);
                w.WriteRaw(deep); // a trailing field nested 40,000 deep: skipped without recursion, refused past 500
                w.WriteNil();
            })), "nested more than 500 deep"),
            ["64 KB"] = (Convert.ToBase64String(Bytes(random, 49_152)), ""),
        };
        foreach (var (_, (text, _)) in cases) await raw.SendMessageAsync(text);
        var options = new TaskWorkerOptions { MinPollingInterval = TimeSpan.FromMilliseconds(20) };
        options.Queues.Add("fault");
        await using var worker = new TaskWorker(transport, options);

        await worker.StartAsync();
        var poison = new QueueClient(run.Azurite.ConnectionString, transport.PoisonQueueName("fault"), new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
        var records = new List<PoisonMessage>();
        var texts = new Dictionary<string, string>();
        await AzureHarness.WaitUntil(async () =>
        {
            if (!await poison.ExistsAsync()) return false;
            foreach (var message in (await poison.ReceiveMessagesAsync(32)).Value)
            {
                var body = message.Body.ToString();
                if (body.StartsWith('{')) records.Add(PoisonMessage.Parse(body));
                else texts[message.MessageId] = body;
                await poison.DeleteMessageAsync(message.MessageId, message.PopReceipt);
            }

            return records.Count == cases.Count;
        }, "every hostile message was poisoned", seconds: 60);

        foreach (var (name, (text, reason)) in cases)
        {
            var record = Assert.Single(records, r => (r.MessageText ?? texts.GetValueOrDefault(r.MessageTextId ?? "")) == text);
            Assert.False(string.IsNullOrWhiteSpace(record.Reason), name);
            Assert.Contains(reason, record.Reason);
        }

        output.WriteLine($"hostile raw messages through Azurite: {cases.Count} kinds ({string.Join(", ", cases.Keys)}), {records.Count} poisoned with a reason, original text identical for all");
    }

    private static byte[] Bytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }
}
