using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Data.Tables;

namespace Tasks.Azure;

/// <summary>
/// Task records in Azure Table storage, in the account of the queues: one row per task in a table
/// per UTC day (<c>{prefix}tasks20261203</c>), dropped whole when its retention ends, a second table
/// per day for dead-lettered and cancelled tasks, cancel requests and counters
/// (<c>{prefix}tasksfailed20261203</c>), and a table each for worker heartbeats and unique locks.
/// See docs/records.md for the layout and what it costs.
/// </summary>
public sealed class AzureTableTaskRecordStore : TaskRecordStore
{
    private readonly TableServiceClient service;
    private readonly string prefix;

    /// <summary>Creates the store on the account <paramref name="options"/> name (the queues' account). Nothing is sent until it is used.</summary>
    /// <param name="options">The account: its connection string, or service URI and credential; its queue prefix prefixes the tables (letters and digits only).</param>
    /// <param name="records">Retention and the rest; the defaults if null.</param>
    /// <param name="timeProvider">The clock of retention, scheduled states and gone workers.</param>
    public AzureTableTaskRecordStore(AzureQueueOptions options, TaskRecordOptions? records = null, TimeProvider? timeProvider = null)
        : this(new AzureClients(options, timeProvider), records, timeProvider)
    {
    }

    internal AzureTableTaskRecordStore(AzureClients clients, TaskRecordOptions? records, TimeProvider? timeProvider)
        : base(records, timeProvider)
    {
        Clients = clients;
        service = clients.Tables;
        prefix = TablePrefix(clients.Options.QueuePrefix);
        Endpoint = AzureClients.EndpointOf(service.Uri);
    }

    /// <summary>The SDK clients of the account, shared with the transport in a host.</summary>
    internal AzureClients Clients { get; }

    /// <summary>The table service endpoint, without credentials.</summary>
    public string Endpoint { get; }

    /// <inheritdoc />
    public override string Describe() => $"Azure Table storage at {Endpoint}" + (prefix.Length == 0 ? "" : $" (table prefix '{prefix}')");

    /// <inheritdoc />
    public override async ValueTask CheckAsync(CancellationToken cancellationToken = default) => await ListTablesAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>The table prefix of a queue prefix: its letters and digits (table names allow nothing else), starting with a letter.</summary>
    internal static string TablePrefix(string? queuePrefix)
    {
        var letters = new string((queuePrefix ?? "").Where(char.IsAsciiLetterOrDigit).ToArray()).ToLowerInvariant();
        return letters.Length > 0 && char.IsAsciiDigit(letters[0]) ? "t" + letters : letters;
    }

