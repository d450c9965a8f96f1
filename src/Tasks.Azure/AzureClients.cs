using System;
using System.Linq;
using System.Threading;
using Azure;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;

namespace Tasks.Azure;

/// <summary>
/// Makes every Azure SDK client of one <see cref="AzureQueueOptions"/>: a queue client per account, one blob client,
/// one table client. All share one credential (a <c>DefaultAzureCredential</c> made once, so one token is fetched
/// and cached, not one per client), the same retries, <see cref="AzureQueueOptions.ConfigureClient"/>, and a
/// <see cref="StorageServiceGuard"/> per service, so no call skips the deadline and circuit of its service.
/// With <see cref="AzureQueueOptions.ClientName"/>, the main account's clients are the app's own, from
/// <see cref="RegisteredAzureClients"/>, and get their guards through <see cref="RegisteredClientGuards"/>.
/// A host registers one, which the transport and the record store share.
/// </summary>
internal sealed class AzureClients
{
    private readonly AzureQueueOptions options;
    private readonly TimeProvider time;
    private readonly RegisteredAzureClients? registered;
    private readonly Lazy<TokenCredential> credential;
    private readonly Lazy<QueueAccount> mainQueues;
    private readonly Lazy<BlobServiceClient> blobs;
    private readonly Lazy<TableServiceClient> tables;

