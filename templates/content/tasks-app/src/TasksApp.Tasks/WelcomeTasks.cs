using Microsoft.Extensions.Logging;
using Tasks;

namespace TasksApp.Tasks;

/// <summary>Sends mail. The worker registers the real one; tests register one that records.</summary>
public interface IMailer
{
    /// <summary>Sends one mail.</summary>
    /// <param name="to">The address.</param>
    /// <param name="subject">The subject line.</param>
    /// <param name="cancellationToken">Fires when the worker stops or the task times out.</param>
    Task SendAsync(string to, string subject, CancellationToken cancellationToken);
}

/// <summary>A mailer that writes to the log: replace it with your mail provider's.</summary>
/// <param name="logger">Where the mail goes.</param>
public sealed class LogMailer(ILogger<LogMailer> logger) : IMailer
{
    /// <inheritdoc />
    public Task SendAsync(string to, string subject, CancellationToken cancellationToken)
    {
        logger.LogInformation("Mail '{Subject}' sent to {To}", subject, to);
        return Task.CompletedTask;
    }
}

/// <summary>
/// Work done in the background, so a sign-up request does not wait for the mail server. The generator writes
/// <c>WelcomeTasks.SendWelcomeAsync.Enqueue(...)</c>; the worker creates this class from its container for each run.
/// </summary>
/// <param name="mailer">Injected by the worker's container.</param>
public sealed partial class WelcomeTasks(IMailer mailer)
{
    /// <summary>Sends the welcome mail to a new user. Tried up to 5 times, then dead-lettered with the reason.</summary>
    /// <param name="cancellationToken">Fires when the worker stops or the task times out.</param>
    /// <param name="email">Where to send it.</param>
    [AsyncTask(Queue = "emails", MaxAttempts = 5)]
    public Task SendWelcome(CancellationToken cancellationToken, string email)
        // Tasks run at least once: TaskContext.Current!.MessageId keys side effects that must not happen twice.
        => mailer.SendAsync(email, "Welcome!", cancellationToken);
}
