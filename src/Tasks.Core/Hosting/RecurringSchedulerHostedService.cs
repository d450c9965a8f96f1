using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Tasks;

/// <summary>
/// Keeps, in a worker host, the schedules of the recurring tasks on the queues its worker serves.
/// Registered after the worker, so the worker's queues are known when it starts.
/// </summary>
internal sealed class RecurringSchedulerHostedService(IServiceProvider services) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource stopping = new();
    private Task running = Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var worker = services.GetRequiredService<TaskWorker>();
        var queues = worker.Queues.ToHashSet(StringComparer.Ordinal);
        var recurring = worker.Registry.Definitions.Where(d => d.Schedule is not null && queues.Contains(d.Queue)).ToArray();
        if (recurring.Length == 0) return Task.CompletedTask;

        foreach (var task in recurring)
        {
            try
            {
                _ = task.Schedule!.TimeZone;
            }
            catch (InvalidOperationException ex)
            {
                throw new InvalidOperationException($"The recurring task {task.Name} cannot keep its schedule {task.Schedule}: {ex.Message}", ex);
            }
        }

        var transport = services.GetRequiredService<ITaskTransport>();
        var store = transport as IScheduleStore ?? throw new InvalidOperationException(
            $"The recurring task(s) {string.Join(", ", recurring.Select(d => d.Name))} need a transport that keeps schedules (IScheduleStore), " +
            $"and {transport.GetType().Name} does not. Use the in-memory or the Azure transport, or serve their queue(s) from another worker.");
        var scheduler = new RecurringScheduler(
            recurring,
            store,
            services.GetRequiredService<ITaskClient>(),
            services.GetRequiredService<IOptions<TaskWorkerOptions>>().Value.SerializerOptions,
            services.GetRequiredService<TimeProvider>(),
            services.GetService<ILogger<RecurringScheduler>>() ?? (ILogger)NullLogger.Instance);
        running = Task.Run(() => scheduler.RunAsync(stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await running.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose() => stopping.Dispose();
}
