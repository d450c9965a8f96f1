using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Data.Tables;

namespace Tasks.Azure;

/// <summary>
/// The places of limits across a fleet, in one Azure table of the account (<c>{prefix}taskslimits</c>): a partition per
/// limit and key, a row per place taken (<c>p000003</c>) and per task that waits (<c>w{id}</c>). A place is taken by
/// inserting its row, or by replacing a lapsed one under its ETag, so two workers never both take it; it is freed by
/// deleting the row under the ETag it was taken or last renewed with. What each costs is in docs/limits.md.
/// </summary>
internal sealed class TableLimitStore(AzureClients clients)
{
    private const string Places = "p";
    private const string Waiters = "w";

    private readonly Lazy<TableClient> table = new(() => clients.Tables.GetTableClient(AzureTableTaskRecordStore.TablePrefix(clients.Options.QueuePrefix) + "taskslimits"), LazyThreadSafetyMode.ExecutionAndPublication);

    // The places of each partition as this process last saw them: a lapsed one is taken under its ETag in one call,
    // and a free index tried first, so a place of a limit that is not full costs one call, not a read and a write.
    private readonly ConcurrentDictionary<string, LimitPlace[]> seen = new(StringComparer.Ordinal);
    private volatile bool created;

    public async ValueTask<LimitAcquisition> TryAcquireAsync(LimitScope scope, LimitHolder holder, DateTimeOffset now, DateTimeOffset until, CancellationToken cancellationToken)
    {
        var partition = Partition(scope);
        IReadOnlyList<LimitPlace> held = seen.TryGetValue(partition, out var cached) ? cached : [];
        for (var round = 0; round < 4; round++)
        {
            foreach (var index in Candidates(scope, held, now, fresh: round > 0 || cached is not null))
            {
                var lapsed = held.FirstOrDefault(p => p.Index == index);
                var place = new LimitPlace(scope, index, "", holder, until);
                var version = lapsed is null ? await TryAddAsync(partition, place, cancellationToken).ConfigureAwait(false) : await TryReplaceAsync(partition, place, lapsed.Version, cancellationToken).ConfigureAwait(false);
                if (version is null) continue;
                place = place with { Version = version };
                seen[partition] = [.. held.Where(p => p.Index != index), place];
                return new LimitAcquisition(place, []);
            }

            // Another worker took what this one last saw free: read the partition, and try what is free in it now.
            held = await ReadPlacesAsync(scope, partition, cancellationToken).ConfigureAwait(false);
            if (!Candidates(scope, held, now, fresh: true).Any()) return new LimitAcquisition(null, held.Where(p => p.Until > now).ToArray());
        }

        return new LimitAcquisition(null, held.Where(p => p.Until > now).ToArray());
    }

    public async ValueTask<LimitPlace?> RenewAsync(LimitPlace place, DateTimeOffset until, CancellationToken cancellationToken)
    {
        var renewed = place with { Until = until };
        var version = await TryReplaceAsync(Partition(place.Scope), renewed, place.Version, cancellationToken).ConfigureAwait(false);
        return version is null ? null : renewed with { Version = version };
    }

    public async ValueTask ReleaseAsync(LimitPlace place, CancellationToken cancellationToken)
    {
        var partition = Partition(place.Scope);
        await DeleteAsync(partition, PlaceRow(place.Index), new ETag(place.Version), cancellationToken).ConfigureAwait(false);
        seen.AddOrUpdate(partition, [], (_, places) => places.Where(p => p.Index != place.Index).ToArray()); // free, as far as this process knows
    }

    public async ValueTask<IReadOnlyList<LimitState>> ListAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var rows = new List<TableEntity>();
        try
        {
            await RunAsync(cancellationToken, async () =>
            {
                await foreach (var row in table.Value.QueryAsync<TableEntity>(cancellationToken: cancellationToken).ConfigureAwait(false)) rows.Add(row);
            }).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return []; // no limit was ever used on this account
        }

