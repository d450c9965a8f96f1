using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>
/// The worker's own business with the record store, beside its runs: the check at start (and the cancel requests of
/// the last week, read before the first receive), then one loop for its heartbeat, cancel polls, the sweep of batch
/// callbacks left unsent, and the expiry of tables past their retention; the last heartbeat and flush at stop.
/// </summary>
internal sealed class RecordKeeping(
    TaskRecordWriter records,
    CancelRequests cancels,
    FlowCoordinator flows,
    TaskWorkerIdentity identity,
    Func<IReadOnlyCollection<string>> queues,
    ILogger logger,
    TimeProvider time)
{
    private static readonly TimeSpan ExpiryInterval = TimeSpan.FromHours(1);
    private static readonly TimeSpan CallbackSweepInterval = TimeSpan.FromSeconds(10);
    private readonly CancellationTokenSource stop = new();
    private Task loop = Task.CompletedTask;
    private DateTimeOffset startedAt;
    private int started;
    private int stopped;

    /// <summary>
    /// A record store that refuses the credentials fails the start; one that does not answer yet only warns (records
    /// wait for it). Then the cancel requests of the last week: a task cancelled while no worker ran must not run when one starts.
    /// </summary>
    public async Task CheckAsync(CancellationToken cancellationToken)
    {
        cancels.Since = time.GetUtcNow() - CancelRequests.LookBack;
        try
        {
            await records.Store.CheckAsync(cancellationToken).ConfigureAwait(false);
            if (cancels.Enabled)
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(30));
                await cancels.PollAsync(timeout.Token).ConfigureAwait(false);
            }
        }
        catch (TaskTransportException ex) when (ex.IsTransient)
        {
            WorkerLog.RecordsFailed(logger, ex, records.Store.Describe());
        }
        catch (Exception ex) when (ex is not TaskTransportException && !cancellationToken.IsCancellationRequested)
        {
            // Tasks run all the same; a task cancelled while no worker ran may run until the poll catches up.
            WorkerLog.RecordsFailed(logger, ex, records.Store.Describe());
        }
    }

    public void Start()
    {
        if (Interlocked.Exchange(ref started, 1) == 1) return;
        startedAt = time.GetUtcNow();
        records.BatchesCounted = flows.CompleteBatchesAsync;
        loop = Task.Run(() => LoopAsync(stop.Token));
    }

    public async Task StopAsync()
    {
        if (Volatile.Read(ref started) == 0 || Interlocked.Exchange(ref stopped, 1) == 1) return;
        stop.Cancel();
        await loop.ConfigureAwait(false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)); // a store that is down must not hold the stop
        try
        {
            if (records.Options.Heartbeats) await records.Store.Workers.WriteHeartbeatAsync(identity, queues(), Array.Empty<(string, string)>(), startedAt, stopped: true, timeout.Token).ConfigureAwait(false);
            await records.FlushAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            WorkerLog.RecordsFailed(logger, ex, records.Store.Describe());
        }
    }

    private async Task LoopAsync(CancellationToken stopping)
    {
        var options = records.Options;
        var nextHeartbeat = DateTimeOffset.MinValue;
        var nextExpiry = DateTimeOffset.MinValue;
        var nextSweep = DateTimeOffset.MinValue;
        var tick = options.Cancellation ? TimeSpan.FromTicks(Math.Min(options.CancelPollInterval.Ticks, options.HeartbeatInterval.Ticks)) : options.HeartbeatInterval;
        var store = records.Store.Describe();
        var failures = new FailureStreak(
            time,
            (ex, _) => WorkerLog.RecordsFailed(logger, ex, store),
            (count, duration, problem) => WorkerLog.RecordsStillFailing(logger, store, count, duration, problem),
            (count, duration) => WorkerLog.RecordsAgain(logger, store, count, duration));
        while (!stopping.IsCancellationRequested)
        {
            var now = time.GetUtcNow();
            try
            {
                if (options.Cancellation) await cancels.PollAsync(stopping).ConfigureAwait(false);
                if (options.Heartbeats && now >= nextHeartbeat)
                {
                    nextHeartbeat = now + options.HeartbeatInterval;
                    await records.Store.Workers.WriteHeartbeatAsync(identity, queues(), cancels.Running(), startedAt, stopped: false, stopping).ConfigureAwait(false);
                }

                if (now >= nextSweep)
                {
                    nextSweep = now + CallbackSweepInterval;
                    await flows.SweepCallbacksAsync(stopping).ConfigureAwait(false);
                }

                if (now >= nextExpiry)
                {
                    nextExpiry = now + ExpiryInterval;
                    foreach (var table in await records.Store.ExpireAsync(stopping).ConfigureAwait(false)) WorkerLog.RecordTableDropped(logger, table);
                }

                failures.Ended();
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                failures.Failed(ex, tick);
            }

            try
            {
                await Task.Delay(tick, time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
