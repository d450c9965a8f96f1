using Microsoft.EntityFrameworkCore;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Shop.Api;
using Shop.Tasks;
using Tasks;
using Tasks.Azure;
using Tasks.Dashboard;
using Tasks.EntityFrameworkCore;
using Tasks.Transports;

var builder = WebApplication.CreateBuilder(args);

// Enqueue only: no worker runs in the web app. "Tasks:Azure" is in appsettings.json. The enqueue filter puts the
// request's tenant (X-Tenant) in each task's envelope, and the worker's run filter sets it for the run.
builder.Services.AddHttpContextAccessor();
builder.Services.AddAsyncTasks().UseAzureQueues(builder.Configuration.GetSection("Tasks:Azure")).AddEnqueueFilter<TenantEnqueueFilter>()
    .AddOutbox<ShopDb>(); // tasks enqueued into ShopDb are sent once it commits; its relay sends what a crash left behind

// The orders live in SQLite through EF Core; UseTaskOutbox lets a SaveChanges carry tasks with them.
builder.Services.AddDbContext<ShopDb>((services, options) => options.UseSqlite(builder.Configuration.GetConnectionString("Shop")).UseTaskOutbox(services));

// Traces on the console: dotnet run -- --Telemetry:Console=true. The request span (ASP.NET Core's own
// "Microsoft.AspNetCore" source) is the parent of each enqueue, and the worker's run continues the trace.
if (builder.Configuration.GetValue<bool>("Telemetry:Console"))
{
    builder.Services.AddOpenTelemetry()
        .WithTracing(tracing => tracing.AddSource("Microsoft.AspNetCore").AddTasksInstrumentation().AddConsoleExporter());
}

// The dashboard: queues, tasks, dead letters, recurring tasks and workers, at /tasks. Until its endpoints
// require a policy (MapTasksDashboard(...).RequireAuthorization("ops")), it serves this machine only.
builder.Services.AddTasksDashboard(o => (o.Title, o.AppLink) = ("Shop tasks", "/"));

var app = builder.Build();

// A sample's shortcut: your app creates its tables with migrations (docs/outbox.md).
using (var scope = app.Services.CreateScope()) scope.ServiceProvider.GetRequiredService<ShopDb>().Database.EnsureCreated();

// The one exception an enqueue throws. It names the task, the queue and the cause (the queue
// endpoint too): that goes to the log, and the caller gets a 503 to retry later.
app.Use(async (context, next) =>
{
    try
    {
        await next(context);
    }
    catch (TaskMessageTooLargeException ex)
    {
        // Not transient: no retry makes it fit. The caller's to fix.
        context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
        await context.Response.WriteAsJsonAsync(new { error = $"Too large to enqueue: {ex.Size:N0} bytes, at most {ex.Limit:N0}.", task = ex.TaskName });
    }
    catch (TaskEnqueueException ex)
    {
        app.Logger.LogError(ex, "Could not enqueue {Task} on {Queue}", ex.TaskName, ex.Queue);
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        await context.Response.WriteAsJsonAsync(new { error = "The work could not be queued; try again later.", task = ex.TaskName });
    }
    catch (TaskTransportException ex) when (ex.IsTransient)
    {
        // A read of the records (GET /tasks/{id}) whose store does not answer: it names the service; the caller retries.
        app.Logger.LogError(ex, "A storage service did not answer");
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        await context.Response.WriteAsJsonAsync(new { error = "Not available now; try again later." });
    }
});

// The id Enqueue returns is the id the task sees in TaskContext.MessageId, the worker's logs and a dead letter.
app.MapPost("/welcome", async (string email) =>
    Results.Accepted(value: new { messageId = await EmailTasks.SendWelcomeAsync.Enqueue(email) }));

// An order and the task that charges it, in one SaveChanges: both are stored, or neither. The charge is sent once
// the order is committed (a rollback sends nothing), and a crash right after the commit loses it not: the relay sends it.
app.MapPost("/orders", async (string email, int items, decimal amount, ShopDb db) =>
{
    var order = new Order { Id = Guid.NewGuid(), Email = email, Items = items, Amount = amount, PlacedAt = DateTimeOffset.UtcNow };
    db.Orders.Add(order);
    var charge = await PaymentTasks.ChargeAsync.Enqueue(db.Tasks(), order.Id, amount);
    await db.SaveChangesAsync();
    return Results.Created($"/orders/{order.Id}", new { orderId = order.Id, messageId = charge });
});

app.MapGet("/orders/{orderId:guid}", async (Guid orderId, ShopDb db) =>
    await db.Orders.FindAsync(orderId) is { } order ? Results.Ok(order) : Results.NotFound(new { error = $"No order {orderId}." }));

