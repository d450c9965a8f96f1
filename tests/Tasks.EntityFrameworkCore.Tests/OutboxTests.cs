using System.Diagnostics;
using System.Reflection;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tasks.Azure;
using Tasks.Fixtures;

namespace Tasks.EntityFrameworkCore.Tests;

/// <summary>
/// The outbox in the real topology: a database of the test's own (SQLite or PostgreSQL), Azurite, a worker and relay
/// in this process, and API processes that commit and are killed. Each test has its own database and queues.
/// </summary>
public abstract class OutboxTests(OutboxTests.Services services) : IAsyncLifetime
{
    private static readonly string OutboxApp = typeof(OutboxTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "OutboxApp").Value!;
    private readonly string prefix = "ob" + Guid.NewGuid().ToString("N")[..8] + "-";
    private string database = "";

    protected abstract string Provider { get; }

    public async Task InitializeAsync()
    {
        database = services.NewDatabase();
        await using var db = NewContext();
        await db.Database.EnsureCreatedAsync();
        if (Provider == "sqlite") await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL"); // API and worker processes share the file
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Nothing_is_sent_before_the_commit_and_the_task_runs_once_at_once_after_it()
    {
        using var app = await StartAppAsync(grace: TimeSpan.FromMinutes(5)); // no relay in time: only the committing process can send
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrdersDb>();
        await using var transaction = await db.Database.BeginTransactionAsync();
        db.Orders.Add(new Order { Customer = "ada" });
        var id = await OutboxTasks.ShipAsync.Enqueue(db.Tasks(), 1);
        await db.SaveChangesAsync();

        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.False(OutboxTasks.Runs.ContainsKey(id), "the task ran before its transaction committed");
        Assert.Null(await Records(app).GetAsync(id));

        var clock = Stopwatch.StartNew();
        await transaction.CommitAsync();
        await WaitUntil(() => OutboxTasks.Runs.ContainsKey(id), TimeSpan.FromSeconds(20), "the committed task to run");
        var ran = clock.Elapsed;
        await WaitUntil(async () => await CountRowsAsync(app) == 0, TimeSpan.FromSeconds(10), "its outbox row to be deleted");
        await WaitUntil(async () => (await Records(app).GetAsync(id))?.State == TaskState.Succeeded, TimeSpan.FromSeconds(10), "its record to say Succeeded");

        Assert.True(ran < TimeSpan.FromSeconds(10), $"ran {ran} after the commit");
        Assert.Equal(1, OutboxTasks.Runs[id]);
        var record = (await Records(app).GetAsync(id))!;
        Assert.Equal((1, "outbox.ship"), (record.Attempts, record.TaskName));
        Assert.Equal(1, await db.Orders.CountAsync());
    }

    [Fact]
    public async Task A_rollback_sends_nothing()
    {
        using var app = await StartAppAsync(grace: TimeSpan.FromMilliseconds(200)); // a relay that would send anything left
        string id;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<OrdersDb>();
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Orders.Add(new Order { Customer = "bob" });
            id = await OutboxTasks.ShipAsync.Enqueue(db.Tasks(), 2);
            await db.SaveChangesAsync();
            await transaction.RollbackAsync();
        }

        await Task.Delay(TimeSpan.FromSeconds(3));

        Assert.False(OutboxTasks.Runs.ContainsKey(id));
        Assert.Null(await Records(app).GetAsync(id));
        Assert.Equal(0, await CountRowsAsync(app));
    }

