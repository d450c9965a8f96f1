namespace Tasks.Azure.Tests;

/// <summary>One real Azurite for every Azure test; each test uses queues of its own (a unique prefix).</summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private AzuriteProcess? azurite;

    public string ConnectionString => azurite!.ConnectionString;

    /// <summary>Hangs the queue service (SIGSTOP), as a storage account that stops answering.</summary>
    public Task PauseQueuesAsync() => azurite!.PauseAsync();

    public Task ResumeQueuesAsync() => azurite!.ResumeAsync();

    public async Task InitializeAsync() => azurite = await AzuriteProcess.StartAsync(blobs: true, tables: true);

    public async Task DisposeAsync()
    {
        if (azurite is not null) await azurite.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "Azurite";
}
