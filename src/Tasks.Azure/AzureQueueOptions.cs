using System;
using System.Collections.Generic;
using System.Linq;
using Azure.Core;

namespace Tasks.Azure;

/// <summary>
/// Where the Azure queues are and how to reach them. Set exactly one of
/// <see cref="ConnectionString"/>, <see cref="ServiceUri"/> or <see cref="ClientName"/>. Bindable from configuration
/// (<c>"Tasks:Azure": { "ConnectionString": "...", "QueuePrefix": "prod-" }</c>).
/// </summary>
public sealed class AzureQueueOptions
{
    /// <summary>A storage connection string, including <c>UseDevelopmentStorage=true</c> for a local Azurite.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// The queue service URI (<c>https://account.queue.core.windows.net</c>). With a SAS token in its
    /// query it is used as is; otherwise with <see cref="Credential"/>, or <c>DefaultAzureCredential</c> if that is null.
    /// </summary>
    public Uri? ServiceUri { get; set; }

    /// <summary>
    /// The blob service URI, where recurring tasks keep their schedules (one small blob per task). Only
    /// needed with <see cref="ServiceUri"/>, and only if it cannot be guessed from it
    /// (<c>https://account.queue.core.windows.net</c> → <c>https://account.blob.core.windows.net</c>);
    /// a connection string names both. The identity needs 'Storage Blob Data Contributor' for it.
    /// </summary>
    public Uri? BlobServiceUri { get; set; }

    /// <summary>
    /// The table service URI, where task records are kept. Only needed with <see cref="ServiceUri"/>, and
    /// only if it cannot be guessed from it (<c>queue</c> → <c>table</c>); a connection string names it.
    /// The identity needs 'Storage Table Data Contributor' for it.
    /// </summary>
    public Uri? TableServiceUri { get; set; }

    /// <summary>
    /// The name of the clients registered with <c>services.AddAzureClients(...)</c> (Microsoft.Extensions.Azure) to use:
    /// <c>Default</c> for ones registered without <c>WithName</c>, which <c>UseAzureQueues()</c> sets. The queue client is
    /// needed, the table client with task records on, the blob client for large arguments and recurring tasks. Those
    /// clients keep their credential, retries and transport, and get Tasks' deadline and circuit
    /// (<see cref="RequestTimeout"/>, <see cref="PayloadTimeout"/>, <see cref="ProbeInterval"/>): if other code shares them
    /// and must not be bounded so, register clients of Tasks' own with <c>.WithName("tasks")</c>. The queue client must
    /// not set <c>MessageEncoding</c>: Tasks base64-encodes its messages itself. See docs/operations.md.
    /// </summary>
    public string? ClientName { get; set; }

    /// <summary>The identity to use with <see cref="ServiceUri"/> (Azure.Identity: managed identity, workload identity, ...).</summary>
    public TokenCredential? Credential { get; set; }

    /// <summary>Put before every queue name, e.g. <c>staging-</c>, so environments can share an account. Default: none.</summary>
    public string? QueuePrefix { get; set; }

    /// <summary>Create a queue (and its <c>-poison</c> queue) the first time it is used. Default: true.</summary>
    public bool CreateQueues { get; set; } = true;

    /// <summary>
    /// Adjusts the Azure SDK's client options (retries, transport, diagnostics, policies) of every client, queue, blob and
    /// table alike (a <c>QueueClientOptions</c>, <c>BlobClientOptions</c> or <c>TableClientOptions</c>: test the type for
    /// what only one has), after the defaults: 3 retries from 200 ms, at most 2 s apart, within the deadline of
    /// <see cref="RequestTimeout"/> (<see cref="PayloadTimeout"/> for blobs).
    /// </summary>
    public Action<ClientOptions>? ConfigureClient { get; set; }

    /// <summary>
    /// Envelopes larger than this travel in a blob of the <c>{prefix}tasks-payloads</c> container, their
    /// message carrying a reference (a claim check); at most <see cref="AzureQueueTransport.MaxInlineEnvelopeBytes"/>,
    /// what a message holds. Lower it to keep queue messages small. Default: 49,152 bytes.
    /// </summary>
    public int PayloadThresholdBytes { get; set; } = AzureQueueTransport.MaxInlineEnvelopeBytes;

    /// <summary>The largest envelope <c>Enqueue</c> accepts at all, through a blob; larger fails with its size and this limit. Default: 64 MiB.</summary>
    public int MaxEnvelopeBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>The most shards a queue takes: 100 queues at 2,000 messages a second each are ten accounts' worth.</summary>
    public const int MaxShards = 100;

