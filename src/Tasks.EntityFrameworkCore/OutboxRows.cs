using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace Tasks.EntityFrameworkCore;

/// <summary>
/// The outbox table's statements. Each is one short statement in its own implicit transaction: none is held open
/// across a storage call.
/// </summary>
internal static class OutboxRows
{
    public const int MaxErrorLength = 1000;

    private const string Npgsql = "Npgsql.EntityFrameworkCore.PostgreSQL";
    private const string Sqlite = "Microsoft.EntityFrameworkCore.Sqlite";

    /// <summary>Throws if <paramref name="db"/> cannot hold the outbox: its model lacks the table, or its provider has no claim statement here.</summary>
    public static void Check(DbContext db)
    {
        if (db.Model.FindEntityType(typeof(TaskOutboxMessage)) is null)
            throw new InvalidOperationException($"{db.GetType().Name} has no task outbox table: call modelBuilder.AddTaskOutbox() in its OnModelCreating, then add a migration (see docs/outbox.md).");
        if (db.Database.ProviderName is not (Npgsql or Sqlite))
            throw new NotSupportedException($"The task outbox's relay claims rows with PostgreSQL (Npgsql) or SQLite; {db.GetType().Name} uses {db.Database.ProviderName}, which it does not support yet.");
    }

    /// <summary>
    /// Claims up to <paramref name="count"/> rows older than <paramref name="cutoff"/> that no live relay holds, for
    /// <paramref name="claimant"/> until <paramref name="until"/>, in one statement. PostgreSQL skips rows another relay
    /// is claiming (<c>FOR UPDATE SKIP LOCKED</c>); SQLite has one writer at a time, so one claimant at a time.
    /// </summary>
    public static async Task<List<TaskOutboxMessage>> ClaimAsync(DbContext db, string claimant, long now, long cutoff, long until, int count, CancellationToken cancellationToken)
    {
        var t = Names.Of(db);
        var skipLocked = db.Database.ProviderName == Npgsql ? " FOR UPDATE SKIP LOCKED" : "";
        var sql =
            $"UPDATE {t.Table} SET {t.LockedUntil} = {{0}}, {t.LockedBy} = {{1}} " +
            $"WHERE {t.Id} IN (SELECT {t.Id} FROM {t.Table} WHERE {t.CreatedAt} <= {{2}} AND ({t.LockedUntil} IS NULL OR {t.LockedUntil} < {{3}}) " +
            $"ORDER BY {t.CreatedAt} LIMIT {{4}}{skipLocked}) RETURNING *";
        return await db.Set<TaskOutboxMessage>().FromSqlRaw(sql, until, claimant, cutoff, now, count).AsNoTracking().ToListAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes the rows of tasks sent.</summary>
    public static Task<int> DeleteAsync(DbContext db, IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        var list = ids as List<string> ?? ids.ToList();
        return db.Set<TaskOutboxMessage>().Where(m => list.Contains(m.Id)).ExecuteDeleteAsync(cancellationToken);
    }

    /// <summary>A row whose send failed: held until its next try, with why.</summary>
    public static Task<int> RetryLaterAsync(DbContext db, string id, string claimant, long retryAt, string error, CancellationToken cancellationToken)
    {
        var reason = error.Length > MaxErrorLength ? error[..MaxErrorLength] : error;
        return db.Set<TaskOutboxMessage>().Where(m => m.Id == id && m.LockedBy == claimant)
            .ExecuteUpdateAsync(s => s.SetProperty(m => m.Attempts, m => m.Attempts + 1).SetProperty(m => m.LockedUntil, retryAt).SetProperty(m => m.LastError, reason), cancellationToken);
    }

    /// <summary>The rows waiting, and when the oldest was written (Unix milliseconds), or null when there are none.</summary>
    public static async Task<(int Depth, long? Oldest)> MeasureAsync(DbContext db, CancellationToken cancellationToken)
    {
        var rows = db.Set<TaskOutboxMessage>();
        var depth = await rows.CountAsync(cancellationToken).ConfigureAwait(false);
        return depth == 0 ? (0, null) : (depth, await rows.MinAsync(m => m.CreatedAt, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>The table's and columns' names as the model maps them, delimited for the provider's SQL.</summary>
    private sealed record Names(string Table, string Id, string CreatedAt, string LockedUntil, string LockedBy)
    {
        public static Names Of(DbContext db)
        {
            var entity = db.Model.FindEntityType(typeof(TaskOutboxMessage))!;
            var table = entity.GetTableName()!;
            var schema = entity.GetSchema();
            var store = StoreObjectIdentifier.Table(table, schema);
            var sql = db.GetService<ISqlGenerationHelper>();
            string Column(string property) => sql.DelimitIdentifier(entity.FindProperty(property)!.GetColumnName(store)!);
            return new Names(sql.DelimitIdentifier(table, schema), Column(nameof(TaskOutboxMessage.Id)), Column(nameof(TaskOutboxMessage.CreatedAt)),
                Column(nameof(TaskOutboxMessage.LockedUntil)), Column(nameof(TaskOutboxMessage.LockedBy)));
        }
    }
}
