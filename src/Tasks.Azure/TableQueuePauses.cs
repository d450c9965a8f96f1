using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Data.Tables;

namespace Tasks.Azure;

/// <summary>
/// Paused queues in a table of the account (<c>{prefix}tasksqueues</c>): a row per paused queue, written by a pause and
/// deleted by a resume; every worker reads the whole partition once every <see cref="TaskWorkerOptions.PauseCheckInterval"/>.
/// </summary>
internal sealed class TableQueuePauses(AzureClients clients)
{
    private const string Partition = "paused";
    private readonly Lazy<TableClient> table = new(() => clients.Tables.GetTableClient(AzureTableTaskRecordStore.TablePrefix(clients.Options.QueuePrefix) + "tasksqueues"), LazyThreadSafetyMode.ExecutionAndPublication);

    public async ValueTask PauseAsync(string queue, CancellationToken cancellationToken)
    {
        var row = new TableEntity(Partition, queue) { ["Since"] = clients.Time.GetUtcNow() };
        try
        {
            await RunAsync(cancellationToken, () => table.Value.AddEntityAsync(row, cancellationToken)).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            // Paused already: its first pause's time stands.
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            await RunAsync(cancellationToken, () => table.Value.CreateIfNotExistsAsync(cancellationToken)).ConfigureAwait(false);
            await RunAsync(cancellationToken, () => table.Value.UpsertEntityAsync(row, TableUpdateMode.Replace, cancellationToken)).ConfigureAwait(false);
        }
    }

    public async ValueTask ResumeAsync(string queue, CancellationToken cancellationToken)
    {
        try
        {
            await RunAsync(cancellationToken, () => table.Value.DeleteEntityAsync(Partition, queue, ETag.All, cancellationToken)).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // Not paused, or no queue was ever paused here.
        }
    }

    public async ValueTask<IReadOnlyList<TaskQueuePause>> ListPausedAsync(CancellationToken cancellationToken)
    {
        var paused = new List<TaskQueuePause>();
        try
        {
            await RunAsync(cancellationToken, async () =>
            {
                await foreach (var row in table.Value.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {Partition}"), cancellationToken: cancellationToken).ConfigureAwait(false))
                    paused.Add(new TaskQueuePause(row.RowKey, row.GetDateTimeOffset("Since") ?? row.Timestamp ?? DateTimeOffset.MinValue));
            }).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return []; // no queue was ever paused on this account
        }

        return paused.OrderBy(p => p.Queue, StringComparer.Ordinal).ToArray();
    }

    private Task RunAsync(CancellationToken cancellationToken, Func<Task> call) => TableCalls.RunAsync(clients, "paused queues", cancellationToken, call);
}