    /// <summary>
    /// Task queues spread over several Azure queues (shards), by task queue name: <c>"Shards": { "orders": 4 }</c>
    /// writes <c>orders</c>, <c>orders-1</c>, <c>orders-2</c> and <c>orders-3</c> in turn, and a worker receives from each
    /// on its own. One Azure queue takes about 2,000 messages a second; see docs/scale.md. A worker also drains
    /// <c>orders-N</c> queues beyond the count (left by a larger count before), so the count can change while
    /// tasks wait; set it to 1, not remove it, until those are empty. Default: none.
    /// </summary>
    public Dictionary<string, int> Shards { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// More storage accounts for shards, beside the main one (connection strings, or queue service URIs used with
    /// <see cref="Credential"/>): shard <c>k</c> lives in account <c>k % (1 + count)</c>, the main account being 0.
    /// Records, dead letters, schedules and payloads stay in the main account. Default: none.
    /// </summary>
    public List<string> ShardAccounts { get; set; } = [];

    /// <summary>
    /// How long a send to one shard may take before it goes to the next shard (as does one that fails and may
    /// pass), so an account that stops answering holds up no enqueue for minutes; that shard is tried last for
    /// twice this. When sends are slow everywhere (4 × the typical answered send is longer), that is the bound
    /// instead: sending again elsewhere would only add load and a duplicate. When every shard fails so, a last try waits as long as the SDK does, as does a send with a
    /// <c>ShardKey</c> (it has one shard only). Receives and
    /// deletes are not cut short (a receive given up while the service serves it would hide its messages and
    /// count an attempt): a worker's loop for a silent shard holds its share of the slots only. Used only for
    /// sharded queues. Default: 5 s.
    /// </summary>
    public TimeSpan ShardTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How often a worker looks for shards left by an earlier count (one listing per account); an account that
    /// did not answer is listed again after 2 × <see cref="ShardTimeout"/>. Default: 1 min.
    /// </summary>
    public TimeSpan ShardRefreshInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The longest one call to the queue or table service may take, the SDK's retries included, before it fails
    /// with a <see cref="TaskTransportException"/> (transient): an <c>Enqueue</c> inside a web request answers within
    /// about this much when the service hangs. A call that finds the service silent makes later calls fail at once
    /// (see <see cref="ProbeInterval"/>). Shorter fails sooner on a hung service and more often on a slow one; a send given
    /// up may still be applied when the service wakes (docs/reliability.md). Default: 5 s.
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The longest one call to the blob service may take (payloads of large arguments, schedules of recurring tasks):
    /// a payload of many megabytes needs longer than a queue message. Default: 30 s.
    /// </summary>
    public TimeSpan PayloadTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// While a service is silent (a call got no answer within its timeout, or no connection), calls to it fail at
    /// once, and one call this often goes through to see whether it is back; its answer makes every call go through
    /// again. So a hung service holds up the first callers one timeout each and later callers not at all. Default: 2 s.
    /// </summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(2);

    internal void Validate()
    {
        if (RequestTimeout <= TimeSpan.Zero || PayloadTimeout <= TimeSpan.Zero || ProbeInterval <= TimeSpan.Zero)
            throw new InvalidOperationException("AzureQueueOptions.RequestTimeout, PayloadTimeout and ProbeInterval must be positive.");
        foreach (var (queue, count) in Shards)
        {
            if (count is < 1 or > MaxShards)
                throw new InvalidOperationException($"AzureQueueOptions.Shards[\"{queue}\"] is {count}; a queue takes 1 to {MaxShards} shards.");
        }

        if (ShardAccounts.Any(string.IsNullOrWhiteSpace))
            throw new InvalidOperationException("AzureQueueOptions.ShardAccounts holds an empty entry; each is a storage connection string or a queue service URI.");
        if (ShardTimeout <= TimeSpan.Zero || ShardRefreshInterval <= TimeSpan.Zero)
            throw new InvalidOperationException("AzureQueueOptions.ShardTimeout and ShardRefreshInterval must be positive.");
        if (PayloadThresholdBytes is < 1_024 or > AzureQueueTransport.MaxInlineEnvelopeBytes)
            throw new InvalidOperationException($"AzureQueueOptions.PayloadThresholdBytes is {PayloadThresholdBytes:N0}; it must be between 1,024 and {AzureQueueTransport.MaxInlineEnvelopeBytes:N0} (what a queue message holds).");
        if (MaxEnvelopeBytes < PayloadThresholdBytes || MaxEnvelopeBytes > 1024 * 1024 * 1024)
            throw new InvalidOperationException($"AzureQueueOptions.MaxEnvelopeBytes is {MaxEnvelopeBytes:N0}; it must be at least PayloadThresholdBytes ({PayloadThresholdBytes:N0}) and at most 1 GiB (a payload is held in memory while its task runs).");
        string[] set = [.. new[] { (nameof(ConnectionString), !string.IsNullOrWhiteSpace(ConnectionString)), (nameof(ServiceUri), ServiceUri is not null), (nameof(ClientName), !string.IsNullOrWhiteSpace(ClientName)) }
            .Where(s => s.Item2).Select(s => s.Item1)];
        if (set.Length != 1)
            throw new InvalidOperationException(
                "Azure queues need exactly one of AzureQueueOptions.ConnectionString, ServiceUri or ClientName" +
                // Two set is often one from appsettings.json and one from the environment (Tasks__Azure__ConnectionString): name them.
                (set.Length == 0 ? ", and none is set" : $", and {string.Join(" and ", set)} are set (from code, appsettings.json or the environment, e.g. Tasks__Azure__{set[0]}): keep one") +
                ". From configuration, set the ConnectionString, ServiceUri or ClientName key " +
                "of the section passed to UseAzureQueues: e.g. \"Tasks\": { \"Azure\": { \"ConnectionString\": \"UseDevelopmentStorage=true\" } } in appsettings.json, " +
                "or the environment variable Tasks__Azure__ConnectionString; or call UseAzureQueues() to use the clients registered with services.AddAzureClients(...).");
        if (ServiceUri is not null && !ServiceUri.IsAbsoluteUri)
            throw new InvalidOperationException("AzureQueueOptions.ServiceUri must be an absolute URI such as https://account.queue.core.windows.net.");
    }
}
