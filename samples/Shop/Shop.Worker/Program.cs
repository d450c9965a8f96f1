using Shop.Tasks;
using Tasks;
using Tasks.Azure;

var builder = Host.CreateApplicationBuilder(args);

// Instance-method tasks are created from DI, one scope per run; the worker checks at start that they resolve.
builder.Services.AddScoped<OrderTasks>();

// Runs every task of the assemblies this project references (found when it was compiled).
// "Tasks:Azure" is in appsettings.json.
builder.Services.AddAsyncTaskWorker(worker => worker.MaxConcurrency = 16)
    .UseAzureQueues(builder.Configuration.GetSection("Tasks:Azure"));

builder.Build().Run();
