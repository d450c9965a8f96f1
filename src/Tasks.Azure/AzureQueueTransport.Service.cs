using System;
using System.Threading;
using System.Threading.Tasks;
using Azure.Core;
using Azure.Identity;
using Azure.Storage.Queues;

namespace Tasks.Azure;

/// <summary>The SDK clients: how they are made, retried, and how their failures are told apart.</summary>
public sealed partial class AzureQueueTransport
{
    /// <summary>
    /// Runs one call to the service; a failure becomes a <see cref="TaskTransportException"/> that says whether a retry
    /// may help, and names the queue as the account knows it (prefix and all, as an operator finds it), or none for a call on the account.
    /// Only the caller's own cancellation passes through as it is: a deadline that ends as the caller's token fires is still a fault.
    /// </summary>
    private async Task<T> Guard<T>(string? azureQueue, CancellationToken cancellationToken, Func<Task<T>> call, string? endpoint = null)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested) && AzureFaults.Classify(ex) is { } fault)
        {
            throw new TaskTransportException(
                (azureQueue is null ? $"Azure Queue service at {endpoint ?? Endpoint}: " : $"Azure queue '{azureQueue}' at {endpoint ?? Endpoint}: ") + fault.Problem + (fault.Fix is null ? "" : $" {fault.Fix}"),
                fault.IsTransient,
                ex);
        }
    }

    /// <summary>Whole seconds, at least <paramref name="delay"/> after any instant of the current second.</summary>
    private static TimeSpan AtLeast(TimeSpan delay)
        => delay <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Ceiling(delay.TotalSeconds)) + LeaseRounding;

    private StorageServiceGuard QueueGuard() => new("Azure Queue service", options.RequestTimeout, options.ProbeInterval, time);

    private static QueueServiceClient CreateServiceClient(AzureQueueOptions options, QueueClientOptions clientOptions, StorageServiceGuard guard)
        => CreateServiceClient(options.ConnectionString, options.ServiceUri, options, clientOptions, "AzureQueueOptions.ConnectionString", guard);

    /// <summary>A client of a shard account: a connection string, or a queue service URI (signed with a SAS, or with the options' credential).</summary>
    private static QueueServiceClient CreateShardServiceClient(string account, int index, AzureQueueOptions options, QueueClientOptions clientOptions, StorageServiceGuard guard)
        => Uri.TryCreate(account, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http"
            ? CreateServiceClient(null, uri, options, clientOptions, null, guard)
            : CreateServiceClient(account, null, options, clientOptions, $"AzureQueueOptions.ShardAccounts[{index}]", guard);

    private static QueueServiceClient CreateServiceClient(string? connectionString, Uri? serviceUri, AzureQueueOptions options, QueueClientOptions clientOptions, string? setting, StorageServiceGuard guard)
    {
        // The SDK's default retries take ~25 s to give up on a service that is down, and two minutes on one that
        // hangs: too long for an enqueue inside a web request. The guard bounds the whole call (RequestTimeout).
        clientOptions.Retry.Mode = RetryMode.Exponential;
        clientOptions.Retry.MaxRetries = 3;
        clientOptions.Retry.Delay = TimeSpan.FromMilliseconds(200);
        clientOptions.Retry.MaxDelay = TimeSpan.FromSeconds(2);
        guard.AddTo(clientOptions);
        options.ConfigureClient?.Invoke(clientOptions);
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
        return uri.Query.Contains("sig=", StringComparison.Ordinal)
            ? new QueueServiceClient(uri, clientOptions)
            : new QueueServiceClient(uri, options.Credential ?? new DefaultAzureCredential(), clientOptions);
    }
}
