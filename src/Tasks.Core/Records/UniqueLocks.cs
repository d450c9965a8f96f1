using System;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// The locks of unique tasks: a row each in the store's unique table, taken by a conditional insert or an
/// ETag-conditional replace, never by read-then-write. A lock is <c>Pending</c> from its claim until its task's
/// message is sent (<c>Sent</c>) or its send fails (<c>Unsent</c>), so a caller who finds the lock held gets the
/// holder's id only once the holder's message exists:
/// <list type="bullet">
/// <item>Sent (or a row from before lock states): the holder's id, and nothing is sent;</item>
/// <item>Pending and younger than <see cref="PendingGrace"/>: the caller waits, up to <see cref="ClaimWait"/>, for the holder's send to end;</item>
/// <item>Unsent, expired, or Pending for longer (a claim whose answer was lost, that landed after its caller gave up): taken over.</item>
/// </list>
/// A worker about to run a unique task confirms its lock (makes it its own and Sent) and drops the task if another
/// holds it: a send reported failed that arrived all the same runs at most once, and no enqueue takes its lock
/// over while it runs.
/// </summary>
internal sealed class UniqueLocks(IRecordTables tables, TimeProvider time)
{
    /// <summary>A Pending lock older than this belongs to an enqueue that gave up (every send has a deadline shorter than this).</summary>
    public static readonly TimeSpan PendingGrace = TimeSpan.FromSeconds(10);

    /// <summary>The longest a caller waits for another enqueue of the same task to send, or fail.</summary>
    public static readonly TimeSpan ClaimWait = TimeSpan.FromSeconds(5);

    private const string Table = RecordFormat.UniqueTable;
    private const string Pending = "Pending", Sent = "Sent", Unsent = "Unsent";
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    private enum Holding { Live, Settling, Free }

    /// <summary>
    /// Takes lock <paramref name="key"/> for task <paramref name="id"/> until <paramref name="expiresAt"/>: null if this
    /// task has it now (or had it: its first insert landed and the answer was lost), or the id of the task that holds it.
    /// </summary>
    /// <exception cref="TimeoutException">The holder's enqueue neither sent nor failed within <see cref="ClaimWait"/>: try again.</exception>
    public async ValueTask<string?> ClaimAsync(string key, string id, string taskName, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        var partition = Partition(key);
        var claim = new RecordEntity(partition, key).Set("TaskId", id).Set("Task", taskName).Set("ExpiresAt", expiresAt).Set("ClaimedAt", time.GetUtcNow()).Set("State", Pending);
        var started = time.GetTimestamp();
        for (var changes = 0; changes < 8; changes++)
        {
            if (await tables.InsertRowAsync(Table, claim, cancellationToken).ConfigureAwait(false)) return null;
            var held = await tables.ReadRowAsync(Table, partition, key, cancellationToken).ConfigureAwait(false);
            while (held is not null && held.GetString("TaskId") != id && HoldingOf(held) == Holding.Settling)
            {
                if (time.GetElapsedTime(started) > ClaimWait)
                    throw new TimeoutException($"The unique lock of task '{taskName}' is held by task {held.GetString("TaskId")}, whose enqueue neither sent nor failed within {ClaimWait.TotalSeconds:N0} s: try again.");
                await Task.Delay(Poll, time, cancellationToken).ConfigureAwait(false);
                held = await tables.ReadRowAsync(Table, partition, key, cancellationToken).ConfigureAwait(false);
            }

            if (held is null) continue; // released meanwhile: insert again
            if (held.GetString("TaskId") == id) return null;
            if (HoldingOf(held) == Holding.Live) return held.GetString("TaskId");
            if (await tables.ReplaceAsync(Table, claim, held.ETag, cancellationToken).ConfigureAwait(false)) return null;
        }

        throw new InvalidOperationException($"The unique lock of task '{taskName}' changed hands eight times while it was taken; try again.");
    }

    /// <summary>Marks the lock of task <paramref name="id"/> as its message sent (or not): callers waiting on it learn it now.</summary>
    public ValueTask MarkAsync(string key, string id, bool sent, CancellationToken cancellationToken)
        => SetStateAsync(key, id, sent ? Sent : Unsent, onlyFrom: sent ? Pending : null, cancellationToken);

    /// <summary>Ends lock <paramref name="key"/> if task <paramref name="id"/> still holds it.</summary>
    public async ValueTask ReleaseAsync(string key, string id, CancellationToken cancellationToken)
    {
        var held = await tables.ReadRowAsync(Table, Partition(key), key, cancellationToken).ConfigureAwait(false);
        if (held?.GetString("TaskId") == id) await tables.DeleteAsync(Table, held.PartitionKey, key, held.ETag, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Before task <paramref name="id"/> runs: the id of another task that holds its lock (it must not run), or null.
    /// The lock becomes this task's, Sent, so no later enqueue may take it over while it runs: its own Pending or
    /// Unsent lock (a send reported failed that arrived all the same), or another's that was given up (Unsent, or
    /// Pending for longer than <see cref="PendingGrace"/>) and has not expired.
    /// </summary>
    public async ValueTask<string?> ConfirmAsync(string key, string id, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 4; attempt++)
        {
            var held = await tables.ReadRowAsync(Table, Partition(key), key, cancellationToken).ConfigureAwait(false);
            if (held is null) return null;
            var own = held.GetString("TaskId") == id;
            if (own && held.GetString("State") is not (Pending or Unsent)) return null;
            if (!own)
            {
                if (HoldingOf(held) != Holding.Free) return held.GetString("TaskId");
                if ((held.Get<DateTimeOffset>("ExpiresAt") ?? DateTimeOffset.MinValue) <= time.GetUtcNow()) return null; // nobody holds it
            }

            if (await tables.ReplaceAsync(Table, held.Set("TaskId", id).Set("State", Sent), held.ETag, cancellationToken).ConfigureAwait(false)) return null;
        }

        return null;
    }

    private async ValueTask SetStateAsync(string key, string id, string state, string? onlyFrom, CancellationToken cancellationToken)
    {
        var held = await tables.ReadRowAsync(Table, Partition(key), key, cancellationToken).ConfigureAwait(false);
        if (held?.GetString("TaskId") != id || (onlyFrom is not null && held.GetString("State") != onlyFrom)) return;
        await tables.ReplaceAsync(Table, held.Set("State", state), held.ETag, cancellationToken).ConfigureAwait(false);
    }

    private Holding HoldingOf(RecordEntity held)
    {
        var now = time.GetUtcNow();
        if ((held.Get<DateTimeOffset>("ExpiresAt") ?? DateTimeOffset.MinValue) <= now) return Holding.Free;
        return held.GetString("State") switch
        {
            Unsent => Holding.Free,
            Pending => (held.Get<DateTimeOffset>("ClaimedAt") ?? DateTimeOffset.MinValue) + PendingGrace > now ? Holding.Settling : Holding.Free,
            _ => Holding.Live,
        };
    }

    private static string Partition(string key) => "u" + (RecordFormat.Hash(key) % RecordFormat.Buckets).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
