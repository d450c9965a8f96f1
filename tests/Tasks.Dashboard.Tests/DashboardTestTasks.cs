using Tasks;

namespace Tasks.Dashboard.Tests;

public static partial class DashboardTestTasks
{
    public const string Queue = "dashboard";

    [AsyncTask(Queue = Queue, MaxAttempts = 1)]
    public static Task Run(CancellationToken cancellationToken, string scriptId, string note) => Scripts.Run(scriptId, cancellationToken);

    [AsyncTask(Queue = Queue, PersonalData = true)]
    public static Task Mail(CancellationToken cancellationToken, string email) => Task.CompletedTask;

    [AsyncTask(Queue = Queue), Recurring("0 3 * * *")]
    public static Task Nightly(CancellationToken cancellationToken) => Task.CompletedTask;
}
