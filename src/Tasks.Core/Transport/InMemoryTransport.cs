using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// A transport inside one process, for development, tests and single-process apps. It keeps the
/// semantics of a real queue — delays, leases that expire, attempt counts, a dead-letter list and
/// the same message size limit as Azure — so code that works here works there. Nothing survives
/// the process.
/// </summary>
public sealed partial class InMemoryTransport : ITaskTransport, IMessageArrivalNotifier
{
    /// <summary>The size limit of an Azure Storage queue message after base64, so both transports fail alike.</summary>
    public const int DefaultMaxMessageBytes = 49_152;

    private readonly object gate = new();
    private readonly Dictionary<string, InMemoryQueue> queues = new(StringComparer.Ordinal);
    private readonly List<DeadLetteredMessage> deadLetters = new();
    private readonly InMemoryPayloads payloads = new();
    private readonly TimeProvider time;
    private long instances;

    /// <summary>Creates an empty transport.</summary>
    public InMemoryTransport(TimeProvider? timeProvider = null, int maxMessageBytes = DefaultMaxMessageBytes)
    {
        time = timeProvider ?? TimeProvider.System;
        MaxMessageBytes = maxMessageBytes;
    }

    /// <inheritdoc />
    public int MaxMessageBytes { get; }

    /// <summary>The messages dead-lettered so far, oldest first.</summary>
    public IReadOnlyList<DeadLetteredMessage> DeadLetters
    {
        get { lock (gate) return deadLetters.ToArray(); }
    }

    /// <summary>Snapshots the messages still in <paramref name="queue"/>, visible or not.</summary>
    public IReadOnlyList<QueuedMessageInfo> Peek(string queue)
    {
        lock (gate)
        {
            return queues.TryGetValue(queue, out var state)
                ? state.Live.Values.Select(e => new QueuedMessageInfo(e.Id, e.VisibleAt, e.DequeueCount, e.Body)).OrderBy(m => m.VisibleAt).ToArray()
                : Array.Empty<QueuedMessageInfo>();
        }
    }

    /// <summary>Puts raw bytes on a queue as they are: for tests of what a worker does with a bad message.</summary>
    internal void SendRaw(string queue, ReadOnlyMemory<byte> body, string? messageId = null)
        => Send(queue, new OutgoingTaskMessage(messageId ?? Guid.NewGuid().ToString("N"), body, TimeSpan.Zero, null));

    /// <inheritdoc />
    public ValueTask SendAsync(string queue, OutgoingTaskMessage message, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (message.Body.Length > MaxMessageBytes)
            throw new ArgumentException($"The message is {message.Body.Length} bytes; this transport carries at most {MaxMessageBytes}.", nameof(message));
        Send(queue, message);
        return default;
    }

    private void Send(string queue, OutgoingTaskMessage message)
    {
        var now = time.GetUtcNow();
        lock (gate)
        {
            var state = GetQueue(queue);

            // The transport's id is the sender's, made unique: the same envelope may be sent twice
            // (a producer's retry, a dead letter requeued while a copy still waits), as on a real queue.
            var id = message.MessageId;
            for (var copy = 2; state.Live.ContainsKey(id); copy++) id = $"{message.MessageId}#{copy}";
            var entry = new InMemoryEntry(id, message.Body.ToArray(), message.TimeToLive is { } ttl ? now + ttl : DateTimeOffset.MaxValue)
            {
                VisibleAt = now + message.Delay,
                Instance = ++instances,
            };
            state.Live.Add(entry.Id, entry);
            state.Schedule(entry);
            if (message.Delay <= TimeSpan.Zero) state.Notify();
        }
    }

    /// <summary>The (entry, lease) pairs the schedule of <paramref name="queue"/> holds, stale ones included (for tests).</summary>
    internal int ScheduledCount(string queue)
    {
        lock (gate) return queues.TryGetValue(queue, out var state) ? state.ScheduledCount : 0;
    }

    /// <inheritdoc />
    public Task WaitForMessageAsync(string queue, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var state = GetQueue(queue);
            return state.HasVisible(time.GetUtcNow()) ? Task.CompletedTask : state.Waiter().WaitAsync(cancellationToken);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(string queue, int maxMessages, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = time.GetUtcNow();
        InMemoryReceived? first = null; // a receive of one, the usual case with a worker's slots full, allocates a one-item array, no list
        List<ReceivedTaskMessage>? batch = null;
        lock (gate)
        {
            if (queues.TryGetValue(queue, out var state))
            {
                while ((batch?.Count ?? (first is null ? 0 : 1)) < maxMessages && state.TryTakeVisible(now, out var entry))
                {
                    if (entry.ExpiresAt <= now)
                    {
                        state.Live.Remove(entry.Id);
                        continue;
                    }

                    entry.DequeueCount++;
                    var received = new InMemoryReceived(queue, entry, state.Reschedule(entry, now + leaseDuration));
                    if (first is null) first = received;
                    else (batch ??= new List<ReceivedTaskMessage>(Math.Min(maxMessages, 32)) { first }).Add(received);
                }
            }
        }

        IReadOnlyList<ReceivedTaskMessage> taken = batch is not null ? batch : first is null ? Array.Empty<ReceivedTaskMessage>() : new ReceivedTaskMessage[] { first };
        return new ValueTask<IReadOnlyList<ReceivedTaskMessage>>(taken);
    }

    /// <inheritdoc />
    public ValueTask RenewLeaseAsync(ReceivedTaskMessage message, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var (state, entry) = Owned(message, "renew the lease of");
            ((InMemoryReceived)message).Lease = state.Reschedule(entry, time.GetUtcNow() + leaseDuration, held: true);
        }

        return default;
    }

    /// <inheritdoc />
    public ValueTask CompleteAsync(ReceivedTaskMessage message, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var (state, entry) = Owned(message, "complete");
            state.Remove(entry);
        }

        return default;
    }

    /// <inheritdoc />
    public ValueTask ReleaseAsync(ReceivedTaskMessage message, TimeSpan delay, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var (state, entry) = Owned(message, "release");
            state.Reschedule(entry, time.GetUtcNow() + delay, held: true);
            if (delay <= TimeSpan.Zero) state.Notify();
        }

        return default;
    }

    /// <inheritdoc />
    public ValueTask DeadLetterAsync(ReceivedTaskMessage message, DeadLetterDetails reason, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var (state, entry) = Owned(message, "dead-letter");
            deadLetters.Add(new DeadLetteredMessage(message.Queue, message.MessageId, entry.Body, reason, time.GetUtcNow()));
            payloads.KeepFor(entry.Body);
            state.Remove(entry);
        }

        return default;
    }

    private (InMemoryQueue State, InMemoryEntry Entry) Owned(ReceivedTaskMessage message, string action)
    {
        var received = (InMemoryReceived)message;
        if (queues.TryGetValue(message.Queue, out var state)
            && state.Live.TryGetValue(message.TransportMessageId, out var entry)
            && entry.Lease == received.Lease)
        {
            return (state, entry);
        }

        throw new TaskLeaseLostException($"Cannot {action} message {message.MessageId} on '{message.Queue}': its lease has expired or it was taken by another receiver.");
    }

    private InMemoryQueue GetQueue(string queue)
    {
        if (!queues.TryGetValue(queue, out var state))
        {
            state = new InMemoryQueue();
            queues.Add(queue, state);
        }

        return state;
    }
}

/// <summary>What <see cref="InMemoryTransport.Peek"/> shows of a queued message.</summary>
public sealed record QueuedMessageInfo(string MessageId, DateTimeOffset VisibleAt, int DequeueCount, ReadOnlyMemory<byte> Body);
