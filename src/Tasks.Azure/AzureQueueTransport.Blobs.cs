using System;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks.Azure;

/// <summary>Large envelopes and recurring schedules, in blobs of the same account: the transport hands them to its blob stores.</summary>
public sealed partial class AzureQueueTransport : ITaskPayloadStore, IScheduleStore
{
    /// <summary>The container of the payload blobs, after <see cref="AzureQueueOptions.QueuePrefix"/>.</summary>
    public const string PayloadContainer = "tasks-payloads";

    /// <summary>The container of the schedule blobs, after <see cref="AzureQueueOptions.QueuePrefix"/>.</summary>
    public const string ScheduleContainer = "tasks-schedules";

    /// <summary>A test's hook: called with "reading" once a payload's download has begun, so a worker can be killed mid-download.</summary>
    internal static Action<string>? PayloadPoint { get; set; }

    /// <inheritdoc />
    public int PayloadThresholdBytes => payloads.PayloadThresholdBytes;

    /// <inheritdoc />
    public int MaxEnvelopeBytes => payloads.MaxEnvelopeBytes;

    /// <inheritdoc />
    public ValueTask<string> UploadPayloadAsync(string queue, string messageId, ReadOnlyMemory<byte> envelope, DateTimeOffset keepUntil, CancellationToken cancellationToken)
        => payloads.UploadPayloadAsync(queue, messageId, envelope, keepUntil, cancellationToken);

    /// <inheritdoc />
    public ValueTask<long?> ReadPayloadAsync(string name, Memory<byte> destination, CancellationToken cancellationToken) => payloads.ReadPayloadAsync(name, destination, cancellationToken);

    /// <inheritdoc />
    public ValueTask DeletePayloadAsync(string name, CancellationToken cancellationToken) => payloads.DeletePayloadAsync(name, cancellationToken);

    /// <inheritdoc />
    public ValueTask<int> SweepPayloadsAsync(TimeSpan grace, CancellationToken cancellationToken) => payloads.SweepPayloadsAsync(grace, cancellationToken);

    /// <inheritdoc />
    public ValueTask<StoredScheduleState?> ReadScheduleAsync(string taskName, CancellationToken cancellationToken) => schedules.ReadScheduleAsync(taskName, cancellationToken);

    /// <inheritdoc />
    public ValueTask<string?> TryWriteScheduleAsync(string taskName, ScheduleState state, string? expectedVersion, CancellationToken cancellationToken)
        => schedules.TryWriteScheduleAsync(taskName, state, expectedVersion, cancellationToken);
}
