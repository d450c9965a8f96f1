using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Azure.Storage.Queues;

namespace Tasks.Azure.Tests;

/// <summary>The first start against Azure: one id end to end, faults that stop the host at once, and delays never cut short.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class AzureStartupTests(AzuriteFixture azurite)
{
    // A well-formed key that is not the account's.
    internal const string WrongKey = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleS13cm9uZw==";

    [Fact]
    public async Task The_id_Enqueue_returns_is_the_task_context_id_the_poison_record_id_and_survives_a_requeue()
    {
        var seen = new ConcurrentQueue<string>();
        var script = Scripts.Add((context, _) =>
        {
            seen.Enqueue(context.MessageId);
            throw new PermanentTaskException("not today");
        });
        await using var h = new AzureHarness(azurite);
        var worker = h.NewWorker();
        var id = await AzureTasks.RunAsync.Enqueue(h.Client, script);

        await worker.RunOnceAsync();
        var poison = Assert.Single(await h.PoisonAsync());
        await h.RawQueue().SendMessageAsync(poison.MessageText); // the requeue docs/operations.md describes
        await AzureHarness.WaitUntil(async () => await worker.RunOnceAsync() > 0, "the requeued message ran");

        Assert.Equal([id, id], seen);
        Assert.Equal(id, poison.MessageId);
        Assert.All(h.Results, r => Assert.Equal(id, r.MessageId));
    }

    [Fact]
    public async Task A_started_worker_has_created_its_queues_and_their_poison_queues()
    {
        await using var h = new AzureHarness(azurite);

        await h.NewWorker().StartAsync();

        Assert.True(await h.RawQueue().ExistsAsync());
        Assert.True(await new QueueClient(azurite.ConnectionString, h.Transport.PoisonQueueName(AzureTasks.Queue)).ExistsAsync());
    }

    [Fact]
    public async Task Concurrent_first_senders_create_their_queue_once()
    {
        var creates = new CountingPolicy(r => r.Method == global::Azure.Core.RequestMethod.Put && !r.Uri.Path.Contains("/messages"));
        var transport = new AzureQueueTransport(new AzureQueueOptions
        {
            ConnectionString = azurite.ConnectionString,
            QueuePrefix = "c" + Guid.NewGuid().ToString("N")[..8] + "-",
            ConfigureClient = o => o.AddPolicy(creates, global::Azure.Core.HttpPipelinePosition.PerCall),
        });
        var client = new TaskClient(transport);

        await Task.WhenAll(Enumerable.Range(0, 16).Select(i => AzureTasks.CountAsync.Enqueue(client, "once", i).AsTask()));

        Assert.Equal(1, creates.Count);
    }

    private sealed class CountingPolicy(Func<global::Azure.Core.Request, bool> counts) : global::Azure.Core.Pipeline.HttpPipelineSynchronousPolicy
    {
        private int count;

        public int Count => Volatile.Read(ref count);

        public override void OnSendingRequest(global::Azure.Core.HttpMessage message)
        {
            if (counts(message.Request)) Interlocked.Increment(ref count);
        }
    }

    [Fact]
    public async Task A_retry_delay_is_never_shorter_than_asked_though_the_service_counts_whole_seconds()
    {
        await using var h = new AzureHarness(azurite);
        await AzureTasks.RunAsync.Enqueue(h.Client, "x");
        foreach (var asked in new[] { TimeSpan.FromMilliseconds(900), TimeSpan.FromMilliseconds(1300) })
        {
            var message = Assert.Single(await h.Transport.ReceiveAsync(AzureTasks.Queue, 1, TimeSpan.FromSeconds(30), default));
            var clock = Stopwatch.StartNew();
            await h.Transport.ReleaseAsync(message, asked, default);
            while ((await h.Transport.ReceiveAsync(AzureTasks.Queue, 1, TimeSpan.FromMilliseconds(1), default)).Count == 0)
                await Task.Delay(25);
            var back = clock.Elapsed;
            Assert.True(back >= asked, $"asked for {asked}, the message came back after {back}");
            await Task.Delay(TimeSpan.FromSeconds(2.5)); // the 1 s lease of the probe above runs out
        }
    }

    [Fact]
    public async Task A_wrong_account_key_fails_the_worker_start_and_the_enqueue_at_once_naming_queue_and_endpoint_not_the_key()
    {
        var transport = Transport(azurite.ConnectionString.Replace(AccountKeyOf(azurite.ConnectionString), WrongKey));
        await using var worker = new TaskWorker(transport, Options());

        var start = await Assert.ThrowsAsync<TaskTransportException>(() => worker.StartAsync());
        var clock = Stopwatch.StartNew();
        var enqueue = await Assert.ThrowsAsync<TaskEnqueueException>(async () => await AzureTasks.RunAsync.Enqueue(new TaskClient(transport), "x"));

        Assert.False(start.IsTransient);
        Assert.Contains($"Azure queue '{transport.QueueName(AzureTasks.Queue)}' at {transport.Endpoint}: the service refused the credentials (403", start.Message);
        Assert.Contains("Check the account name and key", start.Message);
        Assert.Equal((AzureTasks.RunAsync.Definition.Name, AzureTasks.Queue, false), (enqueue.TaskName, enqueue.Queue, enqueue.IsTransient));
        Assert.IsType<TaskTransportException>(enqueue.InnerException);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the enqueue failed after {clock.Elapsed}");
        Assert.DoesNotContain(WrongKey, start.ToString() + enqueue.ToString());
    }

    [Fact]
    public async Task A_worker_host_with_refused_credentials_fails_to_start()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAsyncTaskWorker(o => o.Queues.Add(AzureTasks.Queue)).UseAzureQueues(o =>
        {
            o.ConnectionString = azurite.ConnectionString.Replace(AccountKeyOf(azurite.ConnectionString), WrongKey);
            o.QueuePrefix = "refused-";
        });
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<TaskTransportException>(() => host.StartAsync());

        Assert.False(error.IsTransient);
    }

    [Fact]
    public async Task An_unknown_account_fails_the_start_and_is_not_retried()
    {
        var endpoint = new Uri(azurite.ConnectionString.Split(';').Single(p => p.StartsWith("QueueEndpoint=")).Split('=', 2)[1]);
        var unknown = $"DefaultEndpointsProtocol=http;AccountName=nosuchaccount;AccountKey={WrongKey};QueueEndpoint=http://{endpoint.Authority}/nosuchaccount;";
        await using var worker = new TaskWorker(Transport(unknown), Options());

        var error = await Assert.ThrowsAsync<TaskTransportException>(() => worker.StartAsync());

        Assert.False(error.IsTransient);
        Assert.Contains("/nosuchaccount", error.Message);
        Assert.DoesNotContain(WrongKey, error.ToString());
    }

    [Fact]
    public void A_malformed_connection_string_is_a_clear_error_without_the_string()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Transport("AccountName=shop;AccountKey=c2VjcmV0LWtleQ==;this is not a setting"));

        Assert.Contains("is not a valid storage connection string", error.Message);
        Assert.DoesNotContain("c2VjcmV0LWtleQ", error.ToString());
    }

    [Fact]
    public async Task An_unreachable_service_at_start_is_transient_the_worker_starts_and_keeps_trying()
    {
        var closedPort = ClosedPort();
        var transport = Transport(azurite.ConnectionString.Replace(new Uri(azurite.ConnectionString.Split("QueueEndpoint=")[1].TrimEnd(';')).Port.ToString(), closedPort.ToString()));
        await using var worker = new TaskWorker(transport, Options());

        await worker.StartAsync();

        var error = await Assert.ThrowsAsync<TaskEnqueueException>(async () => await AzureTasks.RunAsync.Enqueue(new TaskClient(transport), "x"));
        Assert.True(error.IsTransient, error.ToString());
        Assert.Contains("the service did not answer", error.Message);
    }

    [Fact]
    public async Task Credentials_refused_while_running_stop_the_worker_host_instead_of_retrying_forever()
    {
        var prefix = "k" + Guid.NewGuid().ToString("N")[..8] + "-";
        var good = new AzureQueueTransport(new AzureQueueOptions { ConnectionString = azurite.ConnectionString, QueuePrefix = prefix });
        var revoked = new AzureQueueTransport(new AzureQueueOptions { ConnectionString = azurite.ConnectionString.Replace(AccountKeyOf(azurite.ConnectionString), WrongKey), QueuePrefix = prefix });
        var transport = new KeyRotatedTransport(good, revoked);
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<ITaskTransport>(transport);
        builder.Services.AddAsyncTaskWorker(o =>
        {
            o.Queues.Add(AzureTasks.Queue);
            o.MinPollingInterval = TimeSpan.FromMilliseconds(20);
        });
        using var host = builder.Build();
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() => stopping.TrySetResult());
        try
        {
            await host.StartAsync();
            transport.Revoked = true;

            await stopping.Task.WaitAsync(TimeSpan.FromSeconds(20));
            await host.StopAsync();

            Assert.Equal(1, Environment.ExitCode);
        }
        finally
        {
            Environment.ExitCode = 0;
        }
    }

    /// <summary>The account key is rotated under a running worker: from then on, receiving is refused.</summary>
    private sealed class KeyRotatedTransport(ITaskTransport good, ITaskTransport revoked) : DelegatingTransport(good)
    {
        public volatile bool Revoked;

        public override ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
            => Revoked ? revoked.ReceiveAsync(queue, maxMessages, leaseDuration, cancellationToken) : base.ReceiveAsync(queue, maxMessages, leaseDuration, cancellationToken);
    }

    private static AzureQueueTransport Transport(string connectionString)
        => new(new AzureQueueOptions { ConnectionString = connectionString, QueuePrefix = "s" + Guid.NewGuid().ToString("N")[..8] + "-" });

    private static TaskWorkerOptions Options()
    {
        var options = new TaskWorkerOptions();
        options.Queues.Add(AzureTasks.Queue);
        return options;
    }

    internal static string AccountKeyOf(string connectionString)
        => connectionString.Split(';').Single(p => p.StartsWith("AccountKey=")).Split('=', 2)[1];

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
