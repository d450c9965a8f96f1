using Azure.Core;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Microsoft.Extensions.DependencyInjection;

namespace Tasks.Azure.Tests;

/// <summary>The SDK clients of a host: one credential for all, the user's client options on each, made once.</summary>
public sealed class AzureClientsTests
{
    [Fact]
    public void Every_client_of_every_account_and_service_shares_one_credential_and_takes_the_users_client_options()
    {
        var made = 0;
        var configured = new List<Type>();
        var options = new AzureQueueOptions
        {
            ServiceUri = new Uri("https://main.queue.core.windows.net"),
            ShardAccounts = ["https://second.queue.core.windows.net", "https://third.queue.core.windows.net"],
            ConfigureClient = o => configured.Add(o.GetType()),
        };
        var clients = new AzureClients(options, null, () =>
        {
            made++;
            return new UnusedCredential();
        });

        _ = new AzureQueueTransport(clients, null, null);
        _ = new AzureTableTaskRecordStore(clients, null, null);
        _ = clients.Blobs;
        _ = clients.Blobs;

        Assert.Equal(1, made);
        Assert.Equal(3, configured.Count(t => t == typeof(QueueClientOptions))); // one per account: envelopes and poison text alike
        Assert.Equal(1, configured.Count(t => t == typeof(BlobClientOptions)));
        Assert.Equal(1, configured.Count(t => t == typeof(TableClientOptions)));
    }

    [Fact]
    public async Task The_blob_client_is_made_once_however_many_callers_ask_for_it_at_once()
    {
        var configured = new System.Collections.Concurrent.ConcurrentQueue<Type>();
        var clients = new AzureClients(new AzureQueueOptions { ConnectionString = "UseDevelopmentStorage=true", ConfigureClient = o => configured.Enqueue(o.GetType()) });
        using var start = new ManualResetEventSlim();
        var callers = Enumerable.Range(0, 16).Select(_ => Task.Run(() =>
        {
            start.Wait();
            return clients.Blobs;
        })).ToArray();
        start.Set();

        var made = await Task.WhenAll(callers);

        Assert.Single(made.Distinct());
        Assert.Equal(1, configured.Count(t => t == typeof(BlobClientOptions)));
    }

    [Fact]
    public void A_host_gives_the_transport_and_the_record_store_the_same_clients()
    {
        var services = new ServiceCollection();
        services.AddAsyncTasks().UseAzureQueues(o => o.ConnectionString = "UseDevelopmentStorage=true");
        using var provider = services.BuildServiceProvider();

        var transport = provider.GetRequiredService<AzureQueueTransport>();
        var store = Assert.IsType<AzureTableTaskRecordStore>(provider.GetRequiredService<TaskRecordStore>());
        Assert.Same(transport.Clients, store.Clients);
        Assert.Same(provider.GetRequiredService<AzureClients>(), transport.Clients);
    }

    private sealed class UnusedCredential : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) => throw new NotSupportedException("no call is made");

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) => throw new NotSupportedException("no call is made");
    }
}