    [Fact]
    public async Task Unique_tasks_large_arguments_delays_and_records_go_through_the_outbox()
    {
        using var app = await StartAppAsync(grace: TimeSpan.FromMinutes(5));
        var data = RandomNumberGenerator.GetBytes(200_000); // larger than a message: the payload store carries it
        string[] unique;
        string large, delayed;
        var committed = DateTimeOffset.UtcNow;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<OrdersDb>();
            var tasks = db.Tasks();
            unique = [await OutboxTasks.OnceAsync.Enqueue(tasks, "month-end"), await OutboxTasks.OnceAsync.Enqueue(tasks, "month-end")];
            large = await OutboxTasks.DigestAsync.Enqueue(tasks, data);
            delayed = await tasks.EnqueueAsync(OutboxTasks.ShipAsync.Definition, new OutboxTasks.ShipAsync.Arguments(3), new TaskEnqueueOptions { Delay = TimeSpan.FromSeconds(3) });
            await db.SaveChangesAsync();
            committed = DateTimeOffset.UtcNow;
        }

        await WaitUntil(() => OutboxTasks.Digests.ContainsKey(large) && OutboxTasks.Runs.ContainsKey(delayed) && unique.Any(OutboxTasks.Runs.ContainsKey), TimeSpan.FromSeconds(30), "the tasks to run");
        await Task.Delay(TimeSpan.FromSeconds(2));

