using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Tasks.Azure;

/// <summary>
/// The schedules of recurring tasks, one empty blob per task in the <c>{prefix}tasks-schedules</c>
/// container of the same account. The state is in the blob's metadata, readable in any storage
/// explorer, and every write names the ETag it read (or <c>If-None-Match: *</c> for the first), so of
/// the workers that see an occurrence fall due, exactly one claims it.
/// </summary>
internal sealed class BlobScheduleStore(AzureClients clients) : IScheduleStore
{
    private const string LastKey = "lastoccurrence";
    private const string PendingKey = "pending";
    private const string PendingSinceKey = "pendingsince";

    private readonly BlobContainer schedules = new(clients, AzureQueueTransport.ScheduleContainer, "Recurring tasks keep their schedules");

    /// <inheritdoc />
    public async ValueTask<StoredScheduleState?> ReadScheduleAsync(string taskName, CancellationToken cancellationToken)
        => await schedules.RunAsync(cancellationToken, () => ReadAsync(taskName, cancellationToken)).ConfigureAwait(false);

    /// <inheritdoc />
    public async ValueTask<string?> TryWriteScheduleAsync(string taskName, ScheduleState state, string? expectedVersion, CancellationToken cancellationToken)
        => await schedules.RunAsync(cancellationToken, () => TryWriteAsync(taskName, state, expectedVersion, cancellationToken)).ConfigureAwait(false);

    private async Task<StoredScheduleState?> ReadAsync(string taskName, CancellationToken cancellationToken)
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

    private async Task<string?> TryWriteAsync(string taskName, ScheduleState state, string? expectedVersion, CancellationToken cancellationToken)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [LastKey] = BlobContainer.Text(state.LastOccurrence) };
        if (state.Pending is { } pending) metadata[PendingKey] = BlobContainer.Text(pending);
        if (state.PendingSince is { } since) metadata[PendingSinceKey] = BlobContainer.Text(since);
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
                await schedules.CreateAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private BlobClient ScheduleBlob(string taskName) => schedules.Blob(taskName);


    private static DateTimeOffset Time(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    private static DateTimeOffset? OptionalTime(IDictionary<string, string> metadata, string key) => metadata.TryGetValue(key, out var text) ? Time(text) : null;
}
