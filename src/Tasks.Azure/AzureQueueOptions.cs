using System;
using Azure.Core;
using Azure.Storage.Queues;

namespace Tasks.Azure;

/// <summary>
/// Where the Azure queues are and how to reach them. Set exactly one of
/// <see cref="ConnectionString"/> or <see cref="ServiceUri"/>. Bindable from configuration
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

    /// <summary>The identity to use with <see cref="ServiceUri"/> (Azure.Identity: managed identity, workload identity, ...).</summary>
    public TokenCredential? Credential { get; set; }

    /// <summary>Put before every queue name, e.g. <c>staging-</c>, so environments can share an account. Default: none.</summary>
    public string? QueuePrefix { get; set; }

    /// <summary>Create a queue (and its <c>-poison</c> queue) the first time it is used. Default: true.</summary>
    public bool CreateQueues { get; set; } = true;

    /// <summary>
    /// Adjusts the Azure SDK's client options (retries, network timeout, diagnostics) after the
    /// transport's defaults: 3 retries from 200 ms, at most 2 s apart, so a call to a service that is
    /// down fails within seconds, and a 30 s network timeout.
    /// </summary>
    public Action<QueueClientOptions>? ConfigureClient { get; set; }

    /// <summary>
    /// Envelopes larger than this travel in a blob of the <c>{prefix}tasks-payloads</c> container, their
    /// message carrying a reference (a claim check); at most <see cref="AzureQueueTransport.MaxInlineEnvelopeBytes"/>,
    /// what a message holds. Lower it to keep queue messages small. Default: 49,152 bytes.
    /// </summary>
    public int PayloadThresholdBytes { get; set; } = AzureQueueTransport.MaxInlineEnvelopeBytes;

    /// <summary>The largest envelope <c>Enqueue</c> accepts at all, through a blob; larger fails with its size and this limit. Default: 64 MiB.</summary>
    public int MaxEnvelopeBytes { get; set; } = 64 * 1024 * 1024;

    internal void Validate()
    {
        if (PayloadThresholdBytes is < 1_024 or > AzureQueueTransport.MaxInlineEnvelopeBytes)
            throw new InvalidOperationException($"AzureQueueOptions.PayloadThresholdBytes is {PayloadThresholdBytes:N0}; it must be between 1,024 and {AzureQueueTransport.MaxInlineEnvelopeBytes:N0} (what a queue message holds).");
        if (MaxEnvelopeBytes < PayloadThresholdBytes || MaxEnvelopeBytes > 1024 * 1024 * 1024)
            throw new InvalidOperationException($"AzureQueueOptions.MaxEnvelopeBytes is {MaxEnvelopeBytes:N0}; it must be at least PayloadThresholdBytes ({PayloadThresholdBytes:N0}) and at most 1 GiB (a payload is held in memory while its task runs).");
        if (string.IsNullOrWhiteSpace(ConnectionString) == (ServiceUri is null))
            throw new InvalidOperationException(
                "Azure queues need exactly one of AzureQueueOptions.ConnectionString or AzureQueueOptions.ServiceUri" +
                (ServiceUri is null ? ", and neither is set" : ", and both are set") + ". From configuration, set the ConnectionString or ServiceUri key " +
                "of the section passed to UseAzureQueues: e.g. \"Tasks\": { \"Azure\": { \"ConnectionString\": \"UseDevelopmentStorage=true\" } } in appsettings.json, " +
                "or the environment variable Tasks__Azure__ConnectionString.");
        if (ServiceUri is not null && !ServiceUri.IsAbsoluteUri)
            throw new InvalidOperationException("AzureQueueOptions.ServiceUri must be an absolute URI such as https://account.queue.core.windows.net.");
    }
}
