using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tasks;
using Tasks.Azure;
using Tasks.EntityFrameworkCore;
using Tasks.Fixtures;

// commit|commit-and-die <sqlite|postgres> <database> <azure connection string> <queue prefix> <count> <grace ms>
// Commits <count> orders, each with an OutboxTasks.Ship enqueued through the outbox in the same transaction, and
// prints "committed n id" after each commit; then "done", and goes on running its outbox relay until it is killed.
// commit-and-die kills itself (SIGKILL) right after its first commit, its send just begun: a crash at the worst time.
var (provider, database, azure, prefix, count, grace) = (args[1], args[2], args[3], args[4], int.Parse(args[5]), int.Parse(args[6]));
var builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.AddAsyncTasks().UseAzureQueues(o => (o.ConnectionString, o.QueuePrefix) = (azure, prefix))
    .AddOutbox<OrdersDb>(o => (o.Grace, o.PollInterval) = (TimeSpan.FromMilliseconds(grace), TimeSpan.FromMilliseconds(200)));
builder.Services.AddDbContext<OrdersDb>((services, options) => OrdersDb.Use(options, provider, database).UseTaskOutbox(services));
using var host = builder.Build();
await host.StartAsync();
for (var n = 1; n <= count; n++)
{
    await using var scope = host.Services.CreateAsyncScope();
    var db = scope.ServiceProvider.GetRequiredService<OrdersDb>();
    await using var transaction = await db.Database.BeginTransactionAsync();
    db.Orders.Add(new Order { Customer = $"customer {n}" });
    var id = await OutboxTasks.ShipAsync.Enqueue(db.Tasks(), n);
    await db.SaveChangesAsync();
    await transaction.CommitAsync();
    Console.WriteLine($"committed {n} {id}");
    if (args[0] == "commit-and-die") System.Diagnostics.Process.GetCurrentProcess().Kill();
}

Console.WriteLine("done");
await Task.Delay(Timeout.Infinite);
