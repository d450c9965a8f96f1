using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>Chains of tasks, each run after the one before it succeeds.</summary>
public static class TaskClientFlows
{
    /// <summary>
    /// Enqueues <paramref name="first"/>, then each of <paramref name="then"/> as a continuation of the
    /// one before (<see cref="TaskEnqueueOptions.After"/>): charge, then ship, then mail. Each step's
    /// arguments are checked by the compiler where it is prepared (<c>XxxAsync.Prepare(...)</c>).
    /// Returns the ids, in order. On a <see cref="TaskClient"/> the chain is accepted whole or refused: every step is
    /// recorded before the first is sent, and a failure throws <see cref="TaskEnqueueException"/> before any step can run.
    /// </summary>
    public static async ValueTask<IReadOnlyList<string>> EnqueueChainAsync(this ITaskClient client, PreparedTask first, params PreparedTask[] then)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(then);
        if (client is TaskClient tasks) return await tasks.EnqueueChainAsync([first, .. then], CancellationToken.None).ConfigureAwait(false);
        var ids = new List<string>(then.Length + 1) { await first.EnqueueAsync(client, new TaskEnqueueOptions { AllowContinuations = then.Length > 0 }, CancellationToken.None).ConfigureAwait(false) };
        for (var i = 0; i < then.Length; i++)
            ids.Add(await then[i].EnqueueAsync(client, new TaskEnqueueOptions { After = ids[^1], AllowContinuations = i < then.Length - 1 }, CancellationToken.None).ConfigureAwait(false));
        return ids;
    }
}
