using System.Security.Cryptography;

namespace Tasks.Core.Tests;

/// <summary>Envelopes too large for a message travel through the transport's payload store (the claim check), in memory.</summary>
public sealed class PayloadTests
{
    private static readonly TaskSigningKey Key = new() { Id = "2026-12", Secret = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray()) };

    [Fact]
    public async Task A_10_MiB_byte_array_and_a_2_MiB_string_arrive_intact_and_their_payload_is_deleted_after_success()
    {
        await using var h = new RecordHarness();
        var data = RandomNumberGenerator.GetBytes(10 * 1024 * 1024);
        var text = string.Create(2 * 1024 * 1024, 0, (chars, _) => { for (var i = 0; i < chars.Length; i++) chars[i] = (char)('a' + i % 26); });
        var received = new TaskCompletionSource<(byte[] Data, string Text)>();
        var id = await RecordedTasks.TakeAsync.Enqueue(h.Client, Scripts.Add((_, arguments, _) => { received.SetResult(((byte[])arguments[0]!, (string)arguments[1]!)); return Task.CompletedTask; }), data, text);

        var message = Assert.Single(h.Transport.Peek(RecordedTasks.Queue));
        Assert.True(message.Body.Length < 1024, $"the message is {message.Body.Length} bytes: the envelope should travel apart");
        Assert.Equal($"{RecordedTasks.Queue}/{id}", Assert.Single(h.Transport.PayloadNames));
        Assert.Equal($"{RecordedTasks.Queue}/{id}", TaskPayloads.NameOf(message.Body));
        var summary = TaskEnvelopeSummary.Of(message.Body);
        Assert.Equal((RecordedTasks.TakeAsync.Definition.Name, id, (string?)null), (summary.TaskName, summary.MessageId, summary.ArgumentsJson));
        Assert.Contains("payload store", summary.Problem);

        await h.Worker.StartAsync();
        var (gotData, gotText) = await received.Task.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(data, gotData);
        Assert.Equal(text, gotText);
        var record = await h.WaitForStateAsync(id, TaskState.Succeeded);
        Assert.Null(record.ArgumentsJson);
        Assert.Contains("payload store", record.ArgumentsNote);
        Assert.True(record.ArgumentsBytes > 12 * 1024 * 1024);
        await Harness.WaitUntil(() => h.Transport.PayloadNames.Count == 0, "the payload is deleted after the task succeeded");
    }

    [Fact]
    public async Task An_envelope_one_byte_under_the_message_limit_travels_inline_and_one_byte_over_as_a_payload()
    {
        await using var h = new Harness();
        var limit = h.Transport.MaxMessageBytes;
        var ran = new List<int>();
        var script = Scripts.Add((_, arguments, _) => { lock (ran) ran.Add(((byte[])arguments[0]!).Length); return Task.CompletedTask; });

        // The envelope's overhead around a byte[] of this size range is the same for every size: measure it once.
        await RecordedTasks.TakeAsync.Enqueue(h.Client, script, new byte[1000], "");
        var overhead = h.Transport.Peek(RecordedTasks.Queue).Single().Body.Length - 1000;
        var fits = limit - overhead - 1;
        await RecordedTasks.TakeAsync.Enqueue(h.Client, script, new byte[fits], "");
        await RecordedTasks.TakeAsync.Enqueue(h.Client, script, new byte[fits + 2], "");

        var bodies = h.Transport.Peek(RecordedTasks.Queue).Select(m => m.Body).ToArray();
        Assert.Equal([1000 + overhead, limit - 1], bodies.Take(2).Select(b => b.Length));
        Assert.All(bodies.Take(2), b => Assert.Null(TaskPayloads.NameOf(b)));
        Assert.NotNull(TaskPayloads.NameOf(bodies[2]));
        Assert.Single(h.Transport.PayloadNames);

        var worker = new TaskWorker(h.Transport, new TaskWorkerOptions { Queues = { RecordedTasks.Queue } }, timeProvider: h.Time);
        await worker.RunOnceAsync();
        Assert.Equal([1000, fits, fits + 2], ran.Order());
        Assert.Empty(h.Transport.PayloadNames);
    }

    [Theory]
    [InlineData("changed", "does not match the SHA-256")]
    [InlineData("cut short", "holds 1,000 bytes")]
    [InlineData("deleted", "is missing")]
    public async Task A_payload_changed_cut_short_or_deleted_is_dead_lettered_with_the_reason_and_the_task_never_runs(string what, string reason)
    {
        await using var h = new RecordHarness();
        var ran = 0;
        var id = await RecordedTasks.TakeAsync.Enqueue(h.Client, Scripts.Add((_, _) => { ran++; return Task.CompletedTask; }), new byte[100_000], "x");
        var name = Assert.Single(h.Transport.PayloadNames);
        var stored = new byte[200_000];
        var length = (int)(await h.Transport.ReadPayloadAsync(name, stored, default))!.Value;
        stored[length / 2] ^= 1;
        h.Transport.ReplacePayload(name, what switch { "changed" => stored[..length], "cut short" => stored[..1000], _ => null });

        await h.Worker.StartAsync();
        var record = await h.WaitForStateAsync(id, TaskState.DeadLettered);

        Assert.Equal(0, ran);
        var dead = Assert.Single(h.Transport.DeadLetters);
        Assert.Equal(id, dead.MessageId);
        Assert.Contains(reason, dead.Reason.Reason);
        Assert.Contains(name, dead.Reason.Reason);
        Assert.Contains(reason, record.Reason);
    }

    [Fact]
    public async Task A_reference_to_a_payload_larger_than_MaxEnvelopeBytes_is_dead_lettered_without_a_fetch()
    {
        await using var h = new Harness(o => o.Queues.Add(RecordedTasks.Queue));
        h.Transport.SendRaw(RecordedTasks.Queue, ForgedReference(900_000_000));

        await h.Worker.RunOnceAsync();

        var dead = Assert.Single(h.Transport.DeadLetters);
        Assert.Equal("forged-id", dead.MessageId);
        Assert.Contains("more than the transport's MaxEnvelopeBytes", dead.Reason.Reason);
    }

    [Fact]
    public async Task A_dead_letter_keeps_its_payload_past_the_sweep_a_requeue_runs_it_and_a_purge_deletes_it()
    {
        await using var h = new Harness(o => o.Queues.Add(RecordedTasks.Queue));
        var broken = true;
        string? got = null;
        var script = Scripts.Add((_, arguments, _) => broken ? throw new PermanentTaskException("not yet") : Task.FromResult(got = (string)arguments[1]!));
        var firstId = await RecordedTasks.TakeAsync.Enqueue(h.Client, script, new byte[60_000], "first");
        await RecordedTasks.TakeAsync.Enqueue(h.Client, script, new byte[60_000], "second");
        await h.Worker.RunOnceAsync();
        Assert.Equal(2, h.Transport.DeadLetters.Count);
        Assert.Equal(2, h.Transport.PayloadNames.Count);
        var letters = await h.Transport.ListDeadLettersAsync(RecordedTasks.Queue);
        Assert.All(letters, l => Assert.Null(l.ArgumentsJson)); // listed without fetching the payload, and saying so
        Assert.All(letters, l => Assert.Contains("travel in the payload store", l.ArgumentsNote));

        // Long after the messages would have expired, the sweep leaves what dead letters hold.
        h.FakeTime.Advance(TimeSpan.FromDays(30));
        Assert.Equal(0, await h.Transport.SweepPayloadsAsync(TimeSpan.FromHours(1), default));

        broken = false;
        var first = letters.Single(l => l.MessageId == firstId); // the two run side by side: either may be dead-lettered first
        await h.Transport.RequeueDeadLettersAsync(RecordedTasks.Queue, new DeadLetterFilter { MessageId = first.MessageId });
        await h.Worker.RunOnceAsync();
        Assert.Equal("first", got);
        var left = Assert.Single(h.Transport.PayloadNames); // the requeued task ran, and its payload went with it
        await h.Transport.DeleteDeadLettersAsync(RecordedTasks.Queue);
        Assert.DoesNotContain(left, h.Transport.PayloadNames);
        Assert.Empty(h.Transport.PayloadNames);
    }

    [Fact]
    public async Task The_sweep_deletes_a_payload_after_its_message_expired_and_the_grace_passed_and_nothing_younger()
    {
        await using var h = new Harness();
        var grace = TimeSpan.FromHours(1);
        await RecordedTasks.TakeAsync.Enqueue(h.Client, "x", new byte[60_000], "expires", options: new TaskEnqueueOptions { TimeToLive = TimeSpan.FromMinutes(5) });
        h.FakeTime.Advance(TimeSpan.FromMinutes(1));
        var young = await RecordedTasks.TakeAsync.Enqueue(h.Client, "x", new byte[60_000], "stays", options: new TaskEnqueueOptions { TimeToLive = TimeSpan.FromMinutes(5) });

        h.FakeTime.Advance(TimeSpan.FromMinutes(4) + grace - TimeSpan.FromSeconds(1)); // the first's message expired, the grace not yet
        Assert.Equal(0, await h.Transport.SweepPayloadsAsync(grace, default));
        h.FakeTime.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, await h.Transport.SweepPayloadsAsync(grace, default));
        Assert.Equal($"{RecordedTasks.Queue}/{young}", Assert.Single(h.Transport.PayloadNames));
    }

    [Fact]
    public async Task The_worker_sweeps_on_its_interval()
    {
        await using var h = new Harness(o => (o.PayloadSweepInterval, o.PayloadOrphanGrace) = (TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(1)));
        await RecordedTasks.TakeAsync.Enqueue(h.Client, "x", new byte[60_000], "orphan", options: new TaskEnqueueOptions { TimeToLive = TimeSpan.FromMinutes(1) });
        await h.Worker.StartAsync(); // it serves another queue: the payload's message is never run, and expires
        await Harness.WaitUntil(() =>
        {
            h.FakeTime.Advance(TimeSpan.FromMinutes(1)); // the sweep loop may arm its timer after any one advance
            return h.Transport.PayloadNames.Count == 0;
        }, "the worker's sweep deleted the orphan");
    }

    [Fact]
    public async Task An_enqueue_whose_send_fails_after_the_upload_deletes_its_payload()
    {
        var transport = new InMemoryTransport();
        var client = new TaskClient(new FailingSend(transport));
        await Assert.ThrowsAsync<TaskEnqueueException>(async () => await RecordedTasks.TakeAsync.Enqueue(client, "x", new byte[60_000], ""));
        Assert.Empty(transport.PayloadNames);
    }

    [Fact]
    public async Task With_signing_a_payload_swapped_for_another_signed_envelope_is_refused()
    {
        await using var h = new Harness(o => { o.Queues.Add(RecordedTasks.Queue); o.Signing.Required = true; o.Signing.Keys.Add(Key); });
        var client = new TaskClient(h.Transport, h.Time, signing: new TaskSigningOptions { Keys = { Key } });
        var ran = new List<string>();
        var script = Scripts.Add((_, arguments, _) => { ran.Add((string)arguments[1]!); return Task.CompletedTask; });
        var victim = await RecordedTasks.TakeAsync.Enqueue(client, script, new byte[60_000], "victim");
        var other = await RecordedTasks.TakeAsync.Enqueue(client, script, new byte[60_000], "thief!"); // as long as the victim's, so only the hash tells them apart
        var buffer = new byte[100_000];
        var length = (int)(await h.Transport.ReadPayloadAsync($"{RecordedTasks.Queue}/{other}", buffer, default))!.Value;
        h.Transport.ReplacePayload($"{RecordedTasks.Queue}/{victim}", buffer[..length]); // a valid, signed envelope: only the reference's hash tells

        await h.Worker.RunOnceAsync();

        Assert.Equal(["thief!"], ran);
        var dead = Assert.Single(h.Transport.DeadLetters);
        Assert.Equal(victim, dead.MessageId);
        Assert.Contains("does not match the SHA-256", dead.Reason.Reason);

        // A reference written without the key (its hash made to fit any blob) is refused before any fetch.
        h.Transport.SendRaw(RecordedTasks.Queue, ForgedReference(100));
        await h.Worker.RunOnceAsync();
        Assert.Contains("not signed", h.Transport.DeadLetters[^1].Reason.Reason);
    }

    /// <summary>A payload reference written by hand, unsigned: what a forger could put on the queue.</summary>
    private static byte[] ForgedReference(long length)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var writer = new MessagePack.MessagePackWriter(buffer);
        writer.WriteArrayHeader(4);
        writer.Write(1);
        writer.WriteNil();
        writer.WriteMapHeader(3);
        foreach (var (key, value) in new[] { ("blob", "recorded/forged"), ("length", length.ToString()), ("sha256", new string('0', 64)) })
        {
            writer.Write(key);
            writer.Write(value);
        }

        writer.WriteMapHeader(1);
        writer.Write("id");
        writer.Write("forged-id");
        writer.Flush();
        return buffer.WrittenMemory.ToArray();
    }

    [Fact]
    public async Task A_batch_sends_a_large_task_alone_as_a_payload_and_packs_the_rest()
    {
        await using var h = new Harness(o => o.Queues.Add(RecordedTasks.Queue));
        var ran = new System.Collections.Concurrent.ConcurrentBag<(string Text, int Length)>();
        var script = Scripts.Add((_, arguments, _) => { ran.Add(((string)arguments[1]!, ((byte[])arguments[0]!).Length)); return Task.CompletedTask; });
        var batch = new TaskBatch();
        for (var i = 0; i < 10; i++) RecordedTasks.TakeAsync.AddTo(batch, script, new byte[10], $"small {i}");
        RecordedTasks.TakeAsync.AddTo(batch, script, new byte[3 * 1024 * 1024], "large");
        await h.Client.EnqueueBatchAsync(batch);

        var messages = h.Transport.Peek(RecordedTasks.Queue);
        Assert.Equal(2, messages.Count); // one pack of ten, one reference
        Assert.Single(messages, m => TaskPayloads.NameOf(m.Body) is not null);
        await h.Worker.RunOnceAsync();
        Assert.Equal(11, ran.Count);
        Assert.Contains(("large", 3 * 1024 * 1024), ran);
        Assert.Empty(h.Transport.PayloadNames);
    }

    [Fact]
    public async Task A_continuation_with_a_large_argument_waits_as_a_reference_and_runs_with_it_intact()
    {
        await using var h = new RecordHarness();
        var data = RandomNumberGenerator.GetBytes(1024 * 1024);
        var received = new TaskCompletionSource<byte[]>();
        var parent = await RecordedTasks.RunAsync.Enqueue(h.Client, Scripts.Add((_, _) => Task.CompletedTask), options: new TaskEnqueueOptions { AllowContinuations = true });
        var child = await RecordedTasks.TakeAsync.Enqueue(h.Client, Scripts.Add((_, arguments, _) => { received.SetResult((byte[])arguments[0]!); return Task.CompletedTask; }), data, "after", options: new TaskEnqueueOptions { After = parent });
        Assert.Equal($"{RecordedTasks.Queue}/{child}", Assert.Single(h.Transport.PayloadNames));

        await h.Worker.StartAsync();
        Assert.Equal(data, await received.Task.WaitAsync(TimeSpan.FromSeconds(20)));
        await h.WaitForStateAsync(child, TaskState.Succeeded);
        await Harness.WaitUntil(() => h.Transport.PayloadNames.Count == 0, "the continuation's payload is deleted after it succeeded");
    }

    /// <summary>A transport whose sends fail, with the payload store of the one it wraps.</summary>
    private sealed class FailingSend(InMemoryTransport inner) : WrappedTransport(inner)
    {
        public override ValueTask SendAsync(string queue, OutgoingTaskMessage message, CancellationToken cancellationToken) => throw new InvalidOperationException("the queue is down");
    }
}
