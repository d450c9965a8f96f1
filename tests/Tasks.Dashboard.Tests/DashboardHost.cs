using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Tasks.Dashboard.Tests;

/// <summary>
/// An ASP.NET Core app on Kestrel (a real socket on 127.0.0.1) with the in-memory transport, records,
/// a worker and the dashboard at /tasks; behind forwarded headers, as behind a proxy, so a test can
/// make a request come from another machine.
/// </summary>
internal sealed class DashboardHost : IAsyncDisposable
{
    private readonly WebApplication app;

    private DashboardHost(WebApplication app, Uri address)
    {
        this.app = app;
        Address = address;
        Http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true, CookieContainer = new CookieContainer() }) { BaseAddress = address };
    }

    public Uri Address { get; }

    public HttpClient Http { get; }

    public IServiceProvider Services => app.Services;

    public TaskClient Client => (TaskClient)Services.GetRequiredService<ITaskClient>();

    public InMemoryTaskRecordStore Records => (InMemoryTaskRecordStore)Services.GetRequiredService<TaskRecordStore>();

    public static async Task<DashboardHost> StartAsync(Action<TasksDashboardOptions>? dashboard = null, Action<RouteGroupBuilder>? map = null, bool worker = true, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var tasks = worker
            ? builder.Services.AddAsyncTaskWorker(o => (o.MinPollingInterval, o.MaxPollingInterval) = (TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(50)))
            : builder.Services.AddAsyncTasks();
        tasks.UseInMemoryTransport().UseTaskRecords(o => (o.FlushInterval, o.HeartbeatInterval, o.CancelPollInterval) = (TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(100)));
        builder.Services.AddTasksDashboard(dashboard);
        builder.Services.AddAuthorization();
        services?.Invoke(builder.Services);
        builder.Services.Configure<ForwardedHeadersOptions>(o =>
        {
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor;
            o.KnownProxies.Add(IPAddress.Loopback);
        });
        var app = builder.Build();
        app.UseForwardedHeaders();
        var group = app.MapTasksDashboard("/tasks");
        map?.Invoke(group);
        await app.StartAsync();
        return new DashboardHost(app, new Uri(app.Urls.First()));
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
