namespace Tasks.Azure.Tests;

/// <summary>Passes every call to another transport; tests override the calls they want to disturb.</summary>
internal abstract class DelegatingTransport(ITaskTransport inner) : ITaskTransport
{
    public int MaxMessageBytes => inner.MaxMessageBytes;

    public ValueTask SendAsync(string queue, OutgoingTaskMessage message, CancellationToken cancellationToken) => inner.SendAsync(queue, message, cancellationToken);

    public virtual ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
        => inner.ReceiveAsync(queue, maxMessages, leaseDuration, cancellationToken);

    public ValueTask RenewLeaseAsync(ReceivedTaskMessage message, TimeSpan leaseDuration, CancellationToken cancellationToken) => inner.RenewLeaseAsync(message, leaseDuration, cancellationToken);

    public ValueTask CompleteAsync(ReceivedTaskMessage message, CancellationToken cancellationToken) => inner.CompleteAsync(message, cancellationToken);

    public ValueTask ReleaseAsync(ReceivedTaskMessage message, TimeSpan delay, CancellationToken cancellationToken) => inner.ReleaseAsync(message, delay, cancellationToken);

    public ValueTask DeadLetterAsync(ReceivedTaskMessage message, DeadLetterDetails reason, CancellationToken cancellationToken) => inner.DeadLetterAsync(message, reason, cancellationToken);
    public ValueTask AddDeadLetterAsync(string queue, string messageId, ReadOnlyMemory<byte> body, DeadLetterDetails reason, CancellationToken cancellationToken) => inner.AddDeadLetterAsync(queue, messageId, body, reason, cancellationToken);
}
