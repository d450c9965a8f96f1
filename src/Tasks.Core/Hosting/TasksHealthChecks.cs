using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Tasks;

/// <summary>Health checks for a host that runs or enqueues tasks.</summary>
public static class TasksHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds <c>tasks-transport</c> (the queue service answers and accepts the credentials, with each
    /// queue's depth in the data: degraded if the fault may pass, unhealthy if it needs a person)
    /// and, in a host that runs a worker, <c>tasks-worker</c> (receiving: degraded while receives
    /// fail and the worker retries, unhealthy if it stopped receiving), and <c>tasks-records</c> (the record store:
    /// degraded while it does not answer, unhealthy if it refuses the credentials).
    /// </summary>
    public static IHealthChecksBuilder AddTasks(this IHealthChecksBuilder builder, params string[] tags)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Add(new HealthCheckRegistration("tasks-transport", sp => new TransportHealthCheck(sp), HealthStatus.Unhealthy, tags));
        builder.Add(new HealthCheckRegistration("tasks-worker", sp => new WorkerHealthCheck(sp), HealthStatus.Unhealthy, tags));
        builder.Add(new HealthCheckRegistration("tasks-records", sp => new RecordsHealthCheck(sp), HealthStatus.Unhealthy, tags));
        return builder;
    }

    private sealed class TransportHealthCheck(IServiceProvider services) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var transport = services.GetRequiredService<ITaskTransport>();
            var queues = TasksServiceCollectionExtensions.QueuesOf(services);
            try
            {
                if (transport is not ITaskQueueMonitor monitor)
                {
                    await transport.CheckAsync(queues, cancellationToken).ConfigureAwait(false);
                    return HealthCheckResult.Healthy($"{transport.Describe()} answers.");
                }

                var data = new Dictionary<string, object>(StringComparer.Ordinal);
                foreach (var queue in queues)
                {
                    var depth = await monitor.GetDepthAsync(queue, cancellationToken).ConfigureAwait(false);
                    data[queue] = new { depth.Messages, depth.DeadLetters };
                }

                return HealthCheckResult.Healthy($"{transport.Describe()} answers.", data);
            }
            catch (TaskTransportException ex)
            {
                return new HealthCheckResult(ex.IsTransient ? HealthStatus.Degraded : HealthStatus.Unhealthy, ex.Message);
            }
        }
    }

    /// <summary>The record store (unique locks, continuations, records): degraded while it does not answer (enqueues and runs go on), naming it.</summary>
    private sealed class RecordsHealthCheck(IServiceProvider services) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            if (services.GetService<RecordWriterHolder>()?.Writer is not { } writer) return HealthCheckResult.Healthy("No task records are kept.");
            try
            {
                await writer.Store.CheckAsync(cancellationToken).ConfigureAwait(false);
                return HealthCheckResult.Healthy($"{writer.Store.Describe()} answers.");
            }
            catch (TaskTransportException ex)
            {
                return new HealthCheckResult(ex.IsTransient ? HealthStatus.Degraded : HealthStatus.Unhealthy, ex.Message);
            }
        }
    }

    private sealed class WorkerHealthCheck(IServiceProvider services) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            if (services.GetService<TaskWorker>() is not { } worker)
                return Task.FromResult(HealthCheckResult.Healthy("No worker runs in this process (enqueue only)."));
            var (status, description) = worker.CheckHealth();
            return Task.FromResult(new HealthCheckResult(status, description));
        }
    }
}
