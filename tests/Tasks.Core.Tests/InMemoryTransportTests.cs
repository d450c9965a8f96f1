using Microsoft.Extensions.Time.Testing;

namespace Tasks.Core.Tests;

public sealed class InMemoryTransportTests
{
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task Completed_messages_leave_the_schedule_within_a_bound_not_when_their_leases_end()
    {
        var transport = new InMemoryTransport(time);
        await transport.SendAsync("q", new OutgoingTaskMessage("kept", new byte[] { 1 }, TimeSpan.FromHours(1), null), default);
        for (var i = 0; i < 10_000; i++)
        {
            await transport.SendAsync("q", new OutgoingTaskMessage("m" + i, new byte[] { 1 }, TimeSpan.Zero, null), default);
            var received = Assert.Single(await transport.ReceiveAsync("q", 32, TimeSpan.FromMinutes(5), default));
            if (i % 2 == 1) await transport.RenewLeaseAsync(received, TimeSpan.FromMinutes(5), default); // a second stale pair
            await transport.CompleteAsync(received, default);
        }

        // Each completed message left a pair that would surface only when its lease ends, minutes later.
        Assert.InRange(transport.ScheduledCount("q"), 1, 1024 + 2);
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal("kept", Assert.Single(await transport.ReceiveAsync("q", 32, TimeSpan.FromMinutes(5), default)).MessageId);
    }

    [Fact]
    public async Task Delayed_message_becomes_visible_only_after_its_delay()
    {
        var transport = new InMemoryTransport(time);
        await transport.SendAsync("q", new OutgoingTaskMessage("m", new byte[] { 1 }, TimeSpan.FromMinutes(5), null), default);

        Assert.Empty(await transport.ReceiveAsync("q", 32, TimeSpan.FromSeconds(30), default));
        time.Advance(TimeSpan.FromMinutes(5));
        Assert.Single(await transport.ReceiveAsync("q", 32, TimeSpan.FromSeconds(30), default));
    }

    [Fact]
    public async Task Expired_lease_hands_the_message_to_the_next_receiver_and_the_old_lease_cannot_settle_it()
    {
        var transport = new InMemoryTransport(time);
        await transport.SendAsync("q", new OutgoingTaskMessage("m", new byte[] { 1 }, TimeSpan.Zero, null), default);

        var first = Assert.Single(await transport.ReceiveAsync("q", 32, TimeSpan.FromSeconds(30), default));
        Assert.Empty(await transport.ReceiveAsync("q", 32, TimeSpan.FromSeconds(30), default));
        time.Advance(TimeSpan.FromSeconds(30));
        var second = Assert.Single(await transport.ReceiveAsync("q", 32, TimeSpan.FromSeconds(30), default));

        Assert.Equal((1, 2), (first.Attempt, second.Attempt));
        await Assert.ThrowsAsync<TaskLeaseLostException>(async () => await transport.CompleteAsync(first, default));
        await transport.CompleteAsync(second, default);
        Assert.Empty(transport.Peek("q"));
    }

    [Fact]
    public async Task Message_past_its_time_to_live_is_never_delivered()
    {
        var transport = new InMemoryTransport(time);
        await transport.SendAsync("q", new OutgoingTaskMessage("m", new byte[] { 1 }, TimeSpan.Zero, TimeSpan.FromMinutes(1)), default);

        time.Advance(TimeSpan.FromMinutes(1));

        Assert.Empty(await transport.ReceiveAsync("q", 32, TimeSpan.FromSeconds(30), default));
        Assert.Empty(transport.Peek("q"));
    }

    [Fact]
    public async Task Batch_holds_at_most_the_requested_count_and_each_message_once()
    {
        var transport = new InMemoryTransport(time);
        for (var i = 0; i < 50; i++)
            await transport.SendAsync("q", new OutgoingTaskMessage($"m{i}", new byte[] { (byte)i }, TimeSpan.Zero, null), default);

        var first = await transport.ReceiveAsync("q", 32, TimeSpan.FromSeconds(30), default);
        var second = await transport.ReceiveAsync("q", 32, TimeSpan.FromSeconds(30), default);

        Assert.Equal(32, first.Count);
        Assert.Equal(18, second.Count);
        Assert.Equal(50, first.Concat(second).Select(m => m.MessageId).Distinct().Count());
    }
}
