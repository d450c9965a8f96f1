using System;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Tasks.Azure;

/// <summary>Hosting for the Azure transport: <c>services.AddAsyncTasks().UseAzureQueues(...)</c>.</summary>
public static class AzureTasksBuilderExtensions
{
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
        builder.Services.TryAddSingleton(sp => new AzureClients(sp.GetRequiredService<IOptions<AzureQueueOptions>>().Value, sp.GetService<TimeProvider>()));
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
