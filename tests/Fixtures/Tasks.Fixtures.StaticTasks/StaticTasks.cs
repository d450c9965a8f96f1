using Tasks;

namespace Tasks.Fixtures;

public static partial class StaticTasks
{
    public const string Queue = "fixture-static";

    [AsyncTask(Name = "fixture.static.ping", Queue = Queue)]
    public static Task Ping(CancellationToken cancellationToken, string text) => Task.CompletedTask;
}
