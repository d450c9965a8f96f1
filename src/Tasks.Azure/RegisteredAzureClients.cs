using System;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Microsoft.Extensions.Azure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Tasks.Azure;

/// <summary>
/// The main account's clients an app registered with <c>services.AddAzureClients(...)</c>, by
/// <see cref="AzureQueueOptions.ClientName"/>: made by the app's factories, so they keep its credential, retries,
/// transport and diagnostics. A client that is not registered fails where it is first needed, naming the fix.
/// </summary>
internal sealed class RegisteredAzureClients(IServiceProvider services, string name)
{
    /// <summary>What Microsoft.Extensions.Azure names a client registered without <c>WithName</c>.</summary>
    public const string DefaultName = "Default";

    public QueueServiceClient Queues()
    {
        var client = Create<QueueServiceClient>("AddQueueServiceClient", "Tasks' messages travel in its queues.");
        // The factory made the client from these options (cached by name), so they are the ones it decodes with. A base64
        // client would decode the base64 text Tasks writes and hand back bytes Tasks would decode again.
        if (services.GetService<IOptionsMonitor<QueueClientOptions>>()?.Get(name).MessageEncoding == QueueMessageEncoding.Base64)
            throw new InvalidOperationException(
                $"The QueueServiceClient registered with AddAzureClients under the name '{name}' (AzureQueueOptions.ClientName) sets MessageEncoding = Base64, " +
                "and Tasks encodes its messages itself (as base64 text, which other tools read as before): register a client for Tasks without MessageEncoding, " +
                $"e.g. clients.AddQueueServiceClient(...).WithName(\"tasks\") with o.ClientName = \"tasks\".");
        return client;
    }

    public BlobServiceClient Blobs()
        => Create<BlobServiceClient>("AddBlobServiceClient", "Large arguments and recurring schedules are kept in blob storage.");

    public TableServiceClient Tables()
        => Create<TableServiceClient>("AddTableServiceClient", "Task records are kept in Table storage; without records, turn them off with UseTaskRecords(o => o.Enabled = false).");

    private TClient Create<TClient>(string addMethod, string why)
        where TClient : class
    {
        var factory = services.GetService<IAzureClientFactory<TClient>>();
        Exception? failure = null;
        if (factory is not null)
        {
            try
            {
                return factory.CreateClient(name);
            }
            catch (InvalidOperationException ex)
            {
                failure = ex; // no registration by this name, or one the SDK could not make a client of
            }
        }

        var withName = name == DefaultName ? "" : $".WithName(\"{name}\")";
        throw new InvalidOperationException(
            $"Tasks uses the {typeof(TClient).Name} registered with services.AddAzureClients(...) under the name '{name}' (AzureQueueOptions.ClientName), " +
            (failure is null ? "and none is registered." : $"and could not get it: {failure.Message}") +
            $" Register it inside AddAzureClients: clients.{addMethod}(...){withName}. {why}",
            failure);
    }
}

/// <summary>
/// Adds Tasks' deadline and circuit (<see cref="StorageServiceGuard"/>) to the options of the clients named by
/// <see cref="AzureQueueOptions.ClientName"/>, as Microsoft.Extensions.Azure makes them (it builds each client from
/// <c>IOptionsMonitor&lt;TOptions&gt;.Get(name)</c>, post-configures included), then <see cref="AzureQueueOptions.ConfigureClient"/>.
/// The app's retries are left as they are: the guard bounds the whole call, retries included.
/// </summary>
internal sealed class RegisteredClientGuards(IServiceProvider services, IOptions<AzureQueueOptions> options)
    : IPostConfigureOptions<QueueClientOptions>, IPostConfigureOptions<BlobClientOptions>, IPostConfigureOptions<TableClientOptions>
{
    public void PostConfigure(string? name, QueueClientOptions clientOptions) => Guard(name, clientOptions, static c => c.QueueGuard);

    public void PostConfigure(string? name, BlobClientOptions clientOptions) => Guard(name, clientOptions, static c => c.BlobGuard);

    public void PostConfigure(string? name, TableClientOptions clientOptions) => Guard(name, clientOptions, static c => c.TableGuard);

    private void Guard(string? name, ClientOptions clientOptions, Func<AzureClients, StorageServiceGuard> guardOf)
    {
        var tasks = options.Value;
        if (string.IsNullOrWhiteSpace(tasks.ClientName) || !string.Equals(name, tasks.ClientName, StringComparison.Ordinal)) return;
        // Resolved here, not in the constructor: the guards belong to the host's one AzureClients, made once.
        guardOf(services.GetRequiredService<AzureClients>()).AddTo(clientOptions);
        tasks.ConfigureClient?.Invoke(clientOptions);
    }
}
