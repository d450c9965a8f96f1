using System;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Tasks.Azure;

/// <summary>Hosting for the Azure transport: <c>services.AddAsyncTasks().UseAzureQueues(...)</c>.</summary>
public static class AzureTasksBuilderExtensions
{
    /// <summary>
    /// Carries tasks in Azure Storage Queues through the clients the app registered with <c>services.AddAzureClients(...)</c>
    /// (Microsoft.Extensions.Azure) without <c>WithName</c>: its <c>QueueServiceClient</c>, and its <c>TableServiceClient</c>
    /// (records) and <c>BlobServiceClient</c> (large arguments, recurring tasks) when they are needed. Those clients get
    /// Tasks' deadline and circuit (see <see cref="AzureQueueOptions.ClientName"/>); to keep other code's clients unbounded,
    /// register Tasks' own with <c>.WithName("tasks")</c> and call <c>UseAzureQueues(o =&gt; o.ClientName = "tasks")</c>.
    /// </summary>
    public static TasksBuilder UseAzureQueues(this TasksBuilder builder)
        => builder.UseAzureQueues(o => o.ClientName = RegisteredAzureClients.DefaultName);

    /// <summary>Carries tasks in Azure Storage Queues configured in code.</summary>
    public static TasksBuilder UseAzureQueues(this TasksBuilder builder, Action<AzureQueueOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<AzureQueueOptions>().Configure(configure);
        return AddTransport(builder);
    }

    /// <summary>Carries tasks in Azure Storage Queues configured by a configuration section (e.g. <c>configuration.GetSection("Tasks:Azure")</c>).</summary>
    public static TasksBuilder UseAzureQueues(this TasksBuilder builder, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<AzureQueueOptions>().Bind(section);
        return AddTransport(builder);
    }

    private static TasksBuilder AddTransport(TasksBuilder builder)
    {
        // One set of SDK clients (one credential, one token) for the transport and the records.
        builder.Services.TryAddSingleton(sp => new AzureClients(sp.GetRequiredService<IOptions<AzureQueueOptions>>().Value, sp.GetService<TimeProvider>(), services: sp));
        // With AzureQueueOptions.ClientName, the app's registered clients get the guards as the SDK makes them; for others, nothing.
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<QueueClientOptions>, RegisteredClientGuards>());
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<BlobClientOptions>, RegisteredClientGuards>());
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<TableClientOptions>, RegisteredClientGuards>());
        builder.Services.TryAddSingleton(sp => new AzureQueueTransport(
            sp.GetRequiredService<AzureClients>(),
            sp.GetService<ILogger<AzureQueueTransport>>(),
            sp.GetService<TimeProvider>()));
        builder.Services.Replace(ServiceDescriptor.Singleton<ITaskTransport>(sp => sp.GetRequiredService<AzureQueueTransport>()));
        // The records beside the queues, in the same account: on unless UseTaskRecords(o => o.Enabled = false).
        builder.Services.TryAddSingleton<TaskRecordStore>(sp => new AzureTableTaskRecordStore(
            sp.GetRequiredService<AzureClients>(),
            sp.GetRequiredService<IOptions<TaskRecordOptions>>().Value,
            sp.GetService<TimeProvider>()));
        return builder;
    }
}
