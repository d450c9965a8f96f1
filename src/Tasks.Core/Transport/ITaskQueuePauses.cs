using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks.Transports;

/// <summary>
/// Queues paused across every worker: a worker reads which are paused every <see cref="TaskWorkerOptions.PauseCheckInterval"/>
/// and receives nothing from them until they are resumed. Their messages stay as they are: not received, not touched,
/// no attempt used (they still expire at the end of their time to live). Both transports implement it.
/// </summary>
public interface ITaskQueuePauses
{
    /// <summary>Pauses <paramref name="queue"/> for every worker (a second pause keeps the first one's time).</summary>
    ValueTask PauseAsync(string queue, CancellationToken cancellationToken);

    /// <summary>Resumes <paramref name="queue"/>: workers receive from it again within their <see cref="TaskWorkerOptions.PauseCheckInterval"/>.</summary>
    ValueTask ResumeAsync(string queue, CancellationToken cancellationToken);

    /// <summary>The queues paused now, with when each was paused.</summary>
    ValueTask<IReadOnlyList<TaskQueuePause>> ListPausedAsync(CancellationToken cancellationToken);
}

/// <summary>A paused queue.</summary>
/// <param name="Queue">The task queue (without a transport's prefix).</param>
/// <param name="Since">When it was paused.</param>
public sealed record TaskQueuePause(string Queue, DateTimeOffset Since);
