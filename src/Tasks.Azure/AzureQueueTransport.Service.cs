using System;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks.Azure;

/// <summary>The SDK clients: how they are made, retried, and how their failures are told apart.</summary>
public sealed partial class AzureQueueTransport
{
    /// <summary>One call to the queue service, through the guard every queue call goes through (<see cref="QueueCallGuard"/>).</summary>
    private Task<T> Guard<T>(string? azureQueue, CancellationToken cancellationToken, Func<Task<T>> call, string? endpoint = null)
        => calls.RunAsync(azureQueue, cancellationToken, call, endpoint);

    /// <summary>Whole seconds, at least <paramref name="delay"/> after any instant of the current second.</summary>
    private static TimeSpan AtLeast(TimeSpan delay)
        => delay <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Ceiling(delay.TotalSeconds)) + LeaseRounding;
}