    /// <param name="options">The accounts and how to reach them.</param>
    /// <param name="timeProvider">The clock of the guards.</param>
    /// <param name="defaultCredential">Makes the credential used when <see cref="AzureQueueOptions.Credential"/> is null (tests count its calls).</param>
    /// <param name="services">Where the clients registered with <c>AddAzureClients</c> are found: needed with <see cref="AzureQueueOptions.ClientName"/>.</param>
    public AzureClients(AzureQueueOptions options, TimeProvider? timeProvider = null, Func<TokenCredential>? defaultCredential = null, IServiceProvider? services = null)
    {
        this.options = options ?? throw new ArgumentNullException(nameof(options));
        options.Validate();
        time = timeProvider ?? TimeProvider.System;
        if (!string.IsNullOrWhiteSpace(options.ClientName))
        {
            registered = services is null
                ? throw new InvalidOperationException(
                    $"AzureQueueOptions.ClientName ('{options.ClientName}') names clients registered with services.AddAzureClients(...), which only a host's services hold: " +
                    "use services.AddAsyncTasks().UseAzureQueues(o => o.ClientName = ...) rather than new AzureQueueTransport(options), or set ConnectionString or ServiceUri.")
                : new RegisteredAzureClients(services, options.ClientName);
        }

        // The main account's guards are made now, not with their clients: with registered clients, the SDK adds them to the
        // client options (RegisteredClientGuards) while it makes the client, before Tasks holds the client.
        QueueGuard = new StorageServiceGuard("Azure Queue service", options.RequestTimeout, options.ProbeInterval, time);
        BlobGuard = new StorageServiceGuard("Azure Blob service", options.PayloadTimeout, options.ProbeInterval, time);
        TableGuard = new StorageServiceGuard("Azure Table service", options.RequestTimeout, options.ProbeInterval, time);
        credential = new Lazy<TokenCredential>(() => options.Credential ?? defaultCredential?.Invoke() ?? new DefaultAzureCredential(), LazyThreadSafetyMode.ExecutionAndPublication);
        mainQueues = new Lazy<QueueAccount>(CreateMainQueues, LazyThreadSafetyMode.ExecutionAndPublication);
        // Made at first use: a host with no payload, schedule or record never needs a blob or table endpoint.
        blobs = new Lazy<BlobServiceClient>(CreateBlobs, LazyThreadSafetyMode.ExecutionAndPublication);
        tables = new Lazy<TableServiceClient>(CreateTables, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public AzureQueueOptions Options => options;

    /// <summary>The clock of the guards, and of what the stores compare with the service's times.</summary>
    public TimeProvider Time => time;

    /// <summary>The deadline and circuit of the main account's queue service.</summary>
    public StorageServiceGuard QueueGuard { get; }

    /// <summary>The deadline and circuit of the blob service (payloads and schedules).</summary>
    public StorageServiceGuard BlobGuard { get; }

    /// <summary>The deadline and circuit of the table service (records, limits, pauses).</summary>
    public StorageServiceGuard TableGuard { get; }

    /// <summary>The blob service of the account (payloads and schedules).</summary>
    public BlobServiceClient Blobs => blobs.Value;

    /// <summary>The table service of the account (records).</summary>
    public TableServiceClient Tables => tables.Value;

    /// <summary>The queue service of the main account, made once.</summary>
    public QueueAccount MainQueues() => mainQueues.Value;

    /// <summary>The queue service of shard account <paramref name="index"/> (0-based in <see cref="AzureQueueOptions.ShardAccounts"/>).</summary>
    public QueueAccount ShardQueues(int index)
    {
        var account = options.ShardAccounts[index];
        // One guard per account's queue service.
        var guard = new StorageServiceGuard("Azure Queue service", options.RequestTimeout, options.ProbeInterval, time);
        return Uri.TryCreate(account, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http"
            ? Queues(null, uri, null, guard)
            : Queues(account, null, $"AzureQueueOptions.ShardAccounts[{index}]", guard);
    }

    /// <summary>The service URI without its query: a SAS token is a secret.</summary>
    public static string EndpointOf(Uri serviceUri) => new UriBuilder(serviceUri) { Query = string.Empty }.Uri.ToString().TrimEnd('/');

    private QueueAccount CreateMainQueues()
        => registered is not null
            ? Account(registered.Queues(), QueueGuard)
            : Queues(options.ConnectionString, options.ServiceUri, "AzureQueueOptions.ConnectionString", QueueGuard);

    private QueueAccount Queues(string? connectionString, Uri? serviceUri, string? setting, StorageServiceGuard guard)
        // Encoding None: envelopes are base64-encoded by Tasks (AzureQueueTransport), poison records are JSON text a person
        // can read in any storage explorer, and one client serves both, as an app's registered client does.
        => Account(CreateQueues(connectionString, serviceUri, setting, Configure(new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None }, guard)), guard);

    private static QueueAccount Account(QueueServiceClient service, StorageServiceGuard guard)
    {
        var endpoint = EndpointOf(service.Uri);
        (guard.Service, guard.Probe) = ($"Azure Queue service at {endpoint}", service.GetPropertiesAsync);
        return new QueueAccount(service, endpoint, guard);
    }

    private QueueServiceClient CreateQueues(string? connectionString, Uri? serviceUri, string? setting, QueueClientOptions clientOptions)
    {
        if (!string.IsNullOrWhiteSpace(connectionString))
        {
            try
            {
                return new QueueServiceClient(connectionString, clientOptions);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or InvalidOperationException)
            {
                // The SDK's message may quote the string, key included: say what is wrong without it.
                throw new InvalidOperationException(
                    $"{setting} is not a valid storage connection string. Use the one from the storage account's " +
                    "'Access keys' page (DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=core.windows.net), " +
                    "or \"UseDevelopmentStorage=true\" for Azurite on its default ports.");
            }
        }

        var uri = serviceUri!;
        return Signed(uri) ? new QueueServiceClient(uri, clientOptions) : new QueueServiceClient(uri, credential.Value, clientOptions);
    }

    private BlobServiceClient CreateBlobs()
    {
        var guard = BlobGuard;
        BlobServiceClient client;
        if (registered is not null)
        {
            client = registered.Blobs();
        }
        else if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            var clientOptions = Configure(new BlobClientOptions(), guard);
            try
            {
                client = new BlobServiceClient(options.ConnectionString, clientOptions);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or InvalidOperationException)
            {
                throw new InvalidOperationException(
                    "Large arguments and recurring schedules are kept in blob storage, and AzureQueueOptions.ConnectionString names no blob endpoint: " +
                    "use the account's full connection string, or add BlobEndpoint=... to it.");
            }
        }
        else
        {
            var uri = options.BlobServiceUri ?? SiblingOf(options.ServiceUri!, "blob", "AzureQueueOptions.BlobServiceUri", "Large arguments and recurring schedules are kept in blob storage", keepQuery: true);
            var clientOptions = Configure(new BlobClientOptions(), guard);
            client = Signed(uri) ? new BlobServiceClient(uri, clientOptions) : new BlobServiceClient(uri, credential.Value, clientOptions);
        }

        (guard.Service, guard.Probe) = ($"Azure Blob service at {EndpointOf(client.Uri)}", client.GetPropertiesAsync);
        return client;
    }

    private TableServiceClient CreateTables()
    {
        var guard = TableGuard;
        TableServiceClient client;
        if (registered is not null)
        {
            client = registered.Tables();
        }
        else if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            // A connection string that names its endpoints one by one and not this one would send records to
            // {account}.table.core.windows.net: say so rather than fail on a host name that does not resolve.
            var keys = options.ConnectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => p.Split('=', 2)[0]).ToHashSet(StringComparer.OrdinalIgnoreCase);
            if (keys.Contains("QueueEndpoint") && !keys.Contains("TableEndpoint") && !keys.Contains("EndpointSuffix"))
                throw new InvalidOperationException(
                    "Task records are kept in the account's Table storage, and AzureQueueOptions.ConnectionString names a QueueEndpoint but no TableEndpoint: " +
                    "add TableEndpoint=... (Azurite: http://127.0.0.1:10002/devstoreaccount1), or turn records off with UseTaskRecords(o => o.Enabled = false).");
            var clientOptions = Configure(new TableClientOptions(), guard);
            try
            {
                client = new TableServiceClient(options.ConnectionString, clientOptions);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or InvalidOperationException)
            {
                throw new InvalidOperationException(
                    "Task records are kept in Table storage, and AzureQueueOptions.ConnectionString names no table endpoint: " +
                    "use the account's full connection string, or add TableEndpoint=... to it.");
            }
        }
        else
        {
            var uri = options.TableServiceUri ?? SiblingOf(options.ServiceUri!, "table", "AzureQueueOptions.TableServiceUri", "Task records are kept in Table storage", keepQuery: false);
            var clientOptions = Configure(new TableClientOptions(), guard);
            client = Signed(uri) ? new TableServiceClient(uri, new AzureSasCredential(uri.Query), clientOptions) : new TableServiceClient(uri, credential.Value, clientOptions);
        }

