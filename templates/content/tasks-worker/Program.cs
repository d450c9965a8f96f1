using Tasks;
using Tasks.Azure;

var builder = Host.CreateApplicationBuilder(args);

// Every registration is checked as the host is built, in every environment: a task class whose dependency is not
// registered fails the start, not its first run.
builder.ConfigureContainer(new DefaultServiceProviderFactory(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true }));

// Instance-method tasks are created from the container, one scope per run: register their classes and what they
// need here (builder.Services.AddScoped<MyTasks>()). The worker checks at start that each resolves.

// Runs every task of the libraries this project references. "Tasks:Azure" is in appsettings.json; the environment
// (Tasks__Azure__ConnectionString) overrides it.
builder.Services.AddAsyncTaskWorker(worker => worker.MaxConcurrency = 16)
    .UseAzureQueues(builder.Configuration.GetSection("Tasks:Azure"));

builder.Build().Run();
