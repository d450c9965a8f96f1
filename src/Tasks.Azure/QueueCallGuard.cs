using System;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;

namespace Tasks.Azure;

/// <summary>
/// Runs one call to an account's queue service; a failure becomes a <see cref="TaskTransportException"/> that says
/// whether a retry may help, and names the queue as the account knows it (prefix and all, as an operator finds it),
/// or none for a call on the account. Only the caller's own cancellation passes through as it is: a deadline that
/// ends as the caller's token fires is still a fault. Every queue call of the transport's services goes through it.
/// </summary>
internal sealed class QueueCallGuard(string endpoint)
{
    public async Task<T> RunAsync<T>(string? azureQueue, CancellationToken cancellationToken, Func<Task<T>> call, string? otherEndpoint = null)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested) && AzureFaults.Classify(ex) is { } fault)
        {
            throw new TaskTransportException(
                (azureQueue is null ? $"Azure Queue service at {otherEndpoint ?? endpoint}: " : $"Azure queue '{azureQueue}' at {otherEndpoint ?? endpoint}: ") + fault.Problem + (fault.Fix is null ? "" : $" {fault.Fix}"),
                fault.IsTransient,
                ex);
        }
    }

    /// <summary>The properties (approximate count, metadata) of <paramref name="client"/>'s queue, or null if it does not exist.</summary>
    public async Task<QueueProperties?> PropertiesAsync(QueueClient client, CancellationToken cancellationToken, string? otherEndpoint = null)
    {
        try
        {
            return await RunAsync(client.Name, cancellationToken, async () => (await client.GetPropertiesAsync(cancellationToken).ConfigureAwait(false)).Value, otherEndpoint).ConfigureAwait(false);
        }
        catch (TaskTransportException ex) when (IsQueueNotFound(ex))
        {
            return null;
        }
    }

    public static bool IsQueueNotFound(TaskTransportException ex)
        => ex.InnerException is RequestFailedException { ErrorCode: var code } && code == QueueErrorCode.QueueNotFound;

    public Task RunAsync(string? azureQueue, CancellationToken cancellationToken, Func<Task> call)
        => RunAsync(azureQueue, cancellationToken, async () =>
        {
            await call().ConfigureAwait(false);
            return true;
        });
}
