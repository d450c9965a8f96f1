using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace Tasks.Azure;

/// <summary>
/// Envelopes too large for a queue message, one blob each in the <c>{prefix}tasks-payloads</c> container,
/// named <c>{queue}/{message id}</c>. A blob's metadata says until when its message may still exist
/// (<c>keepuntil</c>) and whether a dead letter holds it (<c>deadlettered</c>), so the sweep knows, from the
/// blob alone, which it may delete.
/// </summary>
internal sealed class BlobPayloadStore(AzureClients clients, Func<string, string> queueName) : ITaskPayloadStore
{
    private const string KeepUntilKey = "keepuntil";
    private const string DeadLetteredKey = "deadlettered";

    // The blob whose lease makes one worker at a time the sweeper; its name sorts before every queue's.
    private const string SweepLockBlob = "~sweep-lock";
    private static readonly TimeSpan SweepLease = TimeSpan.FromSeconds(60);

    private readonly BlobContainer payloads = new(clients, AzureQueueTransport.PayloadContainer, "Envelopes larger than a queue message travel");

    /// <inheritdoc />
    public int PayloadThresholdBytes => clients.Options.PayloadThresholdBytes;

    /// <inheritdoc />
    public int MaxEnvelopeBytes => clients.Options.MaxEnvelopeBytes;

    /// <inheritdoc />
    /// <inheritdoc />
    public async ValueTask<string> UploadPayloadAsync(string queue, string messageId, ReadOnlyMemory<byte> envelope, DateTimeOffset keepUntil, CancellationToken cancellationToken)
    {
        if (envelope.Length > MaxEnvelopeBytes)
            throw new ArgumentException($"The envelope is {envelope.Length:N0} bytes; AzureQueueOptions.MaxEnvelopeBytes allows {MaxEnvelopeBytes:N0}.", nameof(envelope));
        return await payloads.RunAsync(cancellationToken, () => UploadUnguardedAsync(queue, messageId, envelope, keepUntil, cancellationToken)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<long?> ReadPayloadAsync(string name, Memory<byte> destination, CancellationToken cancellationToken)
        => await payloads.RunAsync(cancellationToken, () => ReadUnguardedAsync(name, destination, cancellationToken)).ConfigureAwait(false);

    /// <inheritdoc />
    public async ValueTask<int> SweepPayloadsAsync(TimeSpan grace, CancellationToken cancellationToken)
        => await payloads.RunAsync(cancellationToken, () => SweepUnguardedAsync(grace, cancellationToken)).ConfigureAwait(false);

    private async Task<string> UploadUnguardedAsync(string queue, string messageId, ReadOnlyMemory<byte> envelope, DateTimeOffset keepUntil, CancellationToken cancellationToken)
    {
        var name = $"{queueName(queue)}/{messageId}";
        var upload = new BlobUploadOptions { Metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [KeepUntilKey] = BlobContainer.Text(keepUntil) } };
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await PayloadBlob(name).UploadAsync(BinaryData.FromBytes(envelope), upload, cancellationToken).ConfigureAwait(false);
                return name;
            }
            catch (RequestFailedException ex) when (ex.ErrorCode == BlobErrorCode.ContainerNotFound && attempt == 0)
            {
                await payloads.CreateAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc />
    private async Task<long?> ReadUnguardedAsync(string name, Memory<byte> destination, CancellationToken cancellationToken)
    {
        BlobDownloadStreamingResult download;
        try
        {
            download = (await PayloadBlob(name).DownloadStreamingAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return null; // the blob, or its whole container, is gone
        }

        using (download)
        {
            var length = download.Details.ContentLength;
            var read = 0;
            AzureQueueTransport.PayloadPoint?.Invoke("reading");
            while (read < destination.Length && read < length)
            {
                var n = await download.Content.ReadAsync(destination[read..], cancellationToken).ConfigureAwait(false);
                if (n == 0) break;
                read += n;
            }

            return read < Math.Min(destination.Length, length) ? read : length; // a stream cut short is a payload of another length
        }
    }

    /// <inheritdoc />
    public async ValueTask DeletePayloadAsync(string name, CancellationToken cancellationToken)
        => await payloads.RunAsync(cancellationToken, async () => await PayloadBlob(name).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);

    /// <inheritdoc />
    private async Task<int> SweepUnguardedAsync(TimeSpan grace, CancellationToken cancellationToken)
    {
        var container = payloads.Client;
        var lockBlob = container.GetBlobClient(SweepLockBlob);
        var lease = lockBlob.GetBlobLeaseClient();
        try
        {
            await lockBlob.UploadAsync(BinaryData.Empty, new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } }, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412)
        {
            // There already: another worker made it, or this one on an earlier sweep.
        }
        catch (RequestFailedException ex) when (ex.ErrorCode == BlobErrorCode.ContainerNotFound)
        {
            return 0; // no payload was ever stored
        }

        try
        {
            await lease.AcquireAsync(SweepLease, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            return 0; // another worker sweeps now
        }

        var deleted = 0;
        try
        {
            var now = clients.Time.GetUtcNow();
            await foreach (var blob in container.GetBlobsAsync(new GetBlobsOptions { Traits = BlobTraits.Metadata }, cancellationToken).ConfigureAwait(false))
            {
                if (blob.Metadata.ContainsKey(DeadLetteredKey) || !blob.Metadata.TryGetValue(KeepUntilKey, out var text)) continue; // held by a dead letter, or the lock itself
                if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var keepUntil) || keepUntil == DateTimeOffset.MaxValue || keepUntil + grace > now) continue;
                if ((await container.DeleteBlobIfExistsAsync(blob.Name, cancellationToken: cancellationToken).ConfigureAwait(false)).Value) deleted++;
            }
        }
        finally
        {
            await lease.ReleaseAsync(cancellationToken: CancellationToken.None).ConfigureAwait(false);
        }

        return deleted;
    }

    /// <summary>A dead letter's payload stays until the dead letter is purged: the sweep leaves it.</summary>
    public Task KeepAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken) => payloads.RunAsync(cancellationToken, () => KeepUnguardedAsync(body, cancellationToken));

    private async Task<bool> KeepUnguardedAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        if (TaskPayloads.NameOf(body) is not { } name) return false;
        var blob = PayloadBlob(name);
        try
        {
            var properties = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value;
            var metadata = new Dictionary<string, string>(properties.Metadata, StringComparer.Ordinal) { [DeadLetteredKey] = "1" };
            await blob.SetMetadataAsync(metadata, new BlobRequestConditions { IfMatch = properties.ETag }, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // Gone already: the dead letter's reason says so.
        }

        return true;
    }

    /// <summary>A purged dead letter takes its payload with it.</summary>
    public async Task ForgetAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        if (TaskPayloads.NameOf(body) is { } name)
            await payloads.RunAsync(cancellationToken, async () => await PayloadBlob(name).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
    }

    private BlobClient PayloadBlob(string name) => payloads.Blob(name);


}
