using System;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using Azure.Storage.Blobs;

namespace Tasks.Azure;

/// <summary>
/// One blob container of the transport (<c>{prefix}{name}</c>), made at first use: the client is created once, and the
/// container once (or not at all with <see cref="AzureQueueOptions.CreateQueues"/> false, saying what it is for).
/// </summary>
internal sealed class BlobContainer(AzureClients clients, string name, string keeps)
{
    private readonly Lazy<BlobContainerClient> client = new(() => clients.Blobs.GetBlobContainerClient(clients.Options.QueuePrefix + name), LazyThreadSafetyMode.ExecutionAndPublication);
    private volatile bool ready;

    public BlobContainerClient Client => client.Value;

    public BlobClient Blob(string blobName) => Client.GetBlobClient(blobName);

    /// <summary>Creates the container, if this process has not yet: after a write found it missing.</summary>
    public async Task CreateAsync(CancellationToken cancellationToken)
    {
        if (ready) return;
        if (!clients.Options.CreateQueues)
            throw new InvalidOperationException(
                $"{keeps} in the blob container '{Client.Name}', which does not exist, and AzureQueueOptions.CreateQueues is false: create it, or let the transport create it.");
        await Client.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        ready = true;
    }

    /// <summary>Every blob call ends in a <see cref="TaskTransportException"/> that says whether a retry may help, as every queue call does.</summary>
    public async Task<T> RunAsync<T>(CancellationToken cancellationToken, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not (TaskTransportException or ArgumentException or InvalidOperationException) && !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested) && AzureFaults.Classify(ex) is { } fault)
        {
            throw new TaskTransportException($"Azure Blob service at {AzureClients.EndpointOf(clients.Blobs.Uri)}: " + fault.Problem + (fault.Fix is null ? "" : $" {fault.Fix}"), fault.IsTransient, ex);
        }
    }

    public Task RunAsync(CancellationToken cancellationToken, Func<Task> call) => RunAsync(cancellationToken, async () =>
    {
        await call().ConfigureAwait(false);
        return true;
    });

    /// <summary>A time as blob metadata keeps it: round-trip text, UTC.</summary>
    public static string Text(DateTimeOffset time) => time.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);
}
