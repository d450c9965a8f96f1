using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>
/// Cancel requests as this worker knows them: the runs it has now (so a request finds its run, and heartbeats name
/// them), the requests read from the record store (one query per poll, whatever it runs), and the tasks an operator
/// deleted (nothing more is written of them, so their records stay gone).
/// </summary>
internal sealed class CancelRequests(TaskRecordWriter? records, ILogger logger, TimeProvider time)
{
    /// <summary>The longest a message waits in an Azure queue: older requests can be forgotten.</summary>
    public static readonly TimeSpan LookBack = TimeSpan.FromDays(7);

    // Each poll reads again the requests of the last two minutes: clocks may differ that much.
    private static readonly TimeSpan Overlap = TimeSpan.FromMinutes(2);

    private readonly ConcurrentDictionary<string, (RunCancellation Cancellation, string Queue)> runs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> requested = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> deleted = new(StringComparer.Ordinal);

    /// <summary>Whether tasks are cancelled by id here (records on, with cancellation).</summary>
    public bool Enabled => records is { Options.Cancellation: true };

    /// <summary>Where the next poll starts reading.</summary>
    public DateTimeOffset Since { get; set; }

    /// <summary>True if a cancel request for task <paramref name="id"/> was read: it must not run.</summary>
    public bool IsRequested(string id) => Enabled && requested.ContainsKey(id);

    /// <summary>True if an operator deleted task <paramref name="id"/>: nothing more is written of it.</summary>
    public bool IsDeleted(string id) => deleted.ContainsKey(id);

    /// <summary>The runs of this worker now, for its heartbeat.</summary>
    public (string Id, string Queue)[] Running() => runs.ToArray().Select(r => (r.Key, r.Value.Queue)).ToArray();

    /// <summary>Registers a run so a cancel request can reach it; false if its task was cancelled before it started (it must not run). End with <see cref="RunEnded"/>.</summary>
    public bool RunStarting(string id, string queue, RunCancellation cancellation)
    {
        if (records is null) return true;
        runs[id] = (cancellation, queue);
        if (!IsRequested(id)) return true;
        runs.TryRemove(id, out _);
        return false;
    }

    public void RunEnded(string id)
    {
        if (records is not null) runs.TryRemove(id, out _);
    }

    /// <summary>
    /// Reads the cancel requests since the last poll and fires the token of each such task this worker runs. The next
    /// poll starts a little before this one, so a request the store stamped by a clock behind ours is not missed (those
    /// read twice are known already).
    /// </summary>
    public async Task PollAsync(CancellationToken cancellationToken)
    {
        var polled = time.GetUtcNow();
        foreach (var (id, deletedToo) in await records!.Store.ReadCancelRequestsAsync(Since, cancellationToken).ConfigureAwait(false))
        {
            if (deletedToo) deleted.TryAdd(id, polled);
            if (!requested.TryAdd(id, polled)) continue;
            if (runs.TryGetValue(id, out var run))
            {
                WorkerLog.CancelRequested(logger, id);
                run.Cancellation.CancelByRequest();
            }
        }

        foreach (var (id, seen) in requested)
        {
            if (seen < polled - LookBack) requested.TryRemove(id, out _);
        }

        foreach (var (id, seen) in deleted)
        {
            if (seen < polled - LookBack) deleted.TryRemove(id, out _);
        }

        if (polled - Overlap > Since) Since = polled - Overlap;
    }
}