        var states = new List<LimitState>();
        foreach (var partition in rows.GroupBy(r => r.PartitionKey))
        {
            if (ScopeOf(partition.Key, partition.Max(r => r.GetInt32("Limit") ?? 0)) is not { } scope) continue;
            var held = partition.Where(r => r.RowKey.StartsWith(Places, StringComparison.Ordinal)).Select(r => PlaceOf(scope, r)).Where(p => p is not null && p.Until > now).ToArray();
            var waiting = partition.Where(r => r.RowKey.StartsWith(Waiters, StringComparison.Ordinal)).Select(r => new LimitWaiter(r.GetString("TaskId") ?? r.RowKey[1..], r.GetString("TaskName") ?? "", r.GetDateTimeOffset("Since") ?? now, r.GetDateTimeOffset("Until") ?? now)).OrderBy(w => w.Since).ToArray();
            if (held.Length > 0 || waiting.Length > 0) states.Add(new LimitState(scope, held!, waiting));
        }

        return states.OrderBy(s => s.Scope.Name, StringComparer.Ordinal).ThenBy(s => s.Scope.Key, StringComparer.Ordinal).ToArray();
    }

    public ValueTask NoteWaiterAsync(LimitScope scope, LimitWaiter waiter, CancellationToken cancellationToken)
        => WriteAsync(cancellationToken, () => table.Value.UpsertEntityAsync(new TableEntity(Partition(scope), Waiters + waiter.TaskId)
        {
            ["Limit"] = scope.Limit, ["TaskId"] = waiter.TaskId, ["TaskName"] = waiter.TaskName, ["Since"] = waiter.Since, ["Until"] = waiter.Until,
        }, TableUpdateMode.Replace, cancellationToken));

    public async ValueTask ForgetWaiterAsync(LimitScope scope, string taskId, CancellationToken cancellationToken)
        => await DeleteAsync(Partition(scope), Waiters + taskId, ETag.All, cancellationToken).ConfigureAwait(false);

    /// <summary>The places worth trying, in order: those never taken or freed (from a random one on, to spread workers), then lapsed ones.</summary>
    private static IEnumerable<int> Candidates(LimitScope scope, IReadOnlyList<LimitPlace> held, DateTimeOffset now, bool fresh)
    {
        if (!fresh)
        {
            yield return Random.Shared.Next(scope.Limit); // nothing known: one insert, the usual case for a limit that is not full
            yield break;
        }

        var taken = held.Where(p => p.Index < scope.Limit).ToDictionary(p => p.Index);
        var start = Random.Shared.Next(scope.Limit);
        for (var i = 0; i < scope.Limit; i++)
        {
            var index = (start + i) % scope.Limit;
            if (!taken.ContainsKey(index)) yield return index;
        }

        foreach (var lapsed in taken.Values.Where(p => p.Until <= now)) yield return lapsed.Index;
    }

    private async ValueTask<IReadOnlyList<LimitPlace>> ReadPlacesAsync(LimitScope scope, string partition, CancellationToken cancellationToken)
    {
        var places = new List<LimitPlace>();
        await RunAsync(cancellationToken, async () =>
        {
            var filter = TableClient.CreateQueryFilter($"PartitionKey eq {partition} and RowKey ge {Places} and RowKey lt {"q"}");
            await foreach (var row in table.Value.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                if (PlaceOf(scope, row) is { } place) places.Add(place);
            }
        }).ConfigureAwait(false);
        var read = places.ToArray();
        seen[partition] = read;
        return read;
    }

    /// <summary>Inserts a place's row: its ETag, or null if the place is taken.</summary>
    private async ValueTask<string?> TryAddAsync(string partition, LimitPlace place, CancellationToken cancellationToken)
    {
        try
        {
            Response? response = null;
            await WriteAsync(cancellationToken, async () => response = await table.Value.AddEntityAsync(Row(partition, place), cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
            return response!.Headers.ETag?.ToString();
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            return null;
        }
    }

    /// <summary>Replaces a place's row under <paramref name="version"/>: the new ETag, or null if another worker changed or freed it since.</summary>
    private async ValueTask<string?> TryReplaceAsync(string partition, LimitPlace place, string version, CancellationToken cancellationToken)
    {
        try
        {
            Response? response = null;
            await WriteAsync(cancellationToken, async () => response = await table.Value.UpdateEntityAsync(Row(partition, place), new ETag(version), TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
            return response!.Headers.ETag?.ToString();
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 412)
        {
            return null;
        }
    }

    private async ValueTask DeleteAsync(string partition, string row, ETag version, CancellationToken cancellationToken)
    {
        try
        {
            await RunAsync(cancellationToken, () => table.Value.DeleteEntityAsync(partition, row, version, cancellationToken)).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 412)
        {
            // Gone, or another worker's now: nothing of this holder's is left to free.
        }
    }

    /// <summary>A write, with the table made first if this is the account's first limit.</summary>
    private async ValueTask WriteAsync(CancellationToken cancellationToken, Func<Task> write)
    {
        try
        {
            await RunAsync(cancellationToken, write).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 404 && ex.ErrorCode == "TableNotFound" && !created)
        {
            await RunAsync(cancellationToken, () => table.Value.CreateIfNotExistsAsync(cancellationToken)).ConfigureAwait(false);
            created = true;
            await RunAsync(cancellationToken, write).ConfigureAwait(false);
        }
    }

    private Task RunAsync(CancellationToken cancellationToken, Func<Task> call) => TableCalls.RunAsync(clients, "task limits", cancellationToken, call);

    private static TableEntity Row(string partition, LimitPlace place) => new(partition, PlaceRow(place.Index))
    {
        ["Limit"] = place.Scope.Limit,
        ["TaskId"] = place.Holder.TaskId,
        ["TaskName"] = place.Holder.TaskName,
        ["Worker"] = place.Holder.Worker,
        ["Since"] = place.Holder.Since,
        ["Until"] = place.Until,
    };

    private static LimitPlace? PlaceOf(LimitScope scope, TableEntity row)
        => int.TryParse(row.RowKey.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var index) && row.GetDateTimeOffset("Until") is { } until
            ? new LimitPlace(scope, index, row.ETag.ToString(), new LimitHolder(row.GetString("TaskId") ?? "", row.GetString("TaskName") ?? "", row.GetString("Worker") ?? "", row.GetDateTimeOffset("Since") ?? until), until)
            : null;

    private static string PlaceRow(int index) => Places + index.ToString("D6", CultureInfo.InvariantCulture);

    /// <summary><c>c|{name}|{key}</c>, escaped: a table key takes no '/', '\', '#', '?' or control character.</summary>
    internal static string Partition(LimitScope scope)
        => $"{(scope.Kind == TaskLimitKind.Rate ? 'r' : 'c')}|{Escape(scope.Name)}|{Escape(scope.Key)}";

    private static LimitScope? ScopeOf(string partition, int limit)
    {
        var parts = partition.Split('|');
        return parts.Length == 3 && parts[0] is "c" or "r"
            ? new LimitScope(parts[0] == "r" ? TaskLimitKind.Rate : TaskLimitKind.Concurrency, Uri.UnescapeDataString(parts[1]), Uri.UnescapeDataString(parts[2]), limit)
            : null;
    }

    private static string Escape(string text)
    {
        var escaped = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (c is '/' or '\\' or '#' or '?' or '%' or '|' || char.IsControl(c)) escaped.Append('%').Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
            else escaped.Append(c);
        }

        // A key is at most 1 KiB: a longer one is kept by its start and a hash of the whole.
        if (escaped.Length <= 400) return escaped.ToString();
        var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..32];
        return escaped.ToString(0, 360) + "~" + hash;
    }
}
