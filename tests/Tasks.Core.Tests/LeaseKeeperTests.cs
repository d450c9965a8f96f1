using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Tasks.Core.Tests;

/// <summary>The lease keeper alone: one timer for every held message, each renewed every half lease from when it was taken.</summary>
public sealed class LeaseKeeperTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Every_held_message_is_renewed_every_half_lease_from_when_it_was_taken_on_one_timer()
    {
        var time = new CountingTimers(new FakeTimeProvider());
        var transport = new Renewals(new InMemoryTransport());
        using var keeper = new LeaseKeeper(transport, Lease, NullLogger.Instance, time);
        var messages = await ReceiveAsync(transport, 100);
        var holds = new List<LeaseHold>();
        for (var i = 0; i < messages.Count; i++)
        {
            holds.Add(keeper.Hold(messages[i], time.GetTimestamp()));
            time.Fake.Advance(TimeSpan.FromMilliseconds(100)); // taken 100 ms apart: 10 s from the first to the last
        }

        // 19.95 s after the first was taken: those taken at 0 .. 4.9 s are half a lease old, and due; the others not yet.
        time.Fake.Advance(TimeSpan.FromSeconds(19.95) - TimeSpan.FromSeconds(10));
        await WaitUntil(() => transport.Count == 50, () => $"{transport.Count} renewed, {transport.Started} started");
        await Task.Delay(100);
        Assert.All(messages.Take(50), m => Assert.Equal(1, transport.Of(m)));
        Assert.All(messages.Skip(50), m => Assert.Equal(0, transport.Of(m)));

        // Past a whole lease, a second at a time: each renewed twice, on its own schedule.
        for (var second = 0; second < 25; second++)
        {
            time.Fake.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(5);
        }

        await WaitUntil(() => messages.All(m => transport.Of(m) == 2), () => string.Join(",", messages.Select(transport.Of)));
        Assert.Equal(1, time.TimersCreated);
        Assert.Equal(100, keeper.Held);
        foreach (var hold in holds) await hold.DisposeAsync();
    }

    [Fact]
    public async Task A_hold_that_ended_is_renewed_no_more_and_its_renewal_in_flight_is_awaited()
    {
        var time = new FakeTimeProvider();
        var transport = new Renewals(new InMemoryTransport());
        using var keeper = new LeaseKeeper(transport, Lease, NullLogger.Instance, time);
        var messages = await ReceiveAsync(transport, 2);
        var settled = keeper.Hold(messages[0], time.GetTimestamp());
        await using var running = keeper.Hold(messages[1], time.GetTimestamp());

        transport.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        time.Advance(Lease / 2);
        await WaitUntil(() => transport.Started == 2);
        var ending = settled.DisposeAsync().AsTask();
        await Task.Delay(100);
        Assert.False(ending.IsCompleted, "the hold ended while its renewal was in flight: the receipt could be stale at the settle");
        transport.Gate.SetResult();
        await ending;
        await WaitUntil(() => transport.Of(messages[1]) == 1); // a renewal still in flight when the next falls due is not doubled

        // Its counted renewal may not have returned to the keeper yet, so a tick now could find it in flight and
        // rightly skip it: keep the clock moving until the running hold is renewed again.
        await WaitUntil(() => transport.Of(messages[1]) >= 2, advance: () => time.Advance(Lease / 2));
        Assert.Equal(1, transport.Of(messages[0]));
        Assert.Equal(1, keeper.Held);
    }

    [Fact]
    public async Task A_lost_lease_is_renewed_no_more_and_the_hold_says_so()
    {
        var time = new FakeTimeProvider();
        var transport = new Renewals(new InMemoryTransport()) { Lose = true };
        using var keeper = new LeaseKeeper(transport, Lease, NullLogger.Instance, time);
        var message = (await ReceiveAsync(transport, 1))[0];
        await using var hold = keeper.Hold(message, time.GetTimestamp());

        time.Advance(Lease / 2);
        await WaitUntil(() => hold.Lost);
        time.Advance(Lease * 2);
        await Task.Delay(100);

        Assert.Equal(1, transport.Started);
        Assert.Equal(0, keeper.Held);
    }

    private static async Task<IReadOnlyList<ReceivedTaskMessage>> ReceiveAsync(Renewals transport, int count)
    {
        for (var i = 0; i < count; i++) await transport.SendAsync("q", new OutgoingTaskMessage($"m{i}", new byte[] { 1 }, TimeSpan.Zero, null), CancellationToken.None);
        return await transport.ReceiveAsync("q", count, Lease, CancellationToken.None);
    }

    private static async Task WaitUntil(Func<bool> condition, Func<string>? what = null, Action? advance = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Waited 10 s ({what?.Invoke()}).");
            advance?.Invoke();
            await Task.Delay(10);
        }
    }

    /// <summary>Counts renewals per message; can hold them until a gate opens, or refuse them as a lost lease.</summary>
    private sealed class Renewals(InMemoryTransport inner) : WrappedTransport(inner)
    {
        private readonly ConcurrentDictionary<string, int> renewed = new();
        private int started;

        public TaskCompletionSource? Gate { get; set; }

        public bool Lose { get; init; }

        public int Started => Volatile.Read(ref started);

        public int Count => renewed.Values.Sum();

        public int Of(ReceivedTaskMessage message) => renewed.GetValueOrDefault(message.MessageId);

        public override async ValueTask RenewLeaseAsync(ReceivedTaskMessage message, TimeSpan leaseDuration, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref started);
            if (Lose) throw new TaskLeaseLostException($"message {message.MessageId} is another's now");
            if (Gate is { } gate) await gate.Task;
            renewed.AddOrUpdate(message.MessageId, 1, (_, n) => n + 1);
        }
    }

    /// <summary>A fake clock that counts the timers made on it.</summary>
    private sealed class CountingTimers(FakeTimeProvider fake) : TimeProvider
    {
        private int created;

        public FakeTimeProvider Fake => fake;

        public int TimersCreated => Volatile.Read(ref created);

        public override long GetTimestamp() => fake.GetTimestamp();

        public override long TimestampFrequency => fake.TimestampFrequency;

        public override DateTimeOffset GetUtcNow() => fake.GetUtcNow();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Interlocked.Increment(ref created);
            return fake.CreateTimer(callback, state, dueTime, period);
        }
    }
}