    /// <inheritdoc />
    protected override ValueTask<bool> InsertAsync(string table, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken)
        => Guard(async () =>
        {
            try
            {
                if (rows.Count == 1) await Table(table).AddEntityAsync(ToTable(rows[0]), cancellationToken).ConfigureAwait(false);
                else await Table(table).SubmitTransactionAsync(rows.Select(r => new TableTransactionAction(TableTransactionActionType.Add, ToTable(r))), cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (RequestFailedException ex) when (ex.Status == 409 && ex.ErrorCode != "TableBeingDeleted")
            {
                return false;
            }
            catch (RequestFailedException ex) when (IsTableMissing(ex))
            {
                throw new RecordTableMissingException(table, ex);
            }
        });

    /// <inheritdoc />
    protected override ValueTask MergeAsync(string table, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken)
        => Guard(async () =>
        {
            try
            {
                if (rows.Count == 1) await Table(table).UpsertEntityAsync(ToTable(rows[0]), TableUpdateMode.Merge, cancellationToken).ConfigureAwait(false);
                else await Table(table).SubmitTransactionAsync(rows.Select(r => new TableTransactionAction(TableTransactionActionType.UpsertMerge, ToTable(r))), cancellationToken).ConfigureAwait(false);
            }
            catch (RequestFailedException ex) when (IsTableMissing(ex))
            {
                throw new RecordTableMissingException(table, ex);
            }
        });

    /// <inheritdoc />
    protected override ValueTask<bool> ReplaceAsync(string table, RecordEntity row, string? expectedETag, CancellationToken cancellationToken)
        => Guard(async () =>
        {
            try
            {
                if (expectedETag is null) await Table(table).UpsertEntityAsync(ToTable(row), TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
                else await Table(table).UpdateEntityAsync(ToTable(row), new ETag(expectedETag), TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (RequestFailedException ex) when (IsTableMissing(ex))
            {
                throw new RecordTableMissingException(table, ex);
            }
            catch (RequestFailedException ex) when (ex.Status is 404 or 412)
            {
                return false;
            }
        });

    /// <inheritdoc />
    protected override ValueTask<RecordEntity?> ReadAsync(string table, string partition, string row, CancellationToken cancellationToken)
        => Guard(async () =>
        {
            try
            {
                var found = await Table(table).GetEntityIfExistsAsync<TableEntity>(partition, row, cancellationToken: cancellationToken).ConfigureAwait(false);
                return found.HasValue ? FromTable(found.Value!) : null;
            }
            catch (RequestFailedException ex) when (IsTableMissing(ex))
            {
                throw new RecordTableMissingException(table, ex);
            }
        });

    /// <inheritdoc />
    protected override ValueTask<bool> DeleteAsync(string table, string partition, string row, string? expectedETag, CancellationToken cancellationToken)
        => Guard(async () =>
        {
            try
            {
                var response = await Table(table).DeleteEntityAsync(partition, row, expectedETag is null ? ETag.All : new ETag(expectedETag), cancellationToken).ConfigureAwait(false);
                return response.Status != 404;
            }
            catch (RequestFailedException ex) when (IsTableMissing(ex))
            {
                throw new RecordTableMissingException(table, ex);
            }
            catch (RequestFailedException ex) when (ex.Status is 404 or 412)
            {
                return false;
            }
        });

    /// <inheritdoc />
    protected override ValueTask<IReadOnlyList<RecordEntity>> QueryAsync(string table, RecordQuery query, CancellationToken cancellationToken)
        => Guard<IReadOnlyList<RecordEntity>>(async () =>
        {
            var filter = TableClient.CreateQueryFilter($"PartitionKey eq {query.Partition}");
            if (query.RowFrom is { } from) filter += " and " + TableClient.CreateQueryFilter($"RowKey gt {from}");
            if (query.RowTo is { } to) filter += " and " + TableClient.CreateQueryFilter($"RowKey lt {to}");
            if (query.TimestampFrom is { } since) filter += " and " + TableClient.CreateQueryFilter($"Timestamp ge {since}");
            foreach (var (name, value) in query.Equal ?? [])
                filter += $" and {name} eq " + TableClient.CreateQueryFilter($"{value}");
            var rows = new List<RecordEntity>();
            try
            {
                await foreach (var entity in Table(table).QueryAsync<TableEntity>(filter, maxPerPage: query.Top is { } top ? Math.Min(top, 1000) : null, cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    rows.Add(FromTable(entity));
                    if (rows.Count == query.Top) break;
                }
            }
            catch (RequestFailedException ex) when (IsTableMissing(ex))
            {
                throw new RecordTableMissingException(table, ex);
            }

            return rows;
        });

    /// <inheritdoc />
    protected override ValueTask CreateTableAsync(string table, CancellationToken cancellationToken)
        => Guard(async () => { await Table(table).CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false); });

    /// <inheritdoc />
    protected override ValueTask DropTableAsync(string table, CancellationToken cancellationToken)
        => Guard(async () => { await Table(table).DeleteAsync(cancellationToken).ConfigureAwait(false); });

    /// <summary>
    /// Runs one call to the service; a failure other than those the layout expects (a missing table, a
    /// conflict) becomes a <see cref="TaskTransportException"/> that names the endpoint, says whether a
    /// retry may help and what to fix, never a secret or a page of SDK retries.
    /// </summary>
    private async ValueTask<T> Guard<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not (RecordTableMissingException or OperationCanceledException) && AzureFaults.Classify(ex) is { } fault)
        {
            throw new TaskTransportException(
                $"Azure Table service at {Endpoint} (task records): {fault.Problem}" + (fault.Fix is null ? "" : " " + fault.Fix.Replace("'Storage Queue Data Contributor'", "'Storage Table Data Contributor'", StringComparison.Ordinal)) +
                (fault.IsTransient ? "" : " Or turn records off: UseTaskRecords(o => o.Enabled = false)."),
                fault.IsTransient,
                ex);
        }
    }

    private async ValueTask Guard(Func<Task> call) => await Guard(async () => { await call().ConfigureAwait(false); return true; }).ConfigureAwait(false);

    /// <inheritdoc />
    protected override ValueTask<IReadOnlyList<string>> ListTablesAsync(CancellationToken cancellationToken)
        => Guard<IReadOnlyList<string>>(async () =>
        {
            var names = new List<string>();
            var first = prefix + "tasks";
            await foreach (var table in service.QueryAsync(TableClient.CreateQueryFilter($"TableName ge {first} and TableName lt {first + "~"}"), cancellationToken: cancellationToken).ConfigureAwait(false))
                names.Add(table.Name[prefix.Length..]);
            return names;
        });

    private TableClient Table(string table) => service.GetTableClient(prefix + table);

    private static bool IsTableMissing(RequestFailedException ex) => ex.Status == 404 && ex.ErrorCode == "TableNotFound";

    private static TableEntity ToTable(RecordEntity row)
    {
        var entity = new TableEntity(row.PartitionKey, row.RowKey);
        foreach (var (name, value) in row.Properties)
        {
            if (value is not null) entity[name] = value;
        }

        return entity;
    }

    private static RecordEntity FromTable(TableEntity entity)
    {
        var row = new RecordEntity(entity.PartitionKey, entity.RowKey) { ETag = entity.ETag.ToString(), Timestamp = entity.Timestamp };
        foreach (var (name, value) in entity)
        {
            if (name is "PartitionKey" or "RowKey" or "Timestamp" or "odata.etag") continue;
            row.Properties[name] = value is DateTime time ? new DateTimeOffset(DateTime.SpecifyKind(time, DateTimeKind.Utc)) : value;
        }

        return row;
    }
}
