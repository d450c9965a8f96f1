using System;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks.Azure;

/// <summary>The SDK clients: how they are made, retried, and how their failures are told apart.</summary>
public sealed partial class AzureQueueTransport
{
    /// <summary>
    /// Runs one call to the service; a failure becomes a <see cref="TaskTransportException"/> that says whether a retry
    /// may help, and names the queue as the account knows it (prefix and all, as an operator finds it), or none for a call on the account.
    /// Only the caller's own cancellation passes through as it is: a deadline that ends as the caller's token fires is still a fault.
    /// </summary>
    private async Task<T> Guard<T>(string? azureQueue, CancellationToken cancellationToken, Func<Task<T>> call, string? endpoint = null)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested) && AzureFaults.Classify(ex) is { } fault)
        {
            throw new TaskTransportException(
                (azureQueue is null ? $"Azure Queue service at {endpoint ?? Endpoint}: " : $"Azure queue '{azureQueue}' at {endpoint ?? Endpoint}: ") + fault.Problem + (fault.Fix is null ? "" : $" {fault.Fix}"),
                fault.IsTransient,
                ex);
        }
    }

    /// <summary>Whole seconds, at least <paramref name="delay"/> after any instant of the current second.</summary>
    private static TimeSpan AtLeast(TimeSpan delay)
        => delay <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Ceiling(delay.TotalSeconds)) + LeaseRounding;
}
