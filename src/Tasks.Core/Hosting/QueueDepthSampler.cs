using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Tasks;

/// <summary>
/// Reads each queue's depth every <see cref="TaskWorkerOptions.QueueDepthInterval"/> for the
/// <c>tasks.queue.depth</c> gauge, and only while something listens to it: a gauge's callback
/// must not wait on the network, so it reports what this last read.
/// </summary>
internal sealed class QueueDepthSampler(IServiceProvider services, IOptions<TaskWorkerOptions> options, TimeProvider time, ILogger<QueueDepthSampler> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (services.GetService<ITaskTransport>() is not ITaskQueueMonitor monitor) return;
        using var timer = new PeriodicTimer(options.Value.QueueDepthInterval, time);
        try
        {
            await SampleAsync(monitor, timer, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // A host disposed without StopAsync cancels mid-wait: that is a stop, not a failure for the host to log.
        }
    }

    private async Task SampleAsync(ITaskQueueMonitor monitor, PeriodicTimer timer, CancellationToken stoppingToken)
    {
        do
        {
            if (!TasksTelemetry.QueueDepth.Enabled) continue;
            foreach (var queue in TasksServiceCollectionExtensions.QueuesOf(services)) // the worker's, once it has started
            {
                try
                {
                    TasksTelemetry.Depths[queue] = await monitor.GetDepthAsync(queue, stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The last reading stays; the health check and the worker say what is wrong with the service.
                    logger.LogDebug(ex, "Could not read the depth of queue {Queue}", queue);
                }
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