        (guard.Service, guard.Probe) = ($"Azure Table service at {EndpointOf(client.Uri)}", client.GetPropertiesAsync);
        return client;
    }

    /// <summary>
    /// The SDK's default retries take ~25 s to give up on a service that is down, and two minutes on one that hangs:
    /// too long for an enqueue inside a web request. The guard bounds the whole call; the user's adjustments come last.
    /// </summary>
    private T Configure<T>(T clientOptions, StorageServiceGuard guard)
        where T : ClientOptions
    {
        clientOptions.Retry.Mode = RetryMode.Exponential;
        clientOptions.Retry.MaxRetries = 3;
        clientOptions.Retry.Delay = TimeSpan.FromMilliseconds(200);
        clientOptions.Retry.MaxDelay = TimeSpan.FromSeconds(2);
        guard.AddTo(clientOptions);
        options.ConfigureClient?.Invoke(clientOptions);
        return clientOptions;
    }

    private static bool Signed(Uri uri) => uri.Query.Contains("sig=", StringComparison.Ordinal);

    /// <summary>https://account.queue.core.windows.net → https://account.{service}.core.windows.net.</summary>
    private static Uri SiblingOf(Uri queueServiceUri, string service, string setting, string why, bool keepQuery)
    {
        var labels = queueServiceUri.Host.Split('.');
        if (labels.Length < 2 || labels[1] != "queue")
            throw new InvalidOperationException($"{why}, and the {service} endpoint of {queueServiceUri.GetLeftPart(UriPartial.Path)} cannot be guessed: set {setting}.");
        labels[1] = service;
        var sibling = new UriBuilder(queueServiceUri) { Host = string.Join(".", labels) };
        if (!keepQuery) sibling.Query = string.Empty;
        return sibling.Uri;
    }
}

/// <summary>The client of one account's queue service (encoding None: envelopes as base64 text, poison records as JSON), and its guard.</summary>
internal sealed record QueueAccount(QueueServiceClient Service, string Endpoint, StorageServiceGuard Guard);
