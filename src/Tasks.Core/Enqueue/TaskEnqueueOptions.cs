using System;

namespace Tasks;

/// <summary>Per-message settings for <c>Enqueue</c>.</summary>
public sealed class TaskEnqueueOptions
{
    /// <summary>How long the message stays invisible before a worker may take it. Default: none.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>How long the message may wait in the queue before it expires. Default: the transport's (Azure: 7 days).</summary>
    public TimeSpan? TimeToLive { get; init; }

    /// <summary>
    /// The key that makes this task unique, in place of its arguments: while a task of the same name
    /// and key is enqueued or running (and younger than <see cref="UniqueFor"/>, or the task's
    /// <c>[AsyncTask(UniqueFor = ...)]</c>), <c>Enqueue</c> returns its id and sends nothing.
    /// </summary>
    public string? UniqueKey { get; init; }

    /// <summary>
    /// Run this task after task <c>After</c> (an id <c>Enqueue</c> returned) succeeds, or after it ends
    /// however it ends with <see cref="AfterAnyOutcome"/>: its record reads AwaitingParent until then. A
    /// dead-lettered parent keeps it waiting (a requeue that succeeds releases it); a cancelled one
    /// cancels it. The parent must have been enqueued with <see cref="AllowContinuations"/> (or have
    /// finished). Needs a record store. See <see cref="TaskClientFlows.EnqueueChainAsync"/> for a chain.
    /// </summary>
    public string? After { get; init; }

    /// <summary>With <see cref="After"/>: run after the parent ends whether it succeeded or was dead-lettered (not if it was cancelled). Default: false.</summary>
    public bool AfterAnyOutcome { get; init; }

    /// <summary>This task may have continuations (<see cref="After"/>): its worker releases them when it settles, one or two table calls more. Default: false.</summary>
    public bool AllowContinuations { get; init; }

    /// <summary>
    /// On a queue spread over several shards (Azure: <c>AzureQueueOptions.Shards</c>), sends every task of this
    /// key to the same shard, found by a hash of the key that every process computes alike; without a key, tasks
    /// go to the shards in turn, and to the next one when a shard does not answer. Ignored on a queue of one shard.
    /// </summary>
    public string? ShardKey { get; init; }

    /// <summary>Makes this enqueue unique for this long (see <see cref="UniqueKey"/>), in place of the task's <c>UniqueFor</c>.</summary>
    public TimeSpan? UniqueFor { get; init; }
}
