using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// The table operations a record store implements, as the services over it see them (<see cref="TaskRecordStore"/>
/// implements it with its protected members). Each throws <see cref="RecordTableMissingException"/> for a table that
/// does not exist; <see cref="RecordTables"/> has the forms that create it or read it as empty.
/// </summary>
internal interface IRecordTables
{
    /// <summary>Inserts rows of one partition in one transaction; false, with nothing written, if any of them exists.</summary>
    ValueTask<bool> InsertAsync(string table, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken);

    /// <summary>Merges rows of one partition into what is there (creating what is not), in one transaction.</summary>
    ValueTask MergeAsync(string table, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken);

    /// <summary>Writes a row whole; with <paramref name="expectedETag"/>, only if the row is still that version.</summary>
    ValueTask<bool> ReplaceAsync(string table, RecordEntity row, string? expectedETag, CancellationToken cancellationToken);

    ValueTask<RecordEntity?> ReadAsync(string table, string partition, string row, CancellationToken cancellationToken);

    ValueTask<bool> DeleteAsync(string table, string partition, string row, string? expectedETag, CancellationToken cancellationToken);

    ValueTask<IReadOnlyList<RecordEntity>> QueryAsync(string table, RecordQuery query, CancellationToken cancellationToken);

    ValueTask CreateTableAsync(string table, CancellationToken cancellationToken);

    ValueTask DropTableAsync(string table, CancellationToken cancellationToken);

    ValueTask<IReadOnlyList<string>> ListTablesAsync(CancellationToken cancellationToken);
}

/// <summary>The table operations as the services use them: a write creates its table, a read of a missing table finds nothing.</summary>
internal static class RecordTables
{
    /// <summary>The most rows a store takes in one batch (Azure Table storage: 100 per transaction).</summary>
    public const int MaxBatch = 100;

    /// <summary>A row, or null if it or its table does not exist.</summary>
    public static async Task<RecordEntity?> ReadRowAsync(this IRecordTables tables, string table, string partition, string row, CancellationToken cancellationToken)
    {
        try
        {
            return await tables.ReadAsync(table, partition, row, cancellationToken).ConfigureAwait(false);
        }
        catch (RecordTableMissingException)
        {
            return null;
        }
    }

    /// <summary>A record group member's part of its group's row (in the live table), as a row of its own; null for a task of its own, or if there is none.</summary>
    public static async Task<RecordEntity?> ReadGroupMemberAsync(this IRecordTables tables, string id, DateTimeOffset due, CancellationToken cancellationToken)
    {
        if (TaskHeaders.GroupOf(id) is not { } group) return null;
        var row = await tables.ReadRowAsync(RecordFormat.LiveTable(due), RecordFormat.RecordPartition(group.GroupId), RecordFormat.RecordRow(group.GroupId, due), cancellationToken).ConfigureAwait(false);
        return row is null ? null : RecordFormat.MemberEntity(row, id, group.Index);
    }

    /// <summary>The rows of a range, none if the table does not exist.</summary>
    public static async Task<IReadOnlyList<RecordEntity>> QueryOrEmptyAsync(this IRecordTables tables, string table, RecordQuery query, CancellationToken cancellationToken)
    {
        try
        {
            return await tables.QueryAsync(table, query, cancellationToken).ConfigureAwait(false);
        }
        catch (RecordTableMissingException)
        {
            return Array.Empty<RecordEntity>();
        }
    }

    /// <summary>Deletes a row; false if it, or its table (dropped by retention), is gone.</summary>
    public static async Task<bool> DeleteIfThereAsync(this IRecordTables tables, string table, string partition, string row, string? expectedETag, CancellationToken cancellationToken)
    {
        try
        {
            return await tables.DeleteAsync(table, partition, row, expectedETag, cancellationToken).ConfigureAwait(false);
        }
        catch (RecordTableMissingException)
        {
            return false;
        }
    }

    /// <summary>Runs a write; if its table does not exist yet, creates it and runs the write again.</summary>
    public static async Task<bool> WithTableAsync(this IRecordTables tables, string table, Func<ValueTask<bool>> write)
    {
        try
        {
            return await write().ConfigureAwait(false);
        }
        catch (RecordTableMissingException)
        {
            await tables.CreateTableAsync(table, CancellationToken.None).ConfigureAwait(false);
            return await write().ConfigureAwait(false);
        }
    }

    /// <summary>Merges rows of one partition, creating the table if need be.</summary>
    public static Task MergeInAsync(this IRecordTables tables, string table, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken)
        => tables.WithTableAsync(table, async () =>
        {
            await tables.MergeAsync(table, rows, cancellationToken).ConfigureAwait(false);
            return true;
        });

    /// <summary>Inserts one row, creating the table if need be; false if it exists.</summary>
    public static Task<bool> InsertRowAsync(this IRecordTables tables, string table, RecordEntity row, CancellationToken cancellationToken)
        => tables.WithTableAsync(table, () => tables.InsertAsync(table, [row], cancellationToken));

    /// <summary>Replaces one row, creating the table if need be.</summary>
    public static Task<bool> ReplaceInAsync(this IRecordTables tables, string table, RecordEntity row, string? expectedETag, CancellationToken cancellationToken)
        => tables.WithTableAsync(table, () => tables.ReplaceAsync(table, row, expectedETag, cancellationToken));
}
