using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Shop.Tasks;
using Tasks;
using Tasks.Azure;

var builder = Host.CreateApplicationBuilder(args);

// Instance-method tasks are created from DI, one scope per run; the worker checks at start that they resolve.
builder.Services.AddScoped<OrderTasks>();
builder.Services.AddScoped<StockTasks>();

// Runs every task of the assemblies this project references (found when it was compiled).
// "Tasks:Azure" is in appsettings.json.
builder.Services.AddAsyncTaskWorker(worker => worker.MaxConcurrency = 16)
    .UseAzureQueues(builder.Configuration.GetSection("Tasks:Azure"))
    .AddRunFilter<TenantRunFilter>(); // each task runs for the tenant of the request that enqueued it

// Traces and metrics on the console: dotnet run -- --Telemetry:Console=true. Each run's span is the
// child of the API request that enqueued it, in the same trace; metrics print every 10 s and at exit.
if (builder.Configuration.GetValue<bool>("Telemetry:Console"))
{
    builder.Services.AddOpenTelemetry()
        .WithTracing(tracing => tracing.AddTasksInstrumentation().AddConsoleExporter())
        .WithMetrics(metrics => metrics.AddTasksInstrumentation()
            .AddConsoleExporter((_, reader) => reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 10_000));
}

builder.Build().Run();
