using System.Security.Cryptography;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Time.Testing;

namespace Tasks.Azure.Tests;

[Collection(AzuriteCollection.Name)]
/// <summary>The claim check on Azurite: envelopes too large for a queue message travel in blobs.</summary>
public sealed class AzurePayloadTests(AzuriteFixture azurite)
{
    private BlobContainerClient Payloads(AzureHarness h) => new(azurite.ConnectionString, h.Prefix + AzureQueueTransport.PayloadContainer);

    private BlobClient Blob(AzureHarness h, string id) => Payloads(h).GetBlobClient($"{h.Transport.QueueName(AzureTasks.Queue)}/{id}");

    [Fact]
    public async Task A_10_MiB_byte_array_and_a_2_MiB_string_arrive_intact_through_a_blob_that_is_gone_after_success()
    {
        await using var h = new AzureHarness(azurite);
        var data = RandomNumberGenerator.GetBytes(10 * 1024 * 1024);
        var text = string.Create(2 * 1024 * 1024, 0, (chars, _) => { for (var i = 0; i < chars.Length; i++) chars[i] = (char)('A' + i % 26); });
        var received = new TaskCompletionSource<(byte[], string)>();
        var id = await AzureTasks.TakeAsync.Enqueue(h.Client, Scripts.Add((_, arguments, _) => { received.SetResult(((byte[])arguments[0]!, (string)arguments[1]!)); return Task.CompletedTask; }), data, text);

        var message = (await h.RawQueue().PeekMessagesAsync(1)).Value.Single();
        Assert.True(message.Body.ToString().Length < 1024, "the message carries a reference, not the envelope");
        Assert.True(await Blob(h, id).ExistsAsync());
        var peeked = Assert.Single(await h.Transport.PeekAsync(AzureTasks.Queue));
        Assert.Equal((AzureTasks.TakeAsync.Definition.Name, id), (peeked.Envelope.TaskName, peeked.Envelope.MessageId));
        Assert.Contains("payload store", peeked.Envelope.Problem);

        await h.NewWorker().StartAsync();
        var (gotData, gotText) = await received.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(data, gotData);
        Assert.Equal(text, gotText);
        await AzureHarness.WaitUntil(async () => !(await Blob(h, id).ExistsAsync()).Value, "the blob is deleted after the task succeeded");
        Assert.Equal(TaskOutcome.Completed, Assert.Single(h.Results).Outcome);
    }

    [Fact]
    public async Task An_envelope_one_byte_under_the_message_limit_travels_inline_and_one_byte_over_through_a_blob()
    {
        await using var h = new AzureHarness(azurite);
        var ran = new List<int>();
        var script = Scripts.Add((_, arguments, _) => { lock (ran) ran.Add(((byte[])arguments[0]!).Length); return Task.CompletedTask; });
        await AzureTasks.TakeAsync.Enqueue(h.Client, script, new byte[1000], "");
        var overhead = EnvelopeLength((await h.RawQueue().PeekMessagesAsync(1)).Value.Single().Body.ToString()) - 1000;
        var fits = AzureQueueTransport.MaxInlineEnvelopeBytes - overhead - 1;
        var under = await AzureTasks.TakeAsync.Enqueue(h.Client, script, new byte[fits], "");
        var over = await AzureTasks.TakeAsync.Enqueue(h.Client, script, new byte[fits + 2], "");

        var lengths = (await h.RawQueue().PeekMessagesAsync(3)).Value.Select(m => EnvelopeLength(m.Body.ToString())).ToArray();
        Assert.Equal(AzureQueueTransport.MaxInlineEnvelopeBytes - 1, lengths[1]);
        Assert.True(lengths[2] < 1024, "one byte over travels as a reference");
        Assert.False(await Blob(h, under).ExistsAsync());
        Assert.Equal(AzureQueueTransport.MaxInlineEnvelopeBytes + 1, (await Blob(h, over).GetPropertiesAsync()).Value.ContentLength);

        await h.NewWorker().RunOnceAsync();
        Assert.Equal([1000, fits, fits + 2], ran.Order());
        Assert.False(await Blob(h, over).ExistsAsync());
    }

    [Fact]
    public async Task A_changed_blob_and_a_missing_blob_are_dead_lettered_with_the_reason_and_never_run()
    {
        await using var h = new AzureHarness(azurite);
        var ran = 0;
        var script = Scripts.Add((_, _) => { Interlocked.Increment(ref ran); return Task.CompletedTask; });
        var changed = await AzureTasks.TakeAsync.Enqueue(h.Client, script, new byte[100_000], "changed");
        var missing = await AzureTasks.TakeAsync.Enqueue(h.Client, script, new byte[100_000], "missing");
        var bytes = (await Blob(h, changed).DownloadContentAsync()).Value.Content.ToArray();
        bytes[bytes.Length / 2] ^= 1;
        await Blob(h, changed).UploadAsync(BinaryData.FromBytes(bytes), overwrite: true);
        await Blob(h, missing).DeleteAsync();

        await h.NewWorker().RunOnceAsync();

        Assert.Equal(0, ran);
        var poison = await h.PoisonAsync();
        Assert.Contains("does not match the SHA-256", poison.Single(p => p.MessageId == changed).Reason);
        Assert.Contains("is missing", poison.Single(p => p.MessageId == missing).Reason);
        Assert.True(await Blob(h, changed).ExistsAsync()); // kept with its dead letter, for whoever looks into it
    }

