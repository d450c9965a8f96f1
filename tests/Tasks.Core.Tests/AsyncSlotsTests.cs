namespace Tasks.Core.Tests;

/// <summary>The worker's slot counter alone: free slots taken at once, waiters served in order, a cancelled wait never takes or loses a slot.</summary>
public sealed class AsyncSlotsTests
{
    [Fact]
    public async Task Free_slots_are_taken_at_once_and_waiters_get_released_slots_in_the_order_they_waited()
    {
        var slots = new AsyncSlots(2);
        Assert.True(slots.WaitAsync(CancellationToken.None).IsCompletedSuccessfully);
        Assert.True(slots.TryTake());
        Assert.False(slots.TryTake());

        var first = slots.WaitAsync(CancellationToken.None).AsTask();
        var second = slots.WaitAsync(CancellationToken.None).AsTask();
        Assert.False(first.IsCompleted || second.IsCompleted);

        slots.Release();
        await first.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(second.IsCompleted);
        slots.Release(2);
        await second.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(1, slots.Free);
    }

    [Fact]
    public async Task A_cancelled_wait_throws_and_the_slot_released_after_it_goes_to_the_next_waiter_or_stays_free()
    {
        var slots = new AsyncSlots(1);
        Assert.True(slots.TryTake());
        using var cancel = new CancellationTokenSource();
        var cancelled = slots.WaitAsync(cancel.Token).AsTask();
        var next = slots.WaitAsync(CancellationToken.None).AsTask();
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);

        slots.Release();
        await next.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, slots.Free);
        slots.Release();
        Assert.Equal(1, slots.Free);
    }

    [Fact]
    public async Task Waiters_are_used_again_after_a_grant_and_still_served_in_order_with_cancelled_ones_in_the_queue()
    {
        var slots = new AsyncSlots(1);
        Assert.True(slots.TryTake());
        for (var round = 0; round < 100; round++)
        {
            // A cancelled waiter stays in the queue until a release passes it: used again for the wait after it, it would
            // be granted from its old place, ahead of the wait in between.
            using var cancel = new CancellationTokenSource();
            var cancelled = slots.WaitAsync(cancel.Token).AsTask();
            cancel.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
            var first = slots.WaitAsync(CancellationToken.None).AsTask();
            var second = slots.WaitAsync(CancellationToken.None).AsTask();

            slots.Release();
            await first.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.False(second.IsCompleted, $"round {round}: the later wait was served first");
            slots.Release();
            await second.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Equal(0, slots.Free);
        }

        slots.Release();
        Assert.Equal(1, slots.Free);
    }

    [Fact]
    public async Task Many_takers_and_releasers_at_once_never_hold_more_than_the_count_and_lose_no_slot()
    {
        var slots = new AsyncSlots(4);
        var holding = 0;
        var most = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var workers = Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
        {
            var taken = 0;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await slots.WaitAsync(i % 4 == 0 ? stop.Token : CancellationToken.None);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                var now = Interlocked.Increment(ref holding);
                InterlockedMax(ref most, now);
                await Task.Yield();
                Interlocked.Decrement(ref holding);
                slots.Release();
                taken++;
            }

            return taken;
        })).ToArray();

        var taken = await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(most <= 4, $"{most} slots held at once");
        Assert.True(taken.Sum() > 100);
        Assert.Equal(4, slots.Free);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, seen) == seen) return;
        }
    }
}
