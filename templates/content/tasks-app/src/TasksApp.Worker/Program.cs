using Tasks;
using Tasks.Azure;
using TasksApp.Tasks;

var builder = Host.CreateApplicationBuilder(args);

// Every registration is checked as the host is built, in every environment: a task class whose dependency is not
// registered fails the start, not its first run.
builder.ConfigureContainer(new DefaultServiceProviderFactory(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true }));

// Instance-method tasks are created from the container, one scope per run; the worker checks at start that they resolve.
builder.Services.AddSingleton<IMailer, LogMailer>();
builder.Services.AddScoped<WelcomeTasks>();

// Runs every task of the libraries this project references. "Tasks:Azure" is in appsettings.json.
builder.Services.AddAsyncTaskWorker(worker => worker.MaxConcurrency = 16)
    .UseAzureQueues(builder.Configuration.GetSection("Tasks:Azure"));

builder.Build().Run();