app.MapPost("/orders/{orderId:guid}/ship", async (Guid orderId, int items, ITaskClient tasks) =>
    Results.Accepted(value: new { messageId = await OrderTasks.ShipAsync.Enqueue(tasks, new Shipment(orderId, items)) }));

// Fails (dead-lettered) until the carrier's desk opens, deskOpensInSeconds from now: then requeue it.
app.MapPost("/orders/{orderId:guid}/pickup", async (Guid orderId, int deskOpensInSeconds) =>
    Results.Accepted(value: new { messageId = await CarrierTasks.BookPickupAsync.Enqueue(orderId, DateTimeOffset.UtcNow.AddSeconds(deskOpensInSeconds)) }));

// A checkout: charge, then ship, then mail, each step after the one before succeeds. Each step's
// arguments are checked by the compiler; the ids come back in order.
app.MapPost("/orders/{orderId:guid}/checkout", async (Guid orderId, int items, decimal amount, string email, ITaskClient tasks) =>
    Results.Accepted(value: new
    {
        messageIds = await tasks.EnqueueChainAsync(
            PaymentTasks.ChargeAsync.Prepare(orderId, amount),
            OrderTasks.ShipAsync.Prepare(new Shipment(orderId, items)),
            EmailTasks.SendShippedAsync.Prepare(email, orderId)),
    }));

// Unique per order while its invoice is enqueued or running (up to ten minutes): a click meanwhile returns the first click's id, and one invoice is sent.
app.MapPost("/orders/{orderId:guid}/invoice", async (Guid orderId) =>
    Results.Accepted(value: new { messageId = await InvoiceTasks.SendInvoiceAsync.Enqueue(orderId) }));

// One billing run per customer at a time across every worker: a second request for the same customer waits in the
// queue (its record says for which limit) until the first has run; other customers' runs go on meanwhile.
app.MapPost("/customers/{customerId}/bill", async (string customerId, string month) =>
    Results.Accepted(value: new { messageId = await BillingTasks.BillMonthAsync.Enqueue(customerId, month) }));

// A long task that reports its progress: watch it with GET /tasks/{id}, stop it with POST /tasks/{id}/cancel.
app.MapPost("/stock/import", async (int rows) =>
    Results.Accepted(value: new { messageId = await StockTasks.ImportStockAsync.Enqueue(rows) }));

// A large argument: the uploaded file itself (curl --data-binary @catalog.csv). Larger than a queue message,
// it travels in a blob, which the worker deletes once the import succeeded. Kestrel takes request bodies of up
// to 30,000,000 bytes by default (Limits.MaxRequestBodySize); the task's envelope up to 64 MiB (MaxEnvelopeBytes).
app.MapPost("/catalog/import", async (HttpRequest request, string fileName) =>
{
    using var file = new MemoryStream();
    await request.Body.CopyToAsync(file);
    return Results.Accepted(value: new { messageId = await StockTasks.ImportCatalogAsync.Enqueue(fileName, file.ToArray()) });
});

// What happened to a task: its state, arguments, attempts (with their exceptions), worker and progress.
app.MapGet("/tasks/{id}", async (string id, ITaskRecords records) =>
    await records.GetAsync(id) is { } record ? Results.Ok(record) : Results.NotFound(new { error = $"No task {id}." }));

// A task's events as they happen, as server-sent events, ending with its last: in a browser,
// new EventSource("/tasks/<id>/events").addEventListener("task", e => show(JSON.parse(e.data))); or curl -N.
app.MapGet("/tasks/{id}/events", async (string id, ITaskRecords records, TaskWatcher watcher, CancellationToken cancellationToken) =>
    await records.GetAsync(id, cancellationToken) is null
        ? Results.NotFound(new { error = $"No task {id}." })
        : TypedResults.ServerSentEvents(watcher.WatchAsync(new TaskWatchFilter { TaskId = id }, cancellationToken), eventType: "task"));

app.MapPost("/tasks/{id}/cancel", async (string id, ITaskRecords records) =>
{
    var result = await records.CancelAsync(id);
    return result.Outcome == TaskCancelOutcome.NotFound ? Results.NotFound(new { error = result.Describe(id) }) : Results.Ok(new { outcome = result.Outcome.ToString(), message = result.Describe(id) });
});

app.MapTasksDashboard("/tasks");

app.Run();

/// <summary>Copies the tenant of the request that enqueues (its X-Tenant header) into the task's envelope.</summary>
internal sealed class TenantEnqueueFilter(IHttpContextAccessor http) : ITaskEnqueueFilter
{
    public void OnEnqueuing(TaskEnqueueContext context)
    {
        if (http.HttpContext?.Request.Headers["X-Tenant"].ToString() is { Length: > 0 } tenant) context.SetHeader(Tenant.Header, tenant);
    }
}
