using System.Data.Common;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tasks.Azure;
using Tasks.EntityFrameworkCore;
using Tasks.Testing;

namespace Tasks.Benchmarks;

/// <summary>
/// The EF Core outbox on SQLite and on PostgreSQL (a server of its own), each with a fresh Azurite (queues, tables):
/// what a SaveChanges with an outbox row costs against one without it and against one followed by a plain Enqueue;
/// the delay from the commit to the send on the immediate path; the relay's drain rate for a 10,000-row backlog; the
/// queries an idle relay makes.
/// </summary>
internal static class OutboxSuite
{
    private const int Commits = 300;
    private const int Backlog = 10_000;

    public static async Task RunAsync()
    {
        var report = new Report("outbox");
        var folder = Directory.CreateTempSubdirectory("tasks-bench-outbox-").FullName;
        try
        {
            await MeasureAsync(report, "sqlite", $"Data Source={Path.Combine(folder, "bench.db")}");
            await using var postgres = await PostgresServer.StartAsync();
            await MeasureAsync(report, "postgres", postgres.ConnectionString.Replace("Database=postgres", "Database=bench", StringComparison.Ordinal));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }

        report.Save();
    }

    private static async Task MeasureAsync(Report report, string provider, string database)
    {
        await using var azurite = await AzuriteProcess.StartAsync(tables: true);
        var queries = new QueryCounter();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddAsyncTasks().UseAzureQueues(o => (o.ConnectionString, o.QueuePrefix) = (azurite.ConnectionString, "bench-")).AddOutbox<BenchDb>();
        builder.Services.AddDbContext<BenchDb>((services, options) => BenchDb.Use(options, provider, database).UseTaskOutbox(services).AddInterceptors(queries));
        using var host = builder.Build();
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<BenchDb>();
            await db.Database.EnsureCreatedAsync();
            if (provider == "sqlite") await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL");
        }

        await host.StartAsync();
        var client = host.Services.GetRequiredService<ITaskClient>();
        await BenchTasks.TimedAsync.Enqueue(client, 0); // creates the queue and the record tables: not measured
        using var sends = new SendListener();

        // SaveChanges: an order alone; an order with its task in the outbox (the send follows in the background); an order then a plain Enqueue.
        var (alone, withRow, thenEnqueue, delays) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
        for (var i = 0; i < Commits; i++)
        {
            alone.Add(await TimedAsync(host, async db => await db.SaveChangesAsync()));
            long committed = 0;
            var sent = sends.Next();
            withRow.Add(await TimedAsync(host, async db =>
            {
                await BenchTasks.TimedAsync.Enqueue(db.Tasks(), 0);
                await db.SaveChangesAsync();
                committed = Stopwatch.GetTimestamp();
            }));
            delays.Add(Stopwatch.GetElapsedTime(committed, await sent).TotalMilliseconds);
            thenEnqueue.Add(await TimedAsync(host, async db =>
            {
                await db.SaveChangesAsync();
                await BenchTasks.TimedAsync.Enqueue(client, 0);
            }));
        }

        var (p50Alone, p50Row, p50Enqueue) = (Report.Median(alone), Report.Median(withRow), Report.Median(thenEnqueue));
        report.Figure($"{provider}: SaveChanges p50, an order alone / with its task in the outbox / then a plain Enqueue", p50Alone, $"ms / {p50Row:0.00} ms / {p50Enqueue:0.00} ms ({Commits} each)");
        report.Figure($"{provider}: SaveChanges with an outbox row / without", p50Row / p50Alone, "× (the row's insert in the same transaction)");
        report.Ratio($"{provider}: SaveChanges with an outbox row / SaveChanges then a plain Enqueue", p50Row / p50Enqueue, "<= 1", p50Row <= p50Enqueue);
        var (delay50, delay99) = (Percentile(delays, 0.5), Percentile(delays, 0.99));
        report.Figure($"{provider}: commit to send, immediate path, p50 / p99", delay50, $"ms / {delay99:0.0} ms");
        report.Ratio($"{provider}: commit to send p50 (ms)", delay50, "<= 50", delay50 <= 50);

        // An idle relay: the queries it makes with the default poll (5 s), over 20 s.
        await Task.Delay(TimeSpan.FromSeconds(2));
        var before = queries.Count;
        await Task.Delay(TimeSpan.FromSeconds(20));
        report.Figure($"{provider}: idle relay, database queries per second", (queries.Count - before) / 20.0, "(PollInterval 5 s; no count query unless the depth gauges are observed)");
        await host.StopAsync();

