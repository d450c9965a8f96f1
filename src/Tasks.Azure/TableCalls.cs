using System;
using System.Threading;
using System.Threading.Tasks;
using Azure;

namespace Tasks.Azure;

/// <summary>
/// One call to the account's table service by a small store of the transport (limits, paused queues): what the layout
/// expects (a missing row or table, a conflict, a precondition) is rethrown as the SDK's for the caller to read; any
/// other fault becomes a <see cref="TaskTransportException"/> that names the endpoint and what the table keeps.
/// </summary>
internal static class TableCalls
{
    public static async Task RunAsync(AzureClients clients, string keeps, CancellationToken cancellationToken, Func<Task> call)
    {
        try
        {
            await call().ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status is 404 or 409 or 412)
        {
            throw;
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested) && AzureFaults.Classify(ex) is { } fault)
        {
            throw new TaskTransportException($"Azure Table service at {AzureClients.EndpointOf(clients.Tables.Uri)} ({keeps}): {fault.Problem}" + (fault.Fix is null ? "" : $" {fault.Fix}"), fault.IsTransient, ex);
        }
    }
}
