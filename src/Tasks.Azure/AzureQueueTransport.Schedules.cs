using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Tasks.Azure;

/// <summary>
/// The schedules of recurring tasks, one empty blob per task in the <c>{prefix}tasks-schedules</c>
/// container of the same account. The state is in the blob's metadata, readable in any storage
/// explorer, and every write names the ETag it read (or <c>If-None-Match: *</c> for the first), so of
/// the workers that see an occurrence fall due, exactly one claims it.
/// </summary>
public sealed partial class AzureQueueTransport : IScheduleStore
{
    /// <summary>The container of the schedule blobs, after <see cref="AzureQueueOptions.QueuePrefix"/>.</summary>
    public const string ScheduleContainer = "tasks-schedules";

    private const string LastKey = "lastoccurrence";
    private const string PendingKey = "pending";
    private const string PendingSinceKey = "pendingsince";

    private readonly Lazy<BlobContainerClient> schedules;
    private volatile bool scheduleContainerReady;

    /// <inheritdoc />
    public async ValueTask<StoredScheduleState?> ReadScheduleAsync(string taskName, CancellationToken cancellationToken)
    {
        try
        {
            var properties = (await ScheduleBlob(taskName).GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value;
            var metadata = properties.Metadata;
            return new StoredScheduleState(
                new ScheduleState(Time(metadata[LastKey]), OptionalTime(metadata, PendingKey), OptionalTime(metadata, PendingSinceKey)),
                properties.ETag.ToString());
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return null; // no blob, or no container yet: no worker has kept this schedule
        }
    }

    /// <inheritdoc />
    public async ValueTask<string?> TryWriteScheduleAsync(string taskName, ScheduleState state, string? expectedVersion, CancellationToken cancellationToken)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [LastKey] = Text(state.LastOccurrence) };
        if (state.Pending is { } pending) metadata[PendingKey] = Text(pending);
        if (state.PendingSince is { } since) metadata[PendingSinceKey] = Text(since);
        var upload = new BlobUploadOptions
        {
            Metadata = metadata,
            Conditions = expectedVersion is null ? new BlobRequestConditions { IfNoneMatch = ETag.All } : new BlobRequestConditions { IfMatch = new ETag(expectedVersion) },
        };

        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var written = await ScheduleBlob(taskName).UploadAsync(BinaryData.Empty, upload, cancellationToken).ConfigureAwait(false);
                return written.Value.ETag.ToString();
            }
            catch (RequestFailedException ex) when (ex.Status is 409 or 412 && ex.ErrorCode != BlobErrorCode.ContainerBeingDeleted)
            {
                return null; // another worker wrote first
            }
            catch (RequestFailedException ex) when (ex.ErrorCode == BlobErrorCode.ContainerNotFound && attempt == 0)
            {
                await CreateScheduleContainerAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private BlobClient ScheduleBlob(string taskName)
    {
        return schedules.Value.GetBlobClient(taskName);
    }

    private async Task CreateScheduleContainerAsync(CancellationToken cancellationToken)
    {
        if (scheduleContainerReady) return;
        if (!options.CreateQueues)
            throw new InvalidOperationException(
                $"Recurring tasks keep their schedules in the blob container '{schedules.Value.Name}', which does not exist, and " +
                "AzureQueueOptions.CreateQueues is false: create it, or let the transport create it.");
        await schedules.Value.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        scheduleContainerReady = true;
    }

    /// <summary>The one blob client of payloads and schedules, with its own guard (<see cref="AzureQueueOptions.PayloadTimeout"/>).</summary>
    private static BlobServiceClient CreateBlobServiceClient(AzureQueueOptions options, TimeProvider time)
    {
        var clientOptions = new BlobClientOptions();
        clientOptions.Retry.MaxRetries = 3;
        clientOptions.Retry.Delay = TimeSpan.FromMilliseconds(200);
        clientOptions.Retry.MaxDelay = TimeSpan.FromSeconds(2);
        var guard = new StorageServiceGuard("Azure Blob service", options.PayloadTimeout, options.ProbeInterval, time);
        guard.AddTo(clientOptions);
        var client = CreateBlobServiceClient(options, clientOptions);
        (guard.Service, guard.Probe) = ($"Azure Blob service at {new UriBuilder(client.Uri) { Query = string.Empty }.Uri.ToString().TrimEnd('/')}", client.GetPropertiesAsync);
        return client;
    }

    private static BlobServiceClient CreateBlobServiceClient(AzureQueueOptions options, BlobClientOptions clientOptions)
    {
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            try
            {
                return new BlobServiceClient(options.ConnectionString, clientOptions);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or InvalidOperationException)
            {
                throw new InvalidOperationException(
                    "Recurring tasks keep their schedules in blob storage, and AzureQueueOptions.ConnectionString names no blob endpoint: " +
                    "use the account's full connection string, or add BlobEndpoint=... to it.");
            }
        }

        var uri = options.BlobServiceUri ?? BlobUriOf(options.ServiceUri!);
        return uri.Query.Contains("sig=", StringComparison.Ordinal)
            ? new BlobServiceClient(uri, clientOptions)
            : new BlobServiceClient(uri, options.Credential ?? new DefaultAzureCredential(), clientOptions);
    }

    /// <summary>https://account.queue.core.windows.net → https://account.blob.core.windows.net, with the same query (a SAS).</summary>
    private static Uri BlobUriOf(Uri queueServiceUri)
    {
        var labels = queueServiceUri.Host.Split('.');
        if (labels.Length < 2 || labels[1] != "queue")
            throw new InvalidOperationException(
                $"Recurring tasks keep their schedules in blob storage, and the blob endpoint of {queueServiceUri.GetLeftPart(UriPartial.Path)} cannot be guessed: " +
                "set AzureQueueOptions.BlobServiceUri.");
        labels[1] = "blob";
        return new UriBuilder(queueServiceUri) { Host = string.Join(".", labels) }.Uri;
    }

    private static string Text(DateTimeOffset time) => time.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset Time(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    private static DateTimeOffset? OptionalTime(IDictionary<string, string> metadata, string key) => metadata.TryGetValue(key, out var text) ? Time(text) : null;
}
