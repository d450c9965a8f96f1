using Microsoft.Extensions.DependencyInjection;
using Tasks;
using Tasks.Transports;
using TasksApp.Tasks;

namespace TasksApp.Tests;

/// <summary>
/// Tasks tested as they run: the in-memory transport has real queue semantics (leases, retries, dead letters), and
/// RunOnceAsync takes one step of the worker, so a test needs no sleep and no Azure.
/// </summary>
public sealed class WelcomeTasksTests
{
    [Fact]
    public async Task SendWelcome_mails_the_new_user_once()
    {
        var mailer = new RecordingMailer();
        using var services = new ServiceCollection().AddSingleton<IMailer>(mailer).AddScoped<WelcomeTasks>().BuildServiceProvider();
        var transport = new InMemoryTransport();
        await using var worker = new TaskWorker(transport, services: services);

        var messageId = await WelcomeTasks.SendWelcomeAsync.Enqueue(new TaskClient(transport), "ada@example.com");
        var ran = await worker.RunOnceAsync();

        Assert.False(string.IsNullOrEmpty(messageId));
        Assert.Equal(1, ran);
        Assert.Equal(["ada@example.com: Welcome!"], mailer.Sent);
    }

    [Fact]
    public async Task SendWelcome_is_retried_when_the_mail_server_fails()
    {
        var mailer = new RecordingMailer { FailuresLeft = 1 };
        using var services = new ServiceCollection().AddSingleton<IMailer>(mailer).AddScoped<WelcomeTasks>().BuildServiceProvider();
        var transport = new InMemoryTransport();
        var options = new TaskWorkerOptions { Retry = { BaseDelay = TimeSpan.Zero, Jitter = 0 } };
        await using var worker = new TaskWorker(transport, options, services);

        await WelcomeTasks.SendWelcomeAsync.Enqueue(new TaskClient(transport), "ada@example.com");
        await worker.RunOnceAsync(); // the first attempt fails
        await worker.RunOnceAsync(); // the retry succeeds

        Assert.Equal(["ada@example.com: Welcome!"], mailer.Sent);
    }

    /// <summary>Keeps what would have been sent; fails the first <see cref="FailuresLeft"/> sends.</summary>
    private sealed class RecordingMailer : IMailer
    {
        public List<string> Sent { get; } = [];

        public int FailuresLeft { get; set; }

        public Task SendAsync(string to, string subject, CancellationToken cancellationToken)
        {
            if (FailuresLeft-- > 0) throw new TimeoutException("the mail server timed out");
            Sent.Add($"{to}: {subject}");
            return Task.CompletedTask;
        }
    }
}
