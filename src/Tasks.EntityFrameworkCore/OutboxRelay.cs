using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Tasks.EntityFrameworkCore;

/// <summary>
/// Sends the outbox rows of <typeparamref name="TContext"/> that a crash left behind: rows older than the grace period,
/// claimed for a while in one statement (so relays in several processes share the work), sent, then deleted; a failed
/// send is tried again later, waiting longer each time. Runs in every process that adds the outbox.
/// </summary>
internal sealed class OutboxRelay<TContext>(TaskOutbox outbox, IServiceScopeFactory scopes, ILogger<OutboxRelay<TContext>> logger, TimeProvider time) : BackgroundService
    where TContext : DbContext
{
    private static readonly TimeSpan MeasureEvery = TimeSpan.FromSeconds(10);
    private readonly string claimant = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid().ToString("N")[..8]}";
    private readonly TaskOutboxOptions options = outbox.Options;
    private long measuredAt; // Unix ms of the last count: none yet

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var context = typeof(TContext).Name;
        await using (var scope = scopes.CreateAsyncScope()) OutboxRows.Check(scope.ServiceProvider.GetRequiredService<TContext>());
        OutboxLog.RelayStarted(logger, context, options.Grace.TotalSeconds, options.PollInterval.TotalSeconds);
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = options.PollInterval;
            try
            {
                var claimed = await RelayOnceAsync(context, stoppingToken).ConfigureAwait(false);
                failures = 0;
                if (claimed == options.BatchSize) continue; // more are waiting: at once
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                wait = RetryDelay(++failures);
                if (failures % 10 == 1) OutboxLog.RelayFailed(logger, ex, context, failures, wait.TotalSeconds); // a table missing for an hour: a few lines, not hundreds
            }

            try
            {
                await Task.Delay(wait, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await outbox.DrainAsync(cancellationToken).ConfigureAwait(false); // sends just committed go out before the host ends
        }
        catch (OperationCanceledException)
        {
            // Stopped before they did: their rows are sent by a relay.
        }
    }

    /// <summary>Claims a batch of rows left behind, sends them, deletes those sent; returns how many were claimed.</summary>
    private async Task<int> RelayOnceAsync(string context, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TContext>();
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (OutboxMetrics.Observed && now - measuredAt >= MeasureEvery.TotalMilliseconds)
        {
            measuredAt = now;
            var (depth, oldest) = await OutboxRows.MeasureAsync(db, cancellationToken).ConfigureAwait(false);
            OutboxMetrics.Set(context, db.Database.GetDbConnection().Database, depth, oldest is { } at ? (now - at) / 1000.0 : 0);
        }

        var rows = await OutboxRows.ClaimAsync(db, claimant, now, now - (long)options.Grace.TotalMilliseconds, now + (long)options.ClaimFor.TotalMilliseconds, options.BatchSize, cancellationToken).ConfigureAwait(false);
        if (rows.Count == 0) return 0;
        var (sent, failed) = await outbox.SendAsync(rows.Select(r => (r.Id, r.Content)).ToList(), cancellationToken).ConfigureAwait(false);
        if (sent.Count > 0)
        {
            await OutboxRows.DeleteAsync(db, sent, cancellationToken).ConfigureAwait(false);
            OutboxLog.RelaySent(logger, context, sent.Count);
        }

        var unsent = rows.Where(r => failed.ContainsKey(r.Id)).ToArray();
        if (unsent.Length > 0) OutboxLog.RelaySendsFailed(logger, failed[unsent[0].Id], context, unsent.Length, rows.Count, unsent[0].Id, unsent[0].Attempts + 1); // one line per batch, not per row
        foreach (var row in unsent)
        {
            var delay = RetryDelay(row.Attempts + 1);
            await OutboxRows.RetryLaterAsync(db, row.Id, claimant, time.GetUtcNow().ToUnixTimeMilliseconds() + (long)delay.TotalMilliseconds, failed[row.Id].Message, cancellationToken).ConfigureAwait(false);
        }

        return rows.Count;
    }

    /// <summary>1 s, doubling with each failure, up to <see cref="TaskOutboxOptions.MaxRetryDelay"/>.</summary>
    private TimeSpan RetryDelay(int failures)
        => TimeSpan.FromSeconds(Math.Min(Math.Pow(2, Math.Min(failures - 1, 20)), options.MaxRetryDelay.TotalSeconds));
}
