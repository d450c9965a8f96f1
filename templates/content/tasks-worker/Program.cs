using Tasks;
using Tasks.Azure;

var builder = Host.CreateApplicationBuilder(args);

// Instance-method tasks are created from the container, one scope per run: register their classes and what they
// need here (builder.Services.AddScoped<MyTasks>()). The worker checks at start that each resolves.

// Runs every task of the libraries this project references. "Tasks:Azure" is in appsettings.json; the environment
// (Tasks__Azure__ConnectionString) overrides it.
builder.Services.AddAsyncTaskWorker(worker => worker.MaxConcurrency = 16)
    .UseAzureQueues(builder.Configuration.GetSection("Tasks:Azure"));

builder.Build().Run();
