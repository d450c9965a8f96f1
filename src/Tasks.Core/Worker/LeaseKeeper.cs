using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>
/// Keeps the leases of the messages a worker holds: one timer for all of them, armed for the next renewal due,
/// each message renewed every half lease counted from when it was taken (a renewal that fell behind is one
/// renewal, not several). A message is held while its task runs long, waits for its task's gate, has its payload
/// fetched, or waits for its continuations' release; its hold ends before it is settled.
/// </summary>
internal sealed class LeaseKeeper : IDisposable
{
    private readonly ITaskTransport transport;
    private readonly TimeSpan leaseDuration;
    private readonly long interval; // half a lease, in timestamp ticks
    private readonly ILogger logger;
    private readonly TimeProvider time;
    private readonly ITimer timer;
    private readonly HashSet<LeaseHold> holds = new();
    private long armedFor = long.MaxValue;
    private bool disposed;

    public LeaseKeeper(ITaskTransport transport, TimeSpan leaseDuration, ILogger logger, TimeProvider time)
    {
        this.transport = transport;
        this.leaseDuration = leaseDuration;
        this.logger = logger;
        this.time = time;
        interval = (long)(leaseDuration.TotalSeconds / 2 * time.TimestampFrequency);
        timer = time.CreateTimer(static keeper => ((LeaseKeeper)keeper!).Renew(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The messages held now.</summary>
    public int Held
    {
        get
        {
            lock (holds) return holds.Count;
        }
    }

    /// <summary>Renews the lease of <paramref name="message"/>, taken at <paramref name="taken"/> (a timestamp), every half lease until the hold ends.</summary>
    public LeaseHold Hold(ReceivedTaskMessage message, long taken)
    {
        var hold = new LeaseHold(this, message, taken + interval);
        lock (holds)
        {
            holds.Add(hold);
            if (hold.Due < armedFor) Arm(hold.Due);
        }

        return hold;
    }

    /// <summary>Holds <paramref name="message"/> with its next renewal due now: its last one may be up to half a lease old.</summary>
    public LeaseHold HoldRenewingNow(ReceivedTaskMessage message) => Hold(message, time.GetTimestamp() - interval);

    public void Dispose()
    {
        lock (holds)
        {
            disposed = true;
            holds.Clear();
        }

        timer.Dispose();
    }

    private void Arm(long due)
    {
        if (disposed) return;
        armedFor = due;
        var wait = Math.Max(0, due - time.GetTimestamp());
        timer.Change(TimeSpan.FromTicks((long)Math.Ceiling(wait * (double)TimeSpan.TicksPerSecond / time.TimestampFrequency)), Timeout.InfiniteTimeSpan);
    }

    /// <summary>The timer fired: every hold that is due starts its renewal (unless its last one is still in flight), and the timer is armed for the next.</summary>
    private void Renew()
    {
        lock (holds)
        {
            armedFor = long.MaxValue;
            var now = time.GetTimestamp();
            var next = long.MaxValue;
            foreach (var hold in holds)
            {
                if (hold.Due <= now)
                {
                    while (hold.Due <= now) hold.Due += interval;
                    // Never cancelled once sent: a renewal the service applied but whose answer we dropped would
                    // leave us holding a dead receipt, and the final settle would fail.
                    if (hold.Renewing is not { IsCompleted: false }) hold.Renewing = Task.Run(() => RenewAsync(hold));
                }

                next = Math.Min(next, hold.Due);
            }

            if (next != long.MaxValue) Arm(next);
        }
    }

    private async Task RenewAsync(LeaseHold hold)
    {
        try
        {
            await transport.RenewLeaseAsync(hold.Message, leaseDuration, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TaskLeaseLostException ex)
        {
            WorkerLog.LeaseLost(logger, ex, hold.Message.MessageId, hold.Message.Queue);
            hold.Lost = true;
            lock (holds) holds.Remove(hold);
        }
        catch (Exception ex)
        {
            WorkerLog.RenewFailed(logger, ex, hold.Message.MessageId, hold.Message.Queue);
        }
    }

    /// <summary>Stops renewing <paramref name="hold"/>; returns its renewal in flight, if any.</summary>
    internal Task? Release(LeaseHold hold)
    {
        lock (holds)
        {
            holds.Remove(hold);
            return hold.Renewing;
        }
    }
}

/// <summary>One message's lease, kept by the <see cref="LeaseKeeper"/> until this hold ends.</summary>
internal sealed class LeaseHold(LeaseKeeper keeper, ReceivedTaskMessage message, long due) : IAsyncDisposable
{
    public ReceivedTaskMessage Message { get; } = message;

    /// <summary>When the next renewal is due (a timestamp); the keeper's, under its lock.</summary>
    internal long Due { get; set; } = due;

    /// <summary>The renewal in flight or last made; the keeper's, under its lock.</summary>
    internal Task? Renewing { get; set; }

    /// <summary>True once a renewal found the lease lost: the message is no longer this worker's, and is renewed no more.</summary>
    public bool Lost { get; internal set; }

    /// <summary>Stops renewing, at once (a run abandoned by a stop: a renewal after its release would hide the message again).</summary>
    public void Stop() => keeper.Release(this);

    /// <summary>Stops renewing, and waits for a renewal in flight: the message's receipt is then current for its settle.</summary>
    public async ValueTask DisposeAsync()
    {
        if (keeper.Release(this) is { } renewing) await renewing.ConfigureAwait(false);
    }
}
