using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using Tasks.Transports;

namespace Tasks;

/// <summary>A message in an <see cref="InMemoryQueue"/>: its bytes, when it is visible, and its current lease.</summary>
internal sealed class InMemoryEntry(string id, byte[] body, DateTimeOffset expiresAt)
{
    public string Id { get; } = id;
    public byte[] Body { get; set; } = body; // rewritten when a task over a limit waits in its message
    public DateTimeOffset ExpiresAt { get; } = expiresAt;
    public DateTimeOffset VisibleAt { get; set; }
    public int DequeueCount { get; set; }
    public long Instance { get; init; }
    public long Lease { get; set; }
}

/// <summary>One queue of the <see cref="InMemoryTransport"/>: its messages by id and their schedule (used under the transport's lock).</summary>
internal sealed class InMemoryQueue
{
    // Every change of visibility pushes a new (entry, lease) pair; pairs whose lease is stale or
    // whose entry is gone are dropped when they surface. O(log n) per operation at any depth.
    // A completed message's lease pair would surface only when its lease ends (minutes): once stale pairs
    // outnumber the live ones, the schedule is made anew from the live entries, so it stays as large as the queue.
    private readonly PriorityQueue<(InMemoryEntry Entry, long Lease), (DateTimeOffset VisibleAt, long Sequence)> schedule = new();
    private long sequence;
    private int stale;
    private TaskCompletionSource? waiter;

    public Dictionary<string, InMemoryEntry> Live { get; } = new(StringComparer.Ordinal);

    public int ScheduledCount => schedule.Count;

    public Task Waiter() => (waiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public void Notify()
    {
        waiter?.TrySetResult();
        waiter = null;
    }

    // May say yes for a stale entry; a receive then finds nothing and the worker waits again.
    public bool HasVisible(DateTimeOffset now) => schedule.TryPeek(out _, out var priority) && priority.VisibleAt <= now;

    public void Schedule(InMemoryEntry entry) => schedule.Enqueue((entry, entry.Lease), (entry.VisibleAt, sequence++));

    /// <summary>A message leaves the queue (completed, dead-lettered): the pair of its lease is stale.</summary>
    public void Remove(InMemoryEntry entry)
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
    public long Reschedule(InMemoryEntry entry, DateTimeOffset visibleAt, bool held = false)
    {
        if (held) Staled();
        entry.Lease++;
        entry.VisibleAt = visibleAt;
        Schedule(entry);
        return entry.Lease;
    }

    public bool TryTakeVisible(DateTimeOffset now, out InMemoryEntry entry)
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

/// <summary>One delivery of an <see cref="InMemoryEntry"/>: its lease settles it, and no older one.</summary>
internal sealed class InMemoryReceived(string queue, InMemoryEntry entry, long lease)
    : ReceivedTaskMessage(queue, entry.Id, entry.Body, entry.DequeueCount)
{
    public long Lease { get; set; } = lease;

    // An id leaves the queue with its message and may come back with the next one (a requeue, a release sent twice).
    public override string InstanceId => $"{TransportMessageId}@{entry.Instance.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}
