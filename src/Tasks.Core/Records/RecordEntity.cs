using System;
using System.Collections.Generic;

namespace Tasks.Transports;

/// <summary>
/// A row of a record table, as <see cref="TaskRecordStore"/> reads and writes it: a partition key, a
/// row key and typed properties (string, int, long, double, bool, <see cref="DateTimeOffset"/>), as
/// in Azure Table storage. Store authors map it to their service's rows.
/// </summary>
public sealed class RecordEntity
{
    /// <summary>Creates a row.</summary>
    public RecordEntity(string partitionKey, string rowKey)
    {
        PartitionKey = partitionKey;
        RowKey = rowKey;
    }

    /// <summary>The partition key.</summary>
    public string PartitionKey { get; }

    /// <summary>The row key, unique in its partition.</summary>
    public string RowKey { get; }

    /// <summary>The version a conditional write names (an ETag), set when the row was read.</summary>
    public string? ETag { get; set; }

    /// <summary>When the service last wrote the row (its own clock), set when the row was read.</summary>
    public DateTimeOffset? Timestamp { get; set; }

    /// <summary>The properties. A null value is not written.</summary>
    public Dictionary<string, object?> Properties { get; } = new(StringComparer.Ordinal);

    /// <summary>A property, or null if the row has none of that name or type.</summary>
    public T? Get<T>(string name) where T : struct
        => Properties.TryGetValue(name, out var value) && value is T typed ? typed : null;

    /// <summary>A string property, or null.</summary>
    public string? GetString(string name) => Properties.TryGetValue(name, out var value) ? value as string : null;

    /// <summary>Sets a property, if <paramref name="value"/> is not null.</summary>
    public RecordEntity Set(string name, object? value)
    {
        if (value is not null) Properties[name] = value;
        return this;
    }
}

/// <summary>A range query within one partition of a record table.</summary>
/// <param name="Partition">The partition key.</param>
/// <param name="RowFrom">Rows whose key is greater than this (exclusive), or null from the first.</param>
/// <param name="RowTo">Rows whose key is less than this (exclusive), or null to the last.</param>
/// <param name="Equal">Properties that must equal these strings.</param>
/// <param name="TimestampFrom">Only rows the service wrote at or after this time, or null.</param>
/// <param name="Top">At most this many rows, in row-key order; null for all.</param>
public sealed record RecordQuery(string Partition, string? RowFrom = null, string? RowTo = null, IReadOnlyList<KeyValuePair<string, string>>? Equal = null, DateTimeOffset? TimestampFrom = null, int? Top = null);

/// <summary>A record table that does not exist (never created, or dropped by retention).</summary>
public sealed class RecordTableMissingException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RecordTableMissingException(string table, Exception? innerException = null)
        : base($"The record table '{table}' does not exist.", innerException) => Table = table;

    /// <summary>The table's name, as the store knows it (without a service's prefix).</summary>
    public string Table { get; }
}
