using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// What an operator asks of the queues: how many messages wait, and how many were dead-lettered.
/// Both transports implement it; resolve it from DI, or cast the transport.
/// </summary>
public interface ITaskQueueMonitor
{
    /// <summary>The messages in <paramref name="queue"/> and in its dead-letter store, as the service counts them.</summary>
    ValueTask<TaskQueueDepth> GetDepthAsync(string queue, CancellationToken cancellationToken = default);
}

/// <summary>How full a queue is.</summary>
/// <param name="Queue">The task queue's name (without a transport's prefix).</param>
/// <param name="Exists">False if the queue has not been created yet: no task was ever sent to it.</param>
/// <param name="Messages">
/// Messages in the queue: waiting, delayed and leased alike. Azure reports an approximate count
/// (it may lag for a few seconds); a pack of many tasks is one message.
/// </param>
/// <param name="DeadLetters">Dead letters of the queue (on Azure, approximately the messages of its poison queue).</param>
public sealed record TaskQueueDepth(string Queue, bool Exists, long Messages, long DeadLetters);
