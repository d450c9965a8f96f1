using System.Diagnostics;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Microsoft.Extensions.Azure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Tasks.Azure.Tests;

/// <summary>
/// UseAzureQueues() on the clients an app registered with AddAzureClients: the app's pipelines carry every call (its
/// policies see them), Tasks' deadline still bounds them, and a missing or unsuitable registration says how to fix it.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class AzureRegisteredClientsTests(AzuriteFixture azurite)
{
    [Theory]
    [InlineData(null)] // UseAzureQueues(): the clients registered without WithName
    [InlineData("tasks")] // "Tasks": { "Azure": { "ClientName": "tasks" } }
    public async Task The_apps_registered_clients_carry_tasks_records_payloads_and_dead_letters_within_Tasks_deadline(string? clientName)
    {
        var prefix = "r" + Guid.NewGuid().ToString("N")[..8] + "-";
        var taps = new ServiceTaps();
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAzureClients(clients =>
        {
            var queues = clients.AddQueueServiceClient(azurite.ConnectionString).ConfigureOptions(o => o.AddPolicy(taps.Queue, HttpPipelinePosition.PerRetry));
            var blobs = clients.AddBlobServiceClient(azurite.ConnectionString).ConfigureOptions(o => o.AddPolicy(taps.Blob, HttpPipelinePosition.PerRetry));
            var tables = clients.AddTableServiceClient(azurite.ConnectionString).ConfigureOptions(o => o.AddPolicy(taps.Table, HttpPipelinePosition.PerRetry));
            if (clientName is not null) (queues, blobs, tables) = (queues.WithName(clientName), blobs.WithName(clientName), tables.WithName(clientName));
        });
        var tasks = builder.Services.AddAsyncTaskWorker(o =>
        {
            o.Queues.Add(AzureTasks.Queue);
            o.MinPollingInterval = TimeSpan.FromMilliseconds(20);
        });
        if (clientName is null)
        {
            tasks.UseAzureQueues();
            // The other options still apply.
            builder.Services.Configure<AzureQueueOptions>(o => (o.QueuePrefix, o.RequestTimeout) = (prefix, TimeSpan.FromSeconds(2)));
        }
        else
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Tasks:Azure:ClientName"] = clientName,
                ["Tasks:Azure:QueuePrefix"] = prefix,
                ["Tasks:Azure:RequestTimeout"] = "00:00:02",
            });
            tasks.UseAzureQueues(builder.Configuration.GetSection("Tasks:Azure"));
        }

        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var client = host.Services.GetRequiredService<ITaskClient>();
            var records = host.Services.GetRequiredService<TaskRecordStore>();
            var data = new byte[200_000]; // beyond a queue message: its envelope travels in a blob
            Random.Shared.NextBytes(data);
            var received = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            var large = await AzureTasks.TakeAsync.Enqueue(client, Scripts.Add((_, arguments, _) =>
            {
                received.TrySetResult((byte[])arguments[0]!);
                return Task.CompletedTask;
            }), data, "large");
            var doomed = await AzureTasks.RunAsync.Enqueue(client, Scripts.Add((_, _) => throw new PermanentTaskException("not ever")));

            Assert.Equal(data, await received.Task.WaitAsync(TimeSpan.FromSeconds(30)));
            await AzureHarness.WaitUntil(async () => (await records.GetAsync(large))?.State == TaskState.Succeeded, "the large task's record says it succeeded");
            await AzureHarness.WaitUntil(async () => (await records.GetAsync(doomed))?.State == TaskState.DeadLettered, "the doomed task's record says it was dead-lettered");
            var transport = host.Services.GetRequiredService<AzureQueueTransport>();
            Assert.Equal(doomed, Assert.Single(await transport.PeekDeadLettersAsync(AzureTasks.Queue)).MessageId);
            Assert.True(await new BlobContainerClient(azurite.ConnectionString, prefix + AzureQueueTransport.PayloadContainer).ExistsAsync(), "the payload went through the blob container");
            Assert.True(taps.Queue.Requests > 0 && taps.Blob.Requests > 0 && taps.Table.Requests > 0, $"the app's pipelines carried the calls: {taps}");

            // Tasks' deadline is in the app's pipeline: a queue service that stops answering fails an enqueue within it,
            // where the SDK alone would wait for its network timeout on every try.
            taps.Queue.Hang = true;
            var clock = Stopwatch.StartNew();
            var error = await Assert.ThrowsAsync<TaskEnqueueException>(async () => await AzureTasks.RunAsync.Enqueue(client, "never sent"));
            Assert.True(error.IsTransient, error.ToString());
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"the enqueue failed after {clock.Elapsed} (RequestTimeout 2 s)");
        }
        finally
        {
            taps.Queue.Hang = false;
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task A_missing_table_client_registration_names_the_client_the_name_and_the_fix()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAzureClients(clients =>
        {
            clients.AddQueueServiceClient(azurite.ConnectionString).WithName("tasks");
            clients.AddBlobServiceClient(azurite.ConnectionString).WithName("tasks");
        });
        builder.Services.AddAsyncTaskWorker(o => o.Queues.Add(AzureTasks.Queue)).UseAzureQueues(o =>
        {
            o.ClientName = "tasks";
            o.QueuePrefix = "m" + Guid.NewGuid().ToString("N")[..8] + "-";
        });
        using var host = builder.Build();

        // At start, or at the first call that writes a record.
        var started = false;
        var error = await Record.ExceptionAsync(async () =>
        {
            await host.StartAsync();
            started = true;
            await AzureTasks.RunAsync.Enqueue(host.Services.GetRequiredService<ITaskClient>(), "x");
        });
        if (started) await host.StopAsync();

        Assert.NotNull(error);
        var message = error.ToString();
        Assert.Contains("TableServiceClient", message);
        Assert.Contains("'tasks'", message);
        Assert.Contains("clients.AddTableServiceClient(...).WithName(\"tasks\")", message);
        Assert.Contains("UseTaskRecords(o => o.Enabled = false)", message);
    }

    [Fact]
    public async Task A_registered_queue_client_that_base64_encodes_messages_fails_the_start_saying_Tasks_encodes_them_itself()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAzureClients(clients =>
        {
            clients.AddQueueServiceClient(azurite.ConnectionString).ConfigureOptions(o => o.MessageEncoding = QueueMessageEncoding.Base64);
            clients.AddTableServiceClient(azurite.ConnectionString);
        });
        builder.Services.AddAsyncTaskWorker(o => o.Queues.Add(AzureTasks.Queue)).UseAzureQueues();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());

        Assert.Contains("MessageEncoding = Base64", error.Message);
        Assert.Contains("Tasks encodes its messages itself", error.Message);
        Assert.Contains("without MessageEncoding", error.Message);
    }

    [Fact]
    public void A_transport_made_without_a_host_cannot_use_registered_clients_and_says_what_to_do()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new AzureQueueTransport(new AzureQueueOptions { ClientName = "tasks" }));

        Assert.Contains("UseAzureQueues(o => o.ClientName = ...)", error.Message);
    }

    [Fact]
    public void Options_naming_no_account_or_two_say_which_settings_to_choose_from()
    {
        var none = Assert.Throws<InvalidOperationException>(() => new AzureQueueTransport(new AzureQueueOptions()));
        var two = Assert.Throws<InvalidOperationException>(() => new AzureQueueTransport(new AzureQueueOptions { ConnectionString = "UseDevelopmentStorage=true", ClientName = "tasks" }));

        Assert.Contains("exactly one of AzureQueueOptions.ConnectionString, ServiceUri or ClientName, and none is set", none.Message);
        Assert.Contains("and ConnectionString and ClientName are set", two.Message);
        Assert.Contains("UseAzureQueues()", none.Message);
    }

    /// <summary>One tap per service, each in the app's own pipeline of that client.</summary>
    private sealed class ServiceTaps
    {
        public Tap Queue { get; } = new();

        public Tap Blob { get; } = new();

        public Tap Table { get; } = new();

        public override string ToString() => $"queue {Queue.Requests}, blob {Blob.Requests}, table {Table.Requests} requests";
    }

    /// <summary>Counts the requests of one client; with <see cref="Hang"/>, the service never answers (within Tasks' deadline policy, which is per call).</summary>
    private sealed class Tap : HttpPipelinePolicy
    {
        private int requests;

        public int Requests => Volatile.Read(ref requests);

        public volatile bool Hang;

        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) => ProcessAsync(message, pipeline).AsTask().GetAwaiter().GetResult();

        public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            Interlocked.Increment(ref requests);
            if (Hang) await Task.Delay(Timeout.Infinite, message.CancellationToken);
            await ProcessNextAsync(message, pipeline);
        }
    }
}
