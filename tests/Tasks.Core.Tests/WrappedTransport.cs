namespace Tasks.Core.Tests;

/// <summary>An in-memory transport and its payload store, passed through, for a test to change one call of (usually the send).</summary>
internal class WrappedTransport(InMemoryTransport inner) : ITaskTransport, ITaskPayloadStore
{
    public int MaxMessageBytes => inner.MaxMessageBytes;
    public int PayloadThresholdBytes => inner.PayloadThresholdBytes;
    public int MaxEnvelopeBytes => inner.MaxEnvelopeBytes;
    public virtual ValueTask SendAsync(string queue, OutgoingTaskMessage message, CancellationToken cancellationToken) => inner.SendAsync(queue, message, cancellationToken);
    public virtual ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken) => inner.ReceiveAsync(queue, maxMessages, leaseDuration, cancellationToken);
    public virtual ValueTask RenewLeaseAsync(ReceivedTaskMessage message, TimeSpan leaseDuration, CancellationToken cancellationToken) => inner.RenewLeaseAsync(message, leaseDuration, cancellationToken);
    public virtual ValueTask CompleteAsync(ReceivedTaskMessage message, CancellationToken cancellationToken) => inner.CompleteAsync(message, cancellationToken);
    public virtual ValueTask ReleaseAsync(ReceivedTaskMessage message, TimeSpan delay, CancellationToken cancellationToken) => inner.ReleaseAsync(message, delay, cancellationToken);
    public virtual ValueTask DeadLetterAsync(ReceivedTaskMessage message, DeadLetterDetails reason, CancellationToken cancellationToken) => inner.DeadLetterAsync(message, reason, cancellationToken);
    public ValueTask AddDeadLetterAsync(string queue, string messageId, ReadOnlyMemory<byte> body, DeadLetterDetails reason, CancellationToken cancellationToken) => inner.AddDeadLetterAsync(queue, messageId, body, reason, cancellationToken);
    public ValueTask<string> UploadPayloadAsync(string queue, string messageId, ReadOnlyMemory<byte> envelope, DateTimeOffset keepUntil, CancellationToken cancellationToken) => inner.UploadPayloadAsync(queue, messageId, envelope, keepUntil, cancellationToken);
    public ValueTask<long?> ReadPayloadAsync(string name, Memory<byte> destination, CancellationToken cancellationToken) => inner.ReadPayloadAsync(name, destination, cancellationToken);
    public ValueTask DeletePayloadAsync(string name, CancellationToken cancellationToken) => inner.DeletePayloadAsync(name, cancellationToken);
    public ValueTask<int> SweepPayloadsAsync(TimeSpan grace, CancellationToken cancellationToken) => inner.SweepPayloadsAsync(grace, cancellationToken);
}