    [Fact]
    public async Task A_dead_letter_keeps_its_blob_past_the_sweep_a_requeue_runs_it_and_a_purge_deletes_it()
    {
        await using var h = new AzureHarness(azurite);
        var broken = true;
        var ran = new List<string>();
        var script = Scripts.Add((_, arguments, _) => broken ? throw new PermanentTaskException("not yet") : Task.Run(() => { lock (ran) ran.Add((string)arguments[1]!); }));
        var requeued = await AzureTasks.TakeAsync.Enqueue(h.Client, script, new byte[60_000], "requeued");
        var purged = await AzureTasks.TakeAsync.Enqueue(h.Client, script, new byte[60_000], "purged");
        await h.NewWorker().RunOnceAsync();
        Assert.Equal(2, (await h.PoisonAsync()).Count);
        Assert.Equal("1", (await Blob(h, requeued).GetPropertiesAsync()).Value.Metadata["deadlettered"]);
        Assert.All(await h.Transport.ListDeadLettersAsync(AzureTasks.Queue), l => Assert.Equal((null, true), (l.ArgumentsJson, l.ArgumentsNote!.Contains("payload store")))); // listed without fetching the blob, and saying so

        // A sweep long after the messages would have expired leaves what dead letters hold.
        var later = new AzureQueueTransport(h.TransportOptions, timeProvider: new FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(30)));
        Assert.Equal(0, await later.SweepPayloadsAsync(TimeSpan.FromHours(1), default));

        broken = false;
        await h.Transport.RequeueDeadLettersAsync(AzureTasks.Queue, new DeadLetterFilter { MessageId = requeued });
        await h.NewWorker().RunOnceAsync();
        Assert.Equal(["requeued"], ran);
        Assert.False(await Blob(h, requeued).ExistsAsync());
        Assert.True(await Blob(h, purged).ExistsAsync());
        await h.Transport.DeleteDeadLettersAsync(AzureTasks.Queue);
        Assert.False(await Blob(h, purged).ExistsAsync());
    }

    [Fact]
    public async Task The_sweep_deletes_a_blob_after_its_message_expired_and_the_grace_passed_and_nothing_younger()
    {
        await using var h = new AzureHarness(azurite);
        var grace = TimeSpan.FromHours(1);
        var start = DateTimeOffset.UtcNow;
        var expiring = await AzureTasks.TakeAsync.Enqueue(h.Client, "x", new byte[60_000], "", options: new TaskEnqueueOptions { TimeToLive = TimeSpan.FromMinutes(5) });
        var young = await AzureTasks.TakeAsync.Enqueue(h.Client, "x", new byte[60_000], "", options: new TaskEnqueueOptions { TimeToLive = TimeSpan.FromMinutes(30) });

        var beforeGrace = new AzureQueueTransport(h.TransportOptions, timeProvider: new FakeTimeProvider(start + TimeSpan.FromMinutes(5) + grace - TimeSpan.FromSeconds(30)));
        Assert.Equal(0, await beforeGrace.SweepPayloadsAsync(grace, default));
        var afterGrace = new AzureQueueTransport(h.TransportOptions, timeProvider: new FakeTimeProvider(start + TimeSpan.FromMinutes(5) + grace + TimeSpan.FromSeconds(30)));
        Assert.Equal(1, await afterGrace.SweepPayloadsAsync(grace, default));
        Assert.False(await Blob(h, expiring).ExistsAsync());
        Assert.True(await Blob(h, young).ExistsAsync());
    }

    [Fact]
    public async Task A_worker_killed_mid_download_leaves_the_task_to_run_again_with_the_same_bytes()
    {
        using var workers = new FaultWorkers(azurite, "payload");
        await workers.Start("payload", "payload.log", ["3", (4 * 1024 * 1024).ToString()]).WaitForExitAsync(TimeSpan.FromMinutes(2));
        var sent = workers.Lines("payload.log").ToDictionary(l => int.Parse(l[1]), l => (Id: l[2], Hash: l[3]));
        Assert.Equal(3, sent.Count);

        var killed = workers.Start("worker", "killed.log", ["1", "2"], "reading");
        await killed.WaitForExitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(137, killed.ExitCode); // SIGKILL, mid-download
        Assert.Equal(["reading"], workers.Kills());
        Assert.Empty(workers.Lines("killed.log"));

        var last = workers.Start("worker", "last.log", ["2", "2"]);
        await FaultWorkers.WaitAsync(() => workers.Lines("last.log").Length >= 3, TimeSpan.FromMinutes(1), () => $"The tasks did not run again after the kill:\n{last.Output}");
        var digests = workers.Lines("last.log").Where(l => l[0] == "digest").ToDictionary(l => int.Parse(l[1]), l => (Id: l[2], Attempt: int.Parse(l[3]), Hash: l[4]));
        Assert.Equal(sent.Keys.Order(), digests.Keys.Order());
        Assert.All(sent, s => Assert.Equal((s.Value.Id, s.Value.Hash), (digests[s.Key].Id, digests[s.Key].Hash)));
        Assert.Contains(digests.Values, d => d.Attempt == 2); // the one cut short came back on its next delivery
    }

    private static int EnvelopeLength(string base64) => Convert.FromBase64String(base64).Length;
}
