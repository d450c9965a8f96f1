using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Tasks.EntityFrameworkCore;

/// <summary>
/// The outbox of a process: the client that writes tasks into a <see cref="DbContext"/> (<see cref="TaskOutboxDbContextExtensions.Tasks"/>),
/// the interceptors that learn when those rows commit, and the sender that sends them at once after the commit, then
/// deletes their rows with a context of its own. A send that fails leaves its row to the relay.
/// </summary>
public sealed class TaskOutbox
{
    private readonly TaskClient client;
    private readonly IServiceScopeFactory scopes;
    private readonly ILogger logger;
    private readonly ConditionalWeakTable<DbContext, Pending> pending = new();
    private readonly ConcurrentDictionary<Task, bool> sending = new();

    internal TaskOutbox(TaskClient client, IServiceScopeFactory scopes, TaskOutboxOptions options, ILogger<TaskOutbox> logger)
    {
        options.Validate();
        this.client = client;
        this.scopes = scopes;
        this.logger = logger;
        Options = options;
        Interceptors = [new SaveInterceptor(this), new TransactionInterceptor(this)];
    }

    /// <summary>How this outbox sends.</summary>
    public TaskOutboxOptions Options { get; }

    internal IInterceptor[] Interceptors { get; }

    /// <summary>The outbox of <paramref name="db"/>'s options (<see cref="TaskOutboxServiceCollectionExtensions.UseTaskOutbox"/>), or null.</summary>
    internal static TaskOutbox? Of(DbContext db)
        => db.GetService<IDbContextOptions>().FindExtension<CoreOptionsExtension>()?.Interceptors?
            .OfType<SaveInterceptor>().FirstOrDefault()?.Outbox;

    /// <summary>A client whose enqueues become rows of <paramref name="db"/>, sent once its changes commit.</summary>
    internal ITaskClient ClientFor(DbContext db)
    {
        OutboxRows.Check(db);
        return client.WriteTo(new ContextRows(this, db));
    }

    /// <summary>Waits for the sends in flight (a host stopping), up to <paramref name="cancellationToken"/>.</summary>
    internal Task DrainAsync(CancellationToken cancellationToken) => Task.WhenAll(sending.Keys).WaitAsync(cancellationToken);