        // A backlog of 10,000 rows, as a long outage leaves it, then a relay with no grace period drains it.
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<BenchDb>();
            var rows = new RowsOnly(db);
            var writer = ((TaskClient)client).WriteTo(rows);
            for (var i = 0; i < Backlog; i++) await BenchTasks.TimedAsync.Enqueue(writer, 0);
            await db.SaveChangesAsync(); // no UseTaskOutbox on this context's rows' path: nothing is sent at once
        }

        var drainer = Host.CreateApplicationBuilder();
        drainer.Logging.ClearProviders();
        drainer.Services.AddAsyncTasks().UseAzureQueues(o => (o.ConnectionString, o.QueuePrefix) = (azurite.ConnectionString, "bench-"))
            .AddOutbox<BenchDb>(o => (o.Grace, o.PollInterval) = (TimeSpan.Zero, TimeSpan.FromMilliseconds(100)));
        drainer.Services.AddDbContext<BenchDb>((services, options) => BenchDb.Use(options, provider, database).UseTaskOutbox(services));
        using var relay = drainer.Build();
        var clock = Stopwatch.StartNew();
        await relay.StartAsync();
        while (await CountAsync(relay) > 0) await Task.Delay(100);
        var drained = clock.Elapsed;
        await relay.StopAsync();
        report.Figure($"{provider}: relay drain of a {Backlog:N0}-row backlog", Backlog / drained.TotalSeconds, $"rows/s ({drained.TotalSeconds:0.0} s; batches of 100, 16 sends at once)");
    }

    private static async Task<double> TimedAsync(IHost host, Func<BenchDb, Task> unitOfWork)
    {
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<BenchDb>();
        db.Orders.Add(new BenchOrder { Customer = "c" });
        var start = Stopwatch.GetTimestamp();
        await unitOfWork(db);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    private static async Task<int> CountAsync(IHost host)
    {
        await using var scope = host.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<BenchDb>().Set<TaskOutboxMessage>().CountAsync();
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
    }

    /// <summary>Outbox rows added to a context and nothing else: a backlog no process sends at once.</summary>
    private sealed class RowsOnly(BenchDb db) : ITaskOutbox
    {
        public void Add(TaskOutboxEntry entry)
            => db.Set<TaskOutboxMessage>().Add(TaskOutboxMessage.From(entry));
    }

    /// <summary>When each send completes: the "tasks.enqueued" counter, which a send adds to on its own thread.</summary>
    private sealed class SendListener : IDisposable
    {
        private readonly MeterListener listener = new();
        private TaskCompletionSource<long>? next;

        public SendListener()
        {
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == TasksTelemetry.Name && instrument.Name == "tasks.enqueued") l.EnableMeasurementEvents(instrument);
            };
            listener.SetMeasurementEventCallback<long>((_, _, _, _) => Interlocked.Exchange(ref next, null)?.TrySetResult(Stopwatch.GetTimestamp()));
            listener.Start();
        }

        public Task<long> Next()
        {
            var source = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            next = source;
            return source.Task;
        }

        public void Dispose() => listener.Dispose();
    }

    /// <summary>Counts the commands a context sends to its database.</summary>
    private sealed class QueryCounter : DbCommandInterceptor
    {
        private int count;

        public int Count => Volatile.Read(ref count);

        public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref count);
            return base.ReaderExecutingAsync(command, eventData, result, cancellationToken);
        }

        public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref count);
            return base.NonQueryExecutingAsync(command, eventData, result, cancellationToken);
        }

        public override ValueTask<InterceptionResult<object>> ScalarExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<object> result, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref count);
            return base.ScalarExecutingAsync(command, eventData, result, cancellationToken);
        }
    }
}

public sealed class BenchOrder
{
    public int Id { get; set; }

    public string Customer { get; set; } = "";
}

public sealed class BenchDb(DbContextOptions<BenchDb> options) : DbContext(options)
{
    public DbSet<BenchOrder> Orders => Set<BenchOrder>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddTaskOutbox();

    public static DbContextOptionsBuilder Use(DbContextOptionsBuilder options, string provider, string connectionString)
        => provider == "sqlite" ? options.UseSqlite(connectionString) : options.UseNpgsql(connectionString);
}
