using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;

namespace Tasks.Azure.Tests;

/// <summary>A transport on its own queues (a unique prefix per test), a client, and workers to match.</summary>
internal sealed class AzureHarness : IAsyncDisposable
{
    private readonly AzuriteFixture azurite;
    private readonly List<TaskWorker> workers = new();
    private readonly List<TaskRunResult> results = new();

    public AzureHarness(AzuriteFixture azurite, Action<TaskWorkerOptions>? configure = null, Action<AzureQueueOptions>? transport = null)
    {
        this.azurite = azurite;
        Prefix = "t" + Guid.NewGuid().ToString("N")[..10] + "-";
        TransportOptions = new AzureQueueOptions { ConnectionString = azurite.ConnectionString, QueuePrefix = Prefix };
        transport?.Invoke(TransportOptions);
        Transport = new AzureQueueTransport(TransportOptions);
        Client = new TaskClient(Transport);
        Options = new TaskWorkerOptions
        {
            MinPollingInterval = TimeSpan.FromMilliseconds(20),
            MaxPollingInterval = TimeSpan.FromMilliseconds(200),
            LeaseDuration = TimeSpan.FromSeconds(10),
            Retry = { BaseDelay = TimeSpan.FromSeconds(1), Jitter = 0 },
        };
        Options.Queues.Add(AzureTasks.Queue);
        configure?.Invoke(Options);
    }

    public string Prefix { get; }

    public AzureQueueOptions TransportOptions { get; }

    public AzureQueueTransport Transport { get; }

    public TaskClient Client { get; }

    public TaskWorkerOptions Options { get; }

    public IReadOnlyList<TaskRunResult> Results
    {
        get { lock (results) return results.ToArray(); }
    }

    public TaskWorker NewWorker(ITaskTransport? transport = null)
    {
        var worker = new TaskWorker(transport ?? Transport, Options);
        worker.TaskRan += r =>
        {
            lock (results) results.Add(r);
        };
        workers.Add(worker);
        return worker;
    }

    /// <summary>The work queue as raw text (no base64), to put hand-made messages on it.</summary>
    public QueueClient RawQueue() => new(azurite.ConnectionString, Transport.QueueName(AzureTasks.Queue), new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });

    public async Task<int> CountVisibleAsync()
    {
        var queue = RawQueue();
        if (!await queue.ExistsAsync()) return 0;
        PeekedMessage[] peeked = await queue.PeekMessagesAsync(32);
        return peeked.Length;
    }

    public async Task<IReadOnlyList<PoisonMessage>> PoisonAsync()
    {
        var poison = new QueueClient(azurite.ConnectionString, Transport.PoisonQueueName(AzureTasks.Queue));
        if (!await poison.ExistsAsync()) return [];
        PeekedMessage[] peeked = await poison.PeekMessagesAsync(32);
        return peeked.Select(m => PoisonMessage.Parse(m.Body.ToString())).ToArray();
    }

    public static async Task WaitUntil(Func<Task<bool>> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out after {seconds} s waiting until {what}.");
            await Task.Delay(20);
        }
    }

    public static Task WaitUntil(Func<bool> condition, string what, int seconds = 30) => WaitUntil(() => Task.FromResult(condition()), what, seconds);

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in workers) await worker.DisposeAsync();
    }
}
