#if (outbox)
using Microsoft.EntityFrameworkCore;
#endif
using Tasks;
using Tasks.Azure;
using Tasks.Transports;
#if (dashboard)
using Tasks.Dashboard;
#endif
#if (outbox)
using Tasks.EntityFrameworkCore;
using TasksApp.Api;
#endif
using TasksApp.Tasks;

var builder = WebApplication.CreateBuilder(args);

// This app enqueues; TasksApp.Worker runs the tasks. "Tasks:Azure" is in appsettings.json (Azurite on its default
// ports); Tasks__Azure__ConnectionString in the environment points it at Azure.
var tasks = builder.Services.AddAsyncTasks().UseAzureQueues(builder.Configuration.GetSection("Tasks:Azure"));
#if (outbox)

// Sign-ups live in SQLite through EF Core. A task enqueued into AppDb is committed with the sign-up by the same
// SaveChanges and sent once it commits; the relay sends what a crash left behind.
tasks.AddOutbox<AppDb>();
builder.Services.AddDbContext<AppDb>((services, options) => options.UseSqlite(builder.Configuration.GetConnectionString("App")).UseTaskOutbox(services));
#endif
#if (dashboard)

// Queues, tasks, dead letters, recurring tasks and workers at /dashboard. Until its endpoints require a policy
// (MapTasksDashboard(...).RequireAuthorization("ops")), it serves this machine only.
builder.Services.AddTasksDashboard(o => o.Title = "TasksApp");
#endif

var app = builder.Build();
#if (outbox)

// Creates the database on first run. Your app would use migrations: dotnet ef migrations add Initial.
using (var scope = app.Services.CreateScope()) scope.ServiceProvider.GetRequiredService<AppDb>().Database.EnsureCreated();
#endif

// Storage that does not answer (down, hung, throttling) fails an enqueue within about 5 s with a transient
// TaskEnqueueException, and a record read with a TaskTransportException: the caller gets 503 and retries later.
// A TaskMessageTooLargeException (arguments over the limit) is the caller's to fix: 413.
app.Use(async (context, next) =>
{
    try
    {
        await next(context);
    }
    catch (Exception ex) when (!context.Response.HasStarted && ex is TaskMessageTooLargeException or TaskEnqueueException { IsTransient: true } or TaskTransportException { IsTransient: true })
    {
        var tooLarge = ex is TaskMessageTooLargeException;
        app.Logger.LogWarning(ex, "{Method} {Path} answered {Status}", context.Request.Method, context.Request.Path, tooLarge ? 413 : 503);
        if (!tooLarge) context.Response.Headers.RetryAfter = "5";
        await Results.Problem(
            title: tooLarge ? "Too large to enqueue." : "The storage service did not answer; try again later.",
            detail: tooLarge ? ex.Message : null,
            statusCode: tooLarge ? StatusCodes.Status413PayloadTooLarge : StatusCodes.Status503ServiceUnavailable).ExecuteAsync(context);
    }
});

// Enqueue and answer at once: the worker sends the mail. The message id names the task from then on.
app.MapPost("/welcome", async (string email, ITaskClient client, CancellationToken cancellationToken) =>
    Results.Accepted(value: new { messageId = await WelcomeTasks.SendWelcomeAsync.Enqueue(client, email, cancellationToken: cancellationToken) }));
#if (outbox)

// The sign-up and its welcome mail in one transaction: both, or neither.
app.MapPost("/signups", async (string email, AppDb db, CancellationToken cancellationToken) =>
{
    var signup = new Signup { Email = email };
    db.Signups.Add(signup);
    var messageId = await WelcomeTasks.SendWelcomeAsync.Enqueue(db.Tasks(), email, cancellationToken: cancellationToken);
    await db.SaveChangesAsync(cancellationToken);
    return Results.Created($"/signups/{signup.Id}", new { signupId = signup.Id, messageId });
});
#endif

// A task's record: its state, arguments, attempts and the worker that ran it.
app.MapGet("/tasks/{id}", async (string id, ITaskRecords records, CancellationToken cancellationToken) =>
    await records.GetAsync(id, cancellationToken) is { } record ? Results.Ok(record) : Results.NotFound(new { error = $"No task {id}." }));
#if (dashboard)

app.MapTasksDashboard("/dashboard");
#endif

app.Run();
