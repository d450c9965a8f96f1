using Tasks;
using Tasks.Azure;
using TasksApp.Tasks;

var builder = Host.CreateApplicationBuilder(args);

// Instance-method tasks are created from the container, one scope per run; the worker checks at start that they resolve.
builder.Services.AddSingleton<IMailer, LogMailer>();
builder.Services.AddScoped<WelcomeTasks>();

// Runs every task of the libraries this project references. "Tasks:Azure" is in appsettings.json.
builder.Services.AddAsyncTaskWorker(worker => worker.MaxConcurrency = 16)
    .UseAzureQueues(builder.Configuration.GetSection("Tasks:Azure"));

builder.Build().Run();