        Assert.Equal(1, unique.Sum(id => OutboxTasks.Runs.GetValueOrDefault(id))); // the second of one key found the first's lock: not sent
        Assert.Equal(Convert.ToHexString(SHA256.HashData(data)), OutboxTasks.Digests[large]);
        var delayedRecord = (await Records(app).GetAsync(delayed))!;
        Assert.True(delayedRecord.StartedAt >= committed.AddSeconds(2), $"the delayed task started at {delayedRecord.StartedAt:O}, committed at {committed:O}");
        var largeRecord = (await Records(app).GetAsync(large))!;
        Assert.Equal(TaskState.Succeeded, largeRecord.State);
        Assert.Contains("payload store", largeRecord.ArgumentsNote);
        Assert.Equal(0, await CountRowsAsync(app));
    }

    [Fact]
    public async Task The_API_killed_right_after_its_commit_20_times_loses_no_task_and_the_relay_sends_each_once()
    {
        var (grace, poll) = (TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(250));
        using var app = await StartAppAsync(grace, poll);
        var killed = new Dictionary<string, DateTimeOffset>();
        var leftBehind = 0;
        for (var i = 0; i < 20; i++)
        {
            using var api = ChildProcess.Start("dotnet", [OutboxApp, "commit-and-die", Provider, database, services.Azurite.ConnectionString, prefix, "1", "60000"], Path.GetTempPath());
            await api.WaitForExitAsync(TimeSpan.FromSeconds(60));
            var id = Committed(api.Output).Single();
            killed[id] = DateTimeOffset.UtcNow;
            if (await CountRowsAsync(app, id) == 1) leftBehind++;
        }

        await WaitUntil(() => killed.Keys.All(OutboxTasks.Runs.ContainsKey), TimeSpan.FromSeconds(60), $"the 20 committed tasks to run ({leftBehind} left behind by their API)");
        await Task.Delay(TimeSpan.FromSeconds(2));

        Assert.All(killed.Keys, id => Assert.Equal(1, OutboxTasks.Runs[id]));
        Assert.True(leftBehind > 0, "no kill left a row behind: the relay was not tested");
        foreach (var (id, at) in killed)
        {
            var record = (await Records(app).GetAsync(id))!;
            Assert.Equal((TaskState.Succeeded, 1), (record.State, record.Attempts));
            Assert.True(record.StartedAt - at < grace + poll + TimeSpan.FromSeconds(5), $"task {id} started {record.StartedAt - at} after its API was killed");
        }

        await WaitUntil(async () => await CountRowsAsync(app) == 0, TimeSpan.FromSeconds(10), "the outbox to be empty");
    }

    [Fact]
    public async Task Senders_and_relays_of_four_processes_racing_run_each_task_once()
    {
        using var app = await StartAppAsync(grace: TimeSpan.Zero, poll: TimeSpan.FromMilliseconds(100)); // relays claim rows as soon as they commit
        var apis = Enumerable.Range(0, 4).Select(_ => ChildProcess.Start("dotnet", [OutboxApp, "commit", Provider, database, services.Azurite.ConnectionString, prefix, "25", "0"], Path.GetTempPath())).ToArray();
        try
        {
            foreach (var api in apis) await api.WaitForOutputAsync(o => o.Contains("done"), TimeSpan.FromSeconds(120), "its 25 commits");
            var ids = apis.SelectMany(a => Committed(a.Output)).ToArray();
            Assert.Equal(100, ids.Distinct().Count());
            await WaitUntil(() => ids.All(OutboxTasks.Runs.ContainsKey), TimeSpan.FromSeconds(60), "the 100 tasks to run");
            await WaitUntil(async () => await CountRowsAsync(app) == 0, TimeSpan.FromSeconds(20), "the outbox to be empty");
            await Task.Delay(TimeSpan.FromSeconds(2));

            Assert.All(ids, id => Assert.Equal(1, OutboxTasks.Runs[id]));
        }
        finally
        {
            foreach (var api in apis) api.Dispose();
        }
    }

    [Fact]
    public async Task A_storage_hung_at_the_commit_holds_no_caller_and_loses_no_task()
    {
        var (grace, poll) = (TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(250));
        using var app = await StartAppAsync(grace, poll);
        var ids = new List<string>();
        await services.Azurite.PauseAsync();
        await services.Azurite.PauseTablesAsync();
        await services.Azurite.PauseBlobsAsync();
        var clock = Stopwatch.StartNew();
        try
        {
            for (var n = 0; n < 10; n++)
            {
                await using var scope = app.Services.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<OrdersDb>();
                db.Orders.Add(new Order { Customer = $"hung {n}" });
                ids.Add(await OutboxTasks.ShipAsync.Enqueue(db.Tasks(), 100 + n));
                await db.SaveChangesAsync();
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"10 commits took {clock.Elapsed} with the storage hung");
            await Task.Delay(TimeSpan.FromSeconds(8)); // the sends at once give up; the relay's fail and wait
            Assert.Equal(10, await CountRowsAsync(app));
        }
        finally
        {
            await services.Azurite.ResumeAsync();
            await services.Azurite.ResumeTablesAsync();
            await services.Azurite.ResumeBlobsAsync();
        }

        await WaitUntil(() => ids.All(OutboxTasks.Runs.ContainsKey), TimeSpan.FromSeconds(90), "the 10 tasks to run after the storage woke");
        await WaitUntil(async () => await CountRowsAsync(app) == 0, TimeSpan.FromSeconds(20), "the outbox to be empty");
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.All(ids, id => Assert.Equal(1, OutboxTasks.Runs[id]));
    }

    [Fact]
    public async Task The_depth_and_the_oldest_age_are_measured_while_someone_listens()
    {
        await using (var writer = NewContext())
        {
            var rows = new RowsOnly(writer);
            var client = new TaskClient(new InMemoryTransport());
            for (var n = 0; n < 3; n++) await OutboxTasks.ShipAsync.Enqueue(client.WriteTo(rows), n);
            await writer.SaveChangesAsync(); // rows no process sends at once
        }

        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, double>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name.StartsWith("tasks.outbox.", StringComparison.Ordinal)) l.EnableMeasurementEvents(instrument);
        };
        void Seen(System.Diagnostics.Metrics.Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "database" && Equals(tag.Value, DatabaseName)) seen[instrument.Name] = value;
            }
        }

        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Seen(instrument, value, tags));
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Seen(instrument, value, tags));
        listener.Start();
        await Task.Delay(TimeSpan.FromSeconds(1)); // the rows age
        using var app = await StartAppAsync(grace: TimeSpan.FromMinutes(5));

        await WaitUntil(() =>
        {
            listener.RecordObservableInstruments();
            return seen.ContainsKey("tasks.outbox.depth");
        }, TimeSpan.FromSeconds(10), "the relay to measure the outbox");
        Assert.Equal(3, seen["tasks.outbox.depth"]);
        Assert.InRange(seen["tasks.outbox.oldest_age"], 0.9, 60);
    }

    private string DatabaseName => Provider == "sqlite" ? "main" : database.Split(';').Single(p => p.StartsWith("Database=", StringComparison.Ordinal))["Database=".Length..];

    private OrdersDb NewContext()
    {
        var options = new DbContextOptionsBuilder<OrdersDb>();
        OrdersDb.Use(options, Provider, database);
        return new OrdersDb(options.Options);
    }

    /// <summary>Outbox rows added to a context and nothing else: no process sends them at once.</summary>
    private sealed class RowsOnly(OrdersDb db) : ITaskOutbox
    {
        public void Add(TaskOutboxEntry entry)
            => db.Set<TaskOutboxMessage>().Add(TaskOutboxMessage.From(entry));
    }

    private async Task<IHost> StartAppAsync(TimeSpan grace, TimeSpan? poll = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddAsyncTaskWorker(o => o.Queues.Add(OutboxTasks.Queue))
            .UseAzureQueues(o => (o.ConnectionString, o.QueuePrefix) = (services.Azurite.ConnectionString, prefix))
            .AddOutbox<OrdersDb>(o => (o.Grace, o.PollInterval) = (grace, poll ?? TimeSpan.FromMilliseconds(250)));
        builder.Services.AddDbContext<OrdersDb>((sp, options) => OrdersDb.Use(options, Provider, database).UseTaskOutbox(sp));
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    private static ITaskRecords Records(IHost app) => app.Services.GetRequiredService<ITaskRecords>();

    private static async Task<int> CountRowsAsync(IHost app, string? id = null)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var rows = scope.ServiceProvider.GetRequiredService<OrdersDb>().Set<TaskOutboxMessage>();
        return id is null ? await rows.CountAsync() : await rows.CountAsync(r => r.Id == id);
    }

    private static IEnumerable<string> Committed(string output)
        => output.Split('\n').Where(l => l.StartsWith("committed ", StringComparison.Ordinal)).Select(l => l.Trim().Split(' ')[2]);

    private static Task WaitUntil(Func<bool> condition, TimeSpan timeout, string what) => WaitUntil(() => Task.FromResult(condition()), timeout, what);

    private static async Task WaitUntil(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out after {timeout} waiting for {what}.");
            await Task.Delay(50);
        }
    }

    /// <summary>One Azurite (queues, blobs, tables) and one database server per class; a database per test.</summary>
    public abstract class Services : IAsyncLifetime
    {
        private AzuriteProcess? azurite;

        internal AzuriteProcess Azurite => azurite!;

        public abstract string NewDatabase();

        public virtual async Task InitializeAsync() => azurite = await AzuriteProcess.StartAsync(blobs: true, tables: true);

        public virtual async Task DisposeAsync()
        {
            if (azurite is not null) await azurite.DisposeAsync();
        }
    }
}

public sealed class SqliteServices : OutboxTests.Services
{
    private readonly string folder = Directory.CreateTempSubdirectory("tasks-outbox-").FullName;

    public override string NewDatabase() => $"Data Source={Path.Combine(folder, Guid.NewGuid().ToString("N")[..8] + ".db")};Default Timeout=60";

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(folder, recursive: true);
    }
}

public sealed class PostgresServices : OutboxTests.Services
{
    private PostgresServer? server;

    public override string NewDatabase() => server!.ConnectionString.Replace("Database=postgres", "Database=orders_" + Guid.NewGuid().ToString("N")[..8], StringComparison.Ordinal);

    public override async Task InitializeAsync()
    {
        var starting = PostgresServer.StartAsync();
        await base.InitializeAsync();
        server = await starting;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (server is not null) await server.DisposeAsync();
    }
}

public sealed class SqliteOutboxTests(SqliteServices services) : OutboxTests(services), IClassFixture<SqliteServices>
{
    protected override string Provider => "sqlite";
}

public sealed class PostgresOutboxTests(PostgresServices services) : OutboxTests(services), IClassFixture<PostgresServices>
{
    protected override string Provider => "postgres";
}
