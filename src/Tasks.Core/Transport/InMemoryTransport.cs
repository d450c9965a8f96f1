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
    private readonly Dictionary<string, QueueState> queues = new(StringComparer.Ordinal);
    private readonly List<DeadLetteredMessage> deadLetters = new();
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
            var entry = new Entry(id, message.Body.ToArray(), message.TimeToLive is { } ttl ? now + ttl : DateTimeOffset.MaxValue)
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
        Received? first = null; // a receive of one, the usual case with a worker's slots full, allocates a one-item array, no list
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
                    var received = new Received(queue, entry, state.Reschedule(entry, now + leaseDuration));
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
            ((Received)message).Lease = state.Reschedule(entry, time.GetUtcNow() + leaseDuration, held: true);
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
            KeepPayloadOf(entry.Body);
            state.Remove(entry);
        }

        return default;
    }

    private (QueueState State, Entry Entry) Owned(ReceivedTaskMessage message, string action)
    {
        var received = (Received)message;
        if (queues.TryGetValue(message.Queue, out var state)
            && state.Live.TryGetValue(message.TransportMessageId, out var entry)
            && entry.Lease == received.Lease)
        {
            return (state, entry);
        }

        throw new TaskLeaseLostException($"Cannot {action} message {message.MessageId} on '{message.Queue}': its lease has expired or it was taken by another receiver.");
    }

    private QueueState GetQueue(string queue)
    {
        if (!queues.TryGetValue(queue, out var state))
        {
            state = new QueueState();
            queues.Add(queue, state);
        }

        return state;
    }

    private sealed class Entry(string id, byte[] body, DateTimeOffset expiresAt)
    {
        public string Id { get; } = id;
        public byte[] Body { get; } = body;
        public DateTimeOffset ExpiresAt { get; } = expiresAt;
        public DateTimeOffset VisibleAt { get; set; }
        public int DequeueCount { get; set; }
        public long Instance { get; init; }
        public long Lease { get; set; }
    }

    private sealed class QueueState
    {
        // Every change of visibility pushes a new (entry, lease) pair; pairs whose lease is stale or
        // whose entry is gone are dropped when they surface. O(log n) per operation at any depth.
        // A completed message's lease pair would surface only when its lease ends (minutes): once stale pairs
        // outnumber the live ones, the schedule is made anew from the live entries, so it stays as large as the queue.
        private readonly PriorityQueue<(Entry Entry, long Lease), (DateTimeOffset VisibleAt, long Sequence)> schedule = new();
        private long sequence;
        private int stale;
        private TaskCompletionSource? waiter;

        public Dictionary<string, Entry> Live { get; } = new(StringComparer.Ordinal);

        public int ScheduledCount => schedule.Count;

        public Task Waiter() => (waiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

        public void Notify()
        {
            waiter?.TrySetResult();
            waiter = null;
        }

        // May say yes for a stale entry; a receive then finds nothing and the worker waits again.
        public bool HasVisible(DateTimeOffset now) => schedule.TryPeek(out _, out var priority) && priority.VisibleAt <= now;

        public void Schedule(Entry entry) => schedule.Enqueue((entry, entry.Lease), (entry.VisibleAt, sequence++));

        /// <summary>A message leaves the queue (completed, dead-lettered): the pair of its lease is stale.</summary>
        public void Remove(Entry entry)
        {
            Live.Remove(entry.Id);
            Staled();
        }

        private void Staled()
        {
            if (++stale <= Math.Max(1024, Live.Count)) return;
            schedule.Clear(); // keeps its array: at a steady depth, nothing more is allocated
            foreach (var entry in Live.Values) Schedule(entry);
            stale = 0;
        }

        /// <summary>A new lease: the entry is visible again at <paramref name="visibleAt"/>, and older leases are dead.</summary>
        public long Reschedule(Entry entry, DateTimeOffset visibleAt, bool held = false)
        {
            if (held) Staled();
            entry.Lease++;
            entry.VisibleAt = visibleAt;
            Schedule(entry);
            return entry.Lease;
        }

        public bool TryTakeVisible(DateTimeOffset now, out Entry entry)
        {
            while (schedule.TryPeek(out var item, out var priority) && priority.VisibleAt <= now)
            {
                schedule.Dequeue();
                if (item.Lease == item.Entry.Lease && Live.TryGetValue(item.Entry.Id, out var live) && ReferenceEquals(live, item.Entry))
                {
                    entry = item.Entry;
                    return true;
                }

                if (stale > 0) stale--;
            }

            entry = null!;
            return false;
        }
    }

    private sealed class Received(string queue, Entry entry, long lease)
        : ReceivedTaskMessage(queue, entry.Id, entry.Body, entry.DequeueCount)
    {
        public long Lease { get; set; } = lease;

        // An id leaves the queue with its message and may come back with the next one (a requeue, a release sent twice).
        public override string InstanceId => $"{TransportMessageId}@{entry.Instance.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
    }
}

/// <summary>What <see cref="InMemoryTransport.Peek"/> shows of a queued message.</summary>
public sealed record QueuedMessageInfo(string MessageId, DateTimeOffset VisibleAt, int DequeueCount, ReadOnlyMemory<byte> Body);