    /// <summary>Sends <paramref name="rows"/>, up to MaxConcurrentSends at once; returns the ids sent and the failures by id (the caller deletes or retries their rows).</summary>
    internal async Task<(List<string> Sent, Dictionary<string, Exception> Failed)> SendAsync(IReadOnlyList<(string Id, byte[] Content)> rows, CancellationToken cancellationToken)
    {
        var sent = new List<string>(rows.Count);
        var failed = new Dictionary<string, Exception>();
        await Parallel.ForEachAsync(rows, new ParallelOptions { MaxDegreeOfParallelism = Options.MaxConcurrentSends, CancellationToken = cancellationToken }, async (row, token) =>
        {
            try
            {
                await client.SendFromOutboxAsync(row.Content, token).ConfigureAwait(false);
                lock (sent) sent.Add(row.Id);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
            {
                lock (sent) failed[row.Id] = ex;
            }
        }).ConfigureAwait(false);
        return (sent, failed);
    }

    /// <summary>Rows just committed: sent at once, off the committing thread, and deleted; a failure leaves them to the relay.</summary>
    private void SendCommitted(Type contextType, List<TaskOutboxEntry> entries)
    {
        var send = SendCommittedAsync(contextType, entries);
        sending.TryAdd(send, true);
        _ = send.ContinueWith(static (done, state) => ((ConcurrentDictionary<Task, bool>)state!).TryRemove(done, out _), sending, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task SendCommittedAsync(Type contextType, List<TaskOutboxEntry> entries)
    {
        await Task.Yield(); // the caller's SaveChanges or Commit returns now
        var (sent, failed) = await SendAsync(entries.Select(e => (e.Id, e.Content)).ToList(), CancellationToken.None).ConfigureAwait(false);
        foreach (var (id, error) in failed) OutboxLog.SendFailed(logger, error, id, Options.Grace.TotalSeconds);
        if (sent.Count == 0) return;
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = (DbContext)scope.ServiceProvider.GetRequiredService(contextType);
            await OutboxRows.DeleteAsync(db, sent, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            OutboxLog.DeleteFailed(logger, ex, sent.Count); // the relay sends them again; their workers drop the second copy
        }
    }

    private void Saved(DbContext db)
    {
        if (!pending.TryGetValue(db, out var rows)) return;
        var saved = rows.TakeSaved(db);
        if (saved.Count == 0) return;
        if (db.Database.CurrentTransaction is not null)
        {
            rows.AwaitCommit(saved); // the user's transaction: sent when it commits
            return;
        }

        if (System.Transactions.Transaction.Current is { } ambient)
        {
            var type = db.GetType();
            ambient.TransactionCompleted += (_, e) =>
            {
                if (e.Transaction?.TransactionInformation.Status == System.Transactions.TransactionStatus.Committed) SendCommitted(type, saved);
            };
            return;
        }

        SendCommitted(db.GetType(), saved);
    }

    private void Committed(DbContext? db)
    {
        if (db is not null && pending.TryGetValue(db, out var rows) && rows.TakeCommitted() is { Count: > 0 } committed) SendCommitted(db.GetType(), committed);
    }

    private void RolledBack(DbContext? db)
    {
        if (db is not null && pending.TryGetValue(db, out var rows)) rows.TakeCommitted(); // never committed: nothing to send
    }

    /// <summary>The outbox rows of one context: added and not saved yet, or saved in a transaction not committed yet.</summary>
    private sealed class Pending
    {
        private readonly List<(TaskOutboxMessage Row, TaskOutboxEntry Entry)> added = new();
        private List<TaskOutboxEntry> awaitingCommit = new();

        public void Add(TaskOutboxMessage row, TaskOutboxEntry entry)
        {
            lock (added) added.Add((row, entry));
        }

        /// <summary>The entries whose rows the last SaveChanges wrote; those not written (a failed save) stay.</summary>
        public List<TaskOutboxEntry> TakeSaved(DbContext db)
        {
            lock (added)
            {
                var saved = new List<TaskOutboxEntry>();
                added.RemoveAll(a =>
                {
                    var state = db.Entry(a.Row).State;
                    if (state == EntityState.Added) return false;
                    if (state != EntityState.Detached) saved.Add(a.Entry); // detached: removed before the save, never written
                    return true;
                });
                return saved;
            }
        }

        public void AwaitCommit(List<TaskOutboxEntry> saved)
        {
            lock (added) awaitingCommit.AddRange(saved);
        }

        public List<TaskOutboxEntry> TakeCommitted()
        {
            lock (added)
            {
                var committed = awaitingCommit;
                awaitingCommit = new List<TaskOutboxEntry>();
                return committed;
            }
        }
    }

    /// <summary>The outbox of one context: each task becomes a row added to it.</summary>
    private sealed class ContextRows(TaskOutbox outbox, DbContext db) : ITaskOutbox
    {
        public void Add(TaskOutboxEntry entry)
        {
            var row = TaskOutboxMessage.From(entry);
            db.Set<TaskOutboxMessage>().Add(row);
            outbox.pending.GetValue(db, static _ => new Pending()).Add(row, entry);
        }
    }

    private sealed class SaveInterceptor(TaskOutbox outbox) : SaveChangesInterceptor
    {
        public TaskOutbox Outbox => outbox;

        public override int SavedChanges(SaveChangesCompletedEventData eventData, int result)
        {
            if (eventData.Context is { } db) outbox.Saved(db);
            return result;
        }

        public override ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
        {
            if (eventData.Context is { } db) outbox.Saved(db);
            return new ValueTask<int>(result);
        }
    }

    private sealed class TransactionInterceptor(TaskOutbox outbox) : DbTransactionInterceptor
    {
        public override void TransactionCommitted(System.Data.Common.DbTransaction transaction, TransactionEndEventData eventData) => outbox.Committed(eventData.Context);

        public override Task TransactionCommittedAsync(System.Data.Common.DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            outbox.Committed(eventData.Context);
            return Task.CompletedTask;
        }

        public override void TransactionRolledBack(System.Data.Common.DbTransaction transaction, TransactionEndEventData eventData) => outbox.RolledBack(eventData.Context);

        public override Task TransactionRolledBackAsync(System.Data.Common.DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            outbox.RolledBack(eventData.Context);
            return Task.CompletedTask;
        }
    }
}
