using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks.Transports;

/// <summary>
/// Where the places of limits across workers are kept (<see cref="TaskLimit"/>): a limit of N has N places, each
/// held by one run (a concurrency limit, until the run ends or its hold lapses) or one start (a rate, for its
/// period). Taking a place is atomic across every process that shares the store. Both transports implement it: in
/// memory for one process, in Azure Table storage (ETags) for a fleet. See docs/limits.md.
/// </summary>
public interface ITaskLimitStore
{
    /// <summary>
    /// Takes a free place of <paramref name="scope"/> (one never taken, or one whose hold ended before
    /// <paramref name="now"/>) for <paramref name="holder"/>, held until <paramref name="until"/>; or, if every place
    /// is held, says so with the holders.
    /// </summary>
    ValueTask<LimitAcquisition> TryAcquireAsync(LimitScope scope, LimitHolder holder, DateTimeOffset now, DateTimeOffset until, CancellationToken cancellationToken);

    /// <summary>Holds <paramref name="place"/> until <paramref name="until"/>; null if it is no longer its holder's (its hold lapsed and another took it).</summary>
    ValueTask<LimitPlace?> RenewAsync(LimitPlace place, DateTimeOffset until, CancellationToken cancellationToken);

    /// <summary>Frees <paramref name="place"/>, if it is still its holder's.</summary>
    ValueTask ReleaseAsync(LimitPlace place, CancellationToken cancellationToken);

    /// <summary>Every place held now, and every task that waits, by limit: what the dashboard and <c>tasks limits</c> show.</summary>
    ValueTask<IReadOnlyList<LimitState>> ListAsync(DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Notes that <paramref name="waiter"/> waits for <paramref name="scope"/> (shown, never used to decide).</summary>
    ValueTask NoteWaiterAsync(LimitScope scope, LimitWaiter waiter, CancellationToken cancellationToken);

    /// <summary>Forgets the waiter <paramref name="taskId"/> of <paramref name="scope"/>: it runs, or it gave up.</summary>
    ValueTask ForgetWaiterAsync(LimitScope scope, string taskId, CancellationToken cancellationToken);
}

/// <summary>One limit and one key: the places a run takes.</summary>
/// <param name="Kind">Runs at once, or starts per period.</param>
/// <param name="Name">The limit's name.</param>
/// <param name="Key">The key ("" for a limit without one).</param>
/// <param name="Limit">How many places.</param>
public readonly record struct LimitScope(TaskLimitKind Kind, string Name, string Key, int Limit)
{
    /// <summary>The limit and key as a person reads them: <c>'invoices' (key 42)</c>.</summary>
    public override string ToString() => Key.Length == 0 ? $"'{Name}'" : $"'{Name}' (key {(Key == TaskLimit.NullKey ? "null" : Key)})";
}

/// <summary>Who holds a place: a task's run on a worker.</summary>
/// <param name="TaskId">The task's id.</param>
/// <param name="TaskName">The task's wire name.</param>
/// <param name="Worker">The worker that runs it (<see cref="TaskWorkerIdentity.Id"/>).</param>
/// <param name="Since">When it took the place.</param>
public sealed record LimitHolder(string TaskId, string TaskName, string Worker, DateTimeOffset Since);

/// <summary>A place held: what renews and frees it.</summary>
/// <param name="Scope">The limit and key.</param>
/// <param name="Index">Which of its places.</param>
/// <param name="Version">The store's version of the place when it was taken or last renewed (an ETag on Azure).</param>
/// <param name="Holder">Who holds it.</param>
/// <param name="Until">Until when it is held.</param>
public sealed record LimitPlace(LimitScope Scope, int Index, string Version, LimitHolder Holder, DateTimeOffset Until);

/// <summary>A place taken, or the holders of a limit that has none free.</summary>
/// <param name="Place">The place taken, or null.</param>
/// <param name="Held">When no place was free: every place, held.</param>
public readonly record struct LimitAcquisition(LimitPlace? Place, IReadOnlyList<LimitPlace> Held);

/// <summary>A task that waits for a place.</summary>
/// <param name="TaskId">The task's id.</param>
/// <param name="TaskName">The task's wire name.</param>
/// <param name="Since">When it first waited.</param>
/// <param name="Until">When it looks again.</param>
public sealed record LimitWaiter(string TaskId, string TaskName, DateTimeOffset Since, DateTimeOffset Until);

/// <summary>One limit and key as it stands: its holders and its waiters.</summary>
/// <param name="Scope">The limit and key.</param>
/// <param name="Held">The places held now.</param>
/// <param name="Waiters">The tasks that wait.</param>
public sealed record LimitState(LimitScope Scope, IReadOnlyList<LimitPlace> Held, IReadOnlyList<LimitWaiter> Waiters);

/// <summary>
/// A transport that can give a received message a new body as it ends its lease, in one step (Azure's update
/// message): how a task over a limit goes back to its queue without a second copy. Without it the worker sends the
/// new body as a new message, then deletes the old one.
/// </summary>
public interface ITaskMessageReplacer
{
    /// <summary>Ends the lease of <paramref name="message"/>: visible again after <paramref name="delay"/>, with <paramref name="body"/>. Throws <see cref="TaskLeaseLostException"/> if the lease was lost.</summary>
    ValueTask ReplaceAsync(ReceivedTaskMessage message, ReadOnlyMemory<byte> body, TimeSpan delay, CancellationToken cancellationToken);
}
