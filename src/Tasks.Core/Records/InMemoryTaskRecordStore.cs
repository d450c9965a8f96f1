using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Task records inside this process, beside the in-memory transport: the same day tables, keys and
/// retention as Azure Table storage, in dictionaries. Nothing survives the process.
/// </summary>
public sealed class InMemoryTaskRecordStore : TaskRecordStore
{
    private readonly object gate = new();
    private readonly Dictionary<string, SortedDictionary<(string Partition, string Row), RecordEntity>> tables = new(StringComparer.Ordinal);
    private long version;

    /// <summary>Creates an empty store.</summary>
    public InMemoryTaskRecordStore(TaskRecordOptions? options = null, TimeProvider? timeProvider = null)
        : base(options, timeProvider)
    {
    }

    /// <summary>The tables there are now, for tests of retention.</summary>
    public IReadOnlyList<string> Tables
    {
        get { lock (gate) return tables.Keys.OrderBy(t => t, StringComparer.Ordinal).ToArray(); }
    }

    /// <summary>How many table operations the store has served: what it would cost on a service that charges per operation.</summary>
    public long Operations => Interlocked.Read(ref operations);

    private long operations;

    /// <summary>A test's outage: while true, every table operation fails as a store that does not answer.</summary>
    internal bool Unavailable { get; set; }

    private void ThrowIfUnavailable()
    {
        if (Unavailable) throw new TaskTransportException("The in-memory record store is unavailable (a test's outage).", isTransient: true);
    }

    /// <inheritdoc />
    public override string Describe() => "in memory";

    /// <inheritdoc />
    protected override ValueTask<bool> InsertAsync(string table, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken)
    {
        ThrowIfUnavailable();
        lock (gate)
        {
            var rowsOf = Table(table);
            if (rows.Any(r => rowsOf.ContainsKey((r.PartitionKey, r.RowKey)))) return new(false);
            foreach (var row in rows) rowsOf[(row.PartitionKey, row.RowKey)] = Stored(row);
            return new(true);
        }
    }

    /// <inheritdoc />
    protected override ValueTask MergeAsync(string table, IReadOnlyList<RecordEntity> rows, CancellationToken cancellationToken)
    {
        ThrowIfUnavailable();
        lock (gate)
        {
            var rowsOf = Table(table);
            foreach (var row in rows)
            {
                var stored = rowsOf.TryGetValue((row.PartitionKey, row.RowKey), out var existing) ? Copy(existing) : new RecordEntity(row.PartitionKey, row.RowKey);
                foreach (var (name, value) in row.Properties) stored.Properties[name] = value;
                rowsOf[(row.PartitionKey, row.RowKey)] = Stored(stored);
            }
        }

        return default;
    }

    /// <inheritdoc />
    protected override ValueTask<bool> ReplaceAsync(string table, RecordEntity row, string? expectedETag, CancellationToken cancellationToken)
    {
        ThrowIfUnavailable();
        lock (gate)
        {
            var rowsOf = Table(table);
            if (expectedETag is not null && (!rowsOf.TryGetValue((row.PartitionKey, row.RowKey), out var existing) || existing.ETag != expectedETag)) return new(false);
            rowsOf[(row.PartitionKey, row.RowKey)] = Stored(row);
            return new(true);
        }
    }

    /// <inheritdoc />
    protected override ValueTask<RecordEntity?> ReadAsync(string table, string partition, string row, CancellationToken cancellationToken)
    {
        ThrowIfUnavailable();
        lock (gate) return new(Table(table).TryGetValue((partition, row), out var found) ? Copy(found) : null);
    }

    /// <inheritdoc />
    protected override ValueTask<bool> DeleteAsync(string table, string partition, string row, string? expectedETag, CancellationToken cancellationToken)
    {
        ThrowIfUnavailable();
        lock (gate)
        {
            var rowsOf = Table(table);
            if (!rowsOf.TryGetValue((partition, row), out var existing) || (expectedETag is not null && existing.ETag != expectedETag)) return new(false);
            return new(rowsOf.Remove((partition, row)));
        }
    }

    /// <inheritdoc />
    protected override ValueTask<IReadOnlyList<RecordEntity>> QueryAsync(string table, RecordQuery query, CancellationToken cancellationToken)
    {
        ThrowIfUnavailable();
        lock (gate)
        {
            IEnumerable<RecordEntity> rows = Table(table)
                .Where(r => r.Key.Partition == query.Partition
                    && (query.RowFrom is null || string.CompareOrdinal(r.Key.Row, query.RowFrom) > 0)
                    && (query.RowTo is null || string.CompareOrdinal(r.Key.Row, query.RowTo) < 0)
                    && (query.TimestampFrom is null || r.Value.Timestamp >= query.TimestampFrom)
                    && (query.Equal ?? []).All(e => r.Value.GetString(e.Key) == e.Value))
                .Select(r => Copy(r.Value));
            if (query.Top is { } top) rows = rows.Take(top);
            return new(rows.ToArray());
        }
    }

    /// <inheritdoc />
    protected override ValueTask CreateTableAsync(string table, CancellationToken cancellationToken)
    {
        ThrowIfUnavailable();
        lock (gate)
        {
            Interlocked.Increment(ref operations);
            if (!tables.ContainsKey(table)) tables[table] = new SortedDictionary<(string, string), RecordEntity>(RowOrder.Instance);
        }

        return default;
    }

    /// <inheritdoc />
    protected override ValueTask DropTableAsync(string table, CancellationToken cancellationToken)
    {
        ThrowIfUnavailable();
        lock (gate)
        {
            Interlocked.Increment(ref operations);
            tables.Remove(table);
        }

        return default;
    }

    /// <inheritdoc />
    protected override ValueTask<IReadOnlyList<string>> ListTablesAsync(CancellationToken cancellationToken)
    {
        ThrowIfUnavailable();
        lock (gate)
        {
            Interlocked.Increment(ref operations);
            return new(tables.Keys.ToArray());
        }
    }

    /// <summary>For tests of an outage: while set, every operation throws what it returns.</summary>
    internal Func<Exception>? Fault { get; set; }

    private SortedDictionary<(string Partition, string Row), RecordEntity> Table(string table)
    {
        Interlocked.Increment(ref operations);
        if (Fault?.Invoke() is { } fault) throw fault;
        return tables.TryGetValue(table, out var rows) ? rows : throw new RecordTableMissingException(table);
    }

    private RecordEntity Stored(RecordEntity row)
    {
        var stored = Copy(row);
        stored.ETag = (++version).ToString(System.Globalization.CultureInfo.InvariantCulture);
        stored.Timestamp = Time.GetUtcNow();
        return stored;
    }

    private static RecordEntity Copy(RecordEntity row)
    {
        var copy = new RecordEntity(row.PartitionKey, row.RowKey) { ETag = row.ETag, Timestamp = row.Timestamp };
        foreach (var (name, value) in row.Properties) copy.Properties[name] = value;
        return copy;
    }

    /// <summary>Partition, then row, ordinal: the order Azure Table storage returns rows in.</summary>
    private sealed class RowOrder : IComparer<(string Partition, string Row)>
    {
        public static readonly RowOrder Instance = new();

        public int Compare((string Partition, string Row) x, (string Partition, string Row) y)
        {
            var partition = string.CompareOrdinal(x.Partition, y.Partition);
            return partition != 0 ? partition : string.CompareOrdinal(x.Row, y.Row);
        }
    }
}
