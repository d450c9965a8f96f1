using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// Sends tasks. Generated <c>Enqueue</c> methods call it; substitute it in a unit test to see the
/// task and its typed arguments without a queue.
/// </summary>
public interface ITaskClient
{
    /// <summary>Encodes and sends one task; returns the message id.</summary>
    ValueTask<string> EnqueueAsync<TArguments>(
        TaskDefinition<TArguments> task,
        TArguments arguments,
        TaskEnqueueOptions? options = null,
        CancellationToken cancellationToken = default)
        where TArguments : class;
}
