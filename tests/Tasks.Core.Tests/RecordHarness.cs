namespace Tasks.Core.Tests;

/// <summary>A transport, a record store, a client and a worker on the real clock, with short record intervals.</summary>
internal sealed class RecordHarness : IAsyncDisposable
{
    private readonly List<TaskRunResult> results = new();

    public RecordHarness(Action<TaskRecordOptions>? configure = null, TimeProvider? storeTime = null, Action<TaskWorkerOptions>? worker = null)
    {
        RecordOptions = new TaskRecordOptions
        {
            FlushInterval = TimeSpan.FromMilliseconds(50),
            CancelPollInterval = TimeSpan.FromMilliseconds(100),
            HeartbeatInterval = TimeSpan.FromMilliseconds(100),
            WorkerGoneAfter = TimeSpan.FromMilliseconds(600),
        };
        configure?.Invoke(RecordOptions);
        Store = new InMemoryTaskRecordStore(RecordOptions, storeTime);
        Transport = new InMemoryTransport();
        Client = new TaskClient(Transport, records: Store);
        Options = new TaskWorkerOptions
        {
            Retry = { Jitter = 0 },
            MinPollingInterval = TimeSpan.FromMilliseconds(5),
            MaxPollingInterval = TimeSpan.FromMilliseconds(20),
            DrainTimeout = TimeSpan.FromMilliseconds(500),
        };
        Options.Queues.Add(RecordedTasks.Queue);
        worker?.Invoke(Options);
        Worker = NewWorker();
    }

    public TaskRecordOptions RecordOptions { get; }

    public InMemoryTaskRecordStore Store { get; }

    public InMemoryTransport Transport { get; }

    public TaskClient Client { get; }

    public TaskWorkerOptions Options { get; }

    public TaskWorker Worker { get; }

    public IReadOnlyList<TaskRunResult> Results
    {
        get { lock (results) return results.ToArray(); }
    }

    public TaskWorker NewWorker()
    {
        var worker = new TaskWorker(Transport, Options, records: Store);
        worker.TaskRan += r =>
        {
            lock (results) results.Add(r);
        };
        return worker;
    }

    /// <summary>Waits until task <paramref name="id"/>'s record is in <paramref name="state"/>, and returns it.</summary>
    public async Task<TaskRecord> WaitForStateAsync(string id, TaskState state, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var record = await Store.GetAsync(id);
            if (record?.State == state) return record;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Task {id} is {record?.State.ToString() ?? "not recorded"}, not {state}, after {seconds} s.");
            await Task.Delay(10);
        }
    }

    public ValueTask DisposeAsync() => Worker.DisposeAsync();
}
