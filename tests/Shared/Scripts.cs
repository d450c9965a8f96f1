using System.Collections.Concurrent;

namespace Tasks.Testing;

/// <summary>
/// What a scripted test task does: each test registers a behaviour under a fresh id and enqueues
/// a task that runs <see cref="Run"/> with that id, so tests never share state.
/// </summary>
public static class Scripts
{
    private static readonly ConcurrentDictionary<string, Func<TaskContext, CancellationToken, Task>> Behaviours = new();

    public static string Add(Func<TaskContext, CancellationToken, Task> behaviour)
    {
        var id = Guid.NewGuid().ToString("N");
        Behaviours[id] = behaviour;
        return id;
    }

    public static Task Run(string id, CancellationToken cancellationToken) => Behaviours[id](TaskContext.Current!, cancellationToken);
}
