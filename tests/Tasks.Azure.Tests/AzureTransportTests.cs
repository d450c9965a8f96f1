using System.Diagnostics;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Azure.Storage.Sas;
using MessagePack;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Tasks.Azure.Tests;

[Collection(AzuriteCollection.Name)]
public sealed class AzureTransportTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Typed_arguments_round_trip_through_Azurite()
    {
        await using var h = new AzureHarness(azurite);
        var key = Guid.NewGuid();
        var stamps = new Dictionary<string, DateTimeOffset> { ["created"] = new(2026, 5, 6, 7, 8, 9, TimeSpan.FromHours(2)) };
        var payload = new Payload("p", [1, 2, 3], null);

        await AzureTasks.CaptureAsync.Enqueue(h.Client, key, "héllo", [4, 5], stamps, payload, [0, 255, 7]);
        Assert.Equal(1, await h.NewWorker().RunOnceAsync());

        var captured = AzureTasks.Captured[key];
        Assert.Equal("héllo", captured[0]);
        Assert.Equal(new[] { 4, 5 }, captured[1]);
        Assert.Equal(stamps, captured[2]);
        Assert.Equal(payload.Name, ((Payload)captured[3]!).Name);
        Assert.Equal(payload.Values, ((Payload)captured[3]!).Values);
        Assert.Equal(new byte[] { 0, 255, 7 }, captured[4]);
        Assert.Equal(0, await h.CountVisibleAsync());
    }

    [Fact]
    public async Task Delay_keeps_the_message_invisible_until_it_passes()
    {
        await using var h = new AzureHarness(azurite);
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var id = Scripts.Add((_, _) =>
        {
            ran.TrySetResult();
            return Task.CompletedTask;
        });
        var worker = h.NewWorker();

        var clock = Stopwatch.StartNew();
        await AzureTasks.RunAsync.Enqueue(h.Client, id, new TaskEnqueueOptions { Delay = TimeSpan.FromSeconds(2) });
        Assert.Equal(0, await worker.RunOnceAsync());
        await worker.StartAsync();
        await ran.Task.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.9), $"ran after {clock.Elapsed}");
    }

    [Fact]
    public async Task Failed_attempt_is_retried_after_the_backoff_with_the_next_attempt_number()
    {
        await using var h = new AzureHarness(azurite);
        var attempts = new List<int>();
        var id = Scripts.Add((context, _) =>
        {
            lock (attempts) attempts.Add(context.Attempt);
            return context.Attempt == 1 ? throw new InvalidOperationException("transient") : Task.CompletedTask;
        });
        await AzureTasks.RunAsync.Enqueue(h.Client, id);

        await h.NewWorker().StartAsync();
        await AzureHarness.WaitUntil(() => h.Results.Any(r => r.Outcome == TaskOutcome.Completed), "the retry completed");

        Assert.Equal([1, 2], attempts);
        var retried = h.Results.First();
        Assert.Equal((TaskOutcome.Retried, (TimeSpan?)TimeSpan.FromSeconds(1)), (retried.Outcome, retried.RetryDelay));
        Assert.Empty(await h.PoisonAsync());
    }

    [Fact]
    public async Task Task_failing_every_attempt_lands_in_the_poison_queue_with_a_readable_reason()
    {
        await using var h = new AzureHarness(azurite);
        var id = Scripts.Add((_, _) => throw new InvalidOperationException("the database is down"));
        await AzureTasks.RunAsync.Enqueue(h.Client, id);

        await h.NewWorker().StartAsync();
        await AzureHarness.WaitUntil(async () => (await h.PoisonAsync()).Count == 1, "the message was poisoned");

        var poison = Assert.Single(await h.PoisonAsync());
        Assert.Equal(h.Transport.QueueName(AzureTasks.Queue), poison.Queue);
        Assert.Equal(3, poison.Attempt);
        Assert.Contains("failed on all 3 attempts", poison.Reason);
        Assert.Equal(typeof(InvalidOperationException).FullName, poison.ExceptionType);
        Assert.Equal("the database is down", poison.ExceptionMessage);
        var envelope = TaskEnvelope.Read(Convert.FromBase64String(poison.MessageText!), TaskRegistry.Default, TaskSerializer.DefaultOptions);
        Assert.Equal(id, ((AzureTasks.RunAsync.Arguments)envelope.Arguments).scriptId);
        Assert.Equal(0, await h.CountVisibleAsync());
        Assert.Equal([TaskOutcome.Retried, TaskOutcome.Retried, TaskOutcome.DeadLettered], h.Results.Select(r => r.Outcome));
    }

    [Fact]
    public async Task Permanent_failure_goes_to_poison_on_the_first_attempt()
    {
        await using var h = new AzureHarness(azurite);
        var id = Scripts.Add((_, _) => throw new PermanentTaskException("unknown customer"));
        await AzureTasks.RunAsync.Enqueue(h.Client, id);

        Assert.Equal(1, await h.NewWorker().RunOnceAsync());

        var poison = Assert.Single(await h.PoisonAsync());
        Assert.Equal(1, poison.Attempt);
        Assert.Contains("failed permanently on attempt 1: unknown customer", poison.Reason);
        Assert.Equal(0, await h.CountVisibleAsync());
    }

    [Fact]
    public async Task Hand_made_bad_messages_are_poisoned_with_their_reasons_while_good_ones_run()
    {
        await using var h = new AzureHarness(azurite);
        var good = 0;
        var id = Scripts.Add((_, _) =>
        {
            Interlocked.Increment(ref good);
            return Task.CompletedTask;
        });
        var run = AzureTasks.RunAsync.Definition.Name;
        var valid = Envelopes.Build((ref MessagePackWriter w) => { w.WriteArrayHeader(4); w.Write(1); w.Write(run); w.WriteArrayHeader(1); w.Write(id); w.WriteMapHeader(0); });
        var bad = new Dictionary<string, string>
        {
            ["%%% not base64 %%%"] = "not valid base64",
            [Convert.ToBase64String(Random.Shared.GetItems<byte>(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(), 64).Prepend((byte)0xC1).ToArray())] = "not a task envelope",
            [B64((ref MessagePackWriter w) => { w.WriteArrayHeader(4); w.Write(9); w.Write(run); w.WriteArrayHeader(0); w.WriteMapHeader(0); })] = "format version 9",
            [B64((ref MessagePackWriter w) => { w.WriteArrayHeader(4); w.Write(1); w.Write("No.Such.Task"); w.WriteArrayHeader(0); w.WriteMapHeader(0); })] = "No task named 'No.Such.Task'",
            [Convert.ToBase64String(valid[..^6])] = $"Could not decode the arguments of '{run}'",
            [B64((ref MessagePackWriter w) => { w.WriteArrayHeader(4); w.Write(1); w.Write(run); w.WriteArrayHeader(1); w.Write(12.5); w.WriteMapHeader(0); })] = $"Could not decode the arguments of '{run}'",
        };
        var raw = h.RawQueue();
        await raw.CreateIfNotExistsAsync();
        foreach (var text in bad.Keys) await raw.SendMessageAsync(text);
        await AzureTasks.RunAsync.Enqueue(h.Client, id);
        await raw.SendMessageAsync(Convert.ToBase64String(valid));

        await h.NewWorker().StartAsync();
        await AzureHarness.WaitUntil(async () => (await h.PoisonAsync()).Count == bad.Count && Volatile.Read(ref good) == 2, "bad messages poisoned and good ones run");

        var poisoned = (await h.PoisonAsync()).ToDictionary(p => p.MessageText!);
        foreach (var (text, reason) in bad) Assert.Contains(reason, poisoned[text].Reason);
        Assert.Equal(0, await h.CountVisibleAsync());
    }

    [Fact]
    public async Task Task_running_for_several_visibility_timeouts_runs_once()
    {
        await using var h = new AzureHarness(azurite, o => o.LeaseDuration = TimeSpan.FromSeconds(2));
        var runs = 0;
        var id = Scripts.Add(async (_, cancellationToken) =>
        {
            Interlocked.Increment(ref runs);
            await Task.Delay(TimeSpan.FromSeconds(7), cancellationToken);
        });
        await AzureTasks.RunAsync.Enqueue(h.Client, id);

        await h.NewWorker().StartAsync();
        await h.NewWorker().StartAsync();
        await AzureHarness.WaitUntil(() => h.Results.Count == 1, "the long task finished", seconds: 30);
        await Task.Delay(TimeSpan.FromSeconds(3)); // had the lease lapsed, the other worker would run it now

        Assert.Equal(1, runs);
        Assert.Equal(TaskOutcome.Completed, Assert.Single(h.Results).Outcome);
        Assert.Equal(0, await h.CountVisibleAsync());
    }

    [Fact]
    public async Task An_argument_larger_than_MaxEnvelopeBytes_fails_at_enqueue_and_sends_and_stores_nothing()
    {
        await using var h = new AzureHarness(azurite, transport: o => o.MaxEnvelopeBytes = 1024 * 1024);

        var error = await Assert.ThrowsAsync<TaskMessageTooLargeException>(async () => await AzureTasks.StoreAsync.Enqueue(h.Client, new byte[1024 * 1024]));

        Assert.Equal(1024 * 1024, error.Limit);
        Assert.Contains("at most 1,048,576", error.Message);
        Assert.Contains(AzureTasks.StoreAsync.Definition.Name, error.Message);
        Assert.Equal(0, await h.CountVisibleAsync());
        var payloads = new BlobContainerClient(azurite.ConnectionString, h.Prefix + AzureQueueTransport.PayloadContainer);
        Assert.False(await payloads.ExistsAsync());

        // Just under the limit still goes through, so the limit is the real one.
        await AzureTasks.StoreAsync.Enqueue(h.Client, new byte[1024 * 1024 - 200]);
        Assert.Equal(1, await h.CountVisibleAsync());
        Assert.Single(payloads.GetBlobs());
    }

    [Fact]
    public async Task Stop_releases_running_tasks_and_another_worker_finishes_them()
    {
        await using var h = new AzureHarness(azurite, o => o.DrainTimeout = TimeSpan.FromMilliseconds(300));
        var started = 0;
        var id = Scripts.Add(async (context, cancellationToken) =>
        {
            if (context.Attempt > 1) return;
            Interlocked.Increment(ref started);
            await Task.Delay(Timeout.Infinite, cancellationToken);
        });
        for (var i = 0; i < 4; i++) await AzureTasks.RunAsync.Enqueue(h.Client, id);

        var first = h.NewWorker();
        await first.StartAsync();
        await AzureHarness.WaitUntil(() => Volatile.Read(ref started) == 4, "all four tasks started");
        await first.StopAsync();
        Assert.Equal(4, h.Results.Count(r => r.Outcome == TaskOutcome.Released));

        await h.NewWorker().StartAsync();
        await AzureHarness.WaitUntil(() => h.Results.Count(r => r.Outcome == TaskOutcome.Completed) == 4, "the released tasks completed");
        Assert.Equal(0, await h.CountVisibleAsync());
        Assert.Empty(await h.PoisonAsync());
    }

    [Fact]
    public async Task Stale_pop_receipt_is_a_lost_lease_not_a_crash()
    {
        await using var h = new AzureHarness(azurite);
        await AzureTasks.RunAsync.Enqueue(h.Client, "x");

        var first = Assert.Single(await h.Transport.ReceiveAsync(AzureTasks.Queue, 1, TimeSpan.FromSeconds(1), default));
        await Task.Delay(TimeSpan.FromSeconds(3)); // the 1 s lease, plus the second the transport adds for the service's rounding
        var second = Assert.Single(await h.Transport.ReceiveAsync(AzureTasks.Queue, 1, TimeSpan.FromSeconds(30), default));

        var lost = await Assert.ThrowsAsync<TaskLeaseLostException>(async () => await h.Transport.CompleteAsync(first, default));
        Assert.Contains("PopReceiptMismatch", lost.Message);
        await h.Transport.RenewLeaseAsync(second, TimeSpan.FromSeconds(30), default);
        await h.Transport.CompleteAsync(second, default); // the renewed receipt was carried forward
        await Assert.ThrowsAsync<TaskLeaseLostException>(async () => await h.Transport.CompleteAsync(second, default));
        Assert.Equal((1, 2), (first.Attempt, second.Attempt));
    }

    [Fact]
    public async Task Invalid_queue_prefix_is_a_clear_error_before_anything_is_sent()
    {
        var transport = new AzureQueueTransport(new AzureQueueOptions { ConnectionString = azurite.ConnectionString, QueuePrefix = "Staging_" });

        var error = await Assert.ThrowsAsync<TaskEnqueueException>(async () => await AzureTasks.RunAsync.Enqueue(new TaskClient(transport), "x"));

        Assert.IsType<ArgumentException>(error.InnerException);
        Assert.Equal((AzureTasks.RunAsync.Definition.Name, AzureTasks.Queue), (error.TaskName, error.Queue));
        Assert.Contains("'Staging_work'", error.Message);
        Assert.Contains("lowercase letters, digits and hyphens", error.Message);
    }

    [Fact]
    public async Task Connects_with_a_SAS_URI()
    {
        var sas = new QueueServiceClient(azurite.ConnectionString).GenerateAccountSasUri(
            AccountSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1), AccountSasResourceTypes.All);
        var prefix = "sas" + Guid.NewGuid().ToString("N")[..8] + "-";
        var transport = new AzureQueueTransport(new AzureQueueOptions { ServiceUri = sas, QueuePrefix = prefix });
        var key = Guid.NewGuid();

        await AzureTasks.CaptureAsync.Enqueue(new TaskClient(transport), key, "via sas", [], new(), new Payload("", [], null), []);
        var options = new TaskWorkerOptions();
        options.Queues.Add(AzureTasks.Queue);
        await using var worker = new TaskWorker(transport, options);

        Assert.Equal(1, await worker.RunOnceAsync());
        Assert.Equal("via sas", AzureTasks.Captured[key][0]);
    }

    [Fact]
    public async Task Host_configured_from_configuration_runs_tasks_on_Azure_queues()
    {
        var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var id = Scripts.Add((context, _) =>
        {
            done.TrySetResult(context.Queue);
            return Task.CompletedTask;
        });
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Tasks:Azure:ConnectionString"] = azurite.ConnectionString,
            ["Tasks:Azure:QueuePrefix"] = "host" + Guid.NewGuid().ToString("N")[..8] + "-",
        });
        builder.Services.AddAsyncTaskWorker(o =>
        {
            o.Queues.Add(AzureTasks.Queue);
            o.MinPollingInterval = TimeSpan.FromMilliseconds(20);
        }).UseAzureQueues(builder.Configuration.GetSection("Tasks:Azure"));
        using var host = builder.Build();

        await host.StartAsync();
        await AzureTasks.RunAsync.Enqueue(id);
        var queue = await done.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await host.StopAsync();

        Assert.Equal(AzureTasks.Queue, queue);
        Assert.IsType<AzureQueueTransport>(host.Services.GetRequiredService<ITaskTransport>());
    }

    [Fact]
    public async Task Full_size_message_is_poisoned_with_its_text_in_a_message_of_its_own()
    {
        await using var h = new AzureHarness(azurite);
        await AzureTasks.StoreAsync.Enqueue(h.Client, new byte[AzureQueueTransport.MaxInlineEnvelopeBytes - 120]); // ~100 bytes of envelope around it
        var received = Assert.Single(await h.Transport.ReceiveAsync(AzureTasks.Queue, 1, TimeSpan.FromSeconds(30), default));

        await h.Transport.DeadLetterAsync(received, new DeadLetterDetails("operator says no", null, null, received.Attempt), default);

        var poison = new QueueClient(azurite.ConnectionString, h.Transport.PoisonQueueName(AzureTasks.Queue));
        var texts = (await poison.PeekMessagesAsync(32)).Value.Select(m => m.Body.ToString()).ToArray();
        Assert.True(received.Body.Length > AzureQueueTransport.MaxInlineEnvelopeBytes - 100, $"the envelope is {received.Body.Length} bytes: not full size");
        Assert.Equal(2, texts.Length);
        var record = PoisonMessage.Parse(texts.Single(t => t.StartsWith('{')));
        Assert.Equal("operator says no", record.Reason);
        Assert.Null(record.MessageText);
        Assert.NotNull(record.MessageTextId);
        Assert.Equal(Convert.ToBase64String(received.Body.Span), texts.Single(t => !t.StartsWith('{')));
        Assert.Equal(0, await h.CountVisibleAsync());
    }

    [Fact]
    public async Task Transient_service_errors_back_off_and_never_stop_the_worker()
    {
        await using var h = new AzureHarness(azurite);
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var id = Scripts.Add((_, _) =>
        {
            ran.TrySetResult();
            return Task.CompletedTask;
        });
        await AzureTasks.RunAsync.Enqueue(h.Client, id);
        var flaky = new FailingReceives(h.Transport, failures: 3);

        await h.NewWorker(flaky).StartAsync();
        await ran.Task.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.True(flaky.Calls > 3, "the worker kept receiving after three failures");
    }



    private static string B64(Envelopes.Write write) => Convert.ToBase64String(Envelopes.Build(write));

    /// <summary>Answers the first receives with the service's "server busy", then passes through.</summary>
    private sealed class FailingReceives(ITaskTransport inner, int failures) : DelegatingTransport(inner)
    {
        private int calls;

        public int Calls => Volatile.Read(ref calls);

        public override ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
            => Interlocked.Increment(ref calls) <= failures
                ? throw new global::Azure.RequestFailedException(503, "The server is busy.", "ServerBusy", null)
                : base.ReceiveAsync(queue, maxMessages, leaseDuration, cancellationToken);
    }
}
