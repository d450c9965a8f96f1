using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;

namespace Tasks.Azure;

/// <summary>Queue depth, from the service's approximate message counts of a queue and its poison queue.</summary>
public sealed partial class AzureQueueTransport : ITaskQueueMonitor
{
    /// <inheritdoc />
    public async ValueTask<TaskQueueDepth> GetDepthAsync(string queue, CancellationToken cancellationToken = default)
    {
        var messages = await CountAsync(queue, envelopeService.GetQueueClient(QueueName(queue)), cancellationToken).ConfigureAwait(false);
        var deadLetters = await CountAsync(queue, textService.GetQueueClient(PoisonQueueName(queue)), cancellationToken).ConfigureAwait(false);
        return new TaskQueueDepth(queue, messages is not null, messages ?? 0, deadLetters ?? 0);
    }

    /// <summary>The approximate count of <paramref name="client"/>'s queue, or null if it does not exist.</summary>
    private async Task<long?> CountAsync(string queue, QueueClient client, CancellationToken cancellationToken)
    {
        try
        {
            QueueProperties properties = await Guard(queue, cancellationToken, () => client.GetPropertiesAsync(cancellationToken)).ConfigureAwait(false);
            return properties.ApproximateMessagesCount;
        }
        catch (TaskTransportException ex) when (ex.InnerException is RequestFailedException { ErrorCode: var code } && code == QueueErrorCode.QueueNotFound)
        {
            return null;
        }
    }
}
