using System.Collections.Concurrent;

namespace Tasks.Testing;

/// <summary>
/// What a scripted test task does: each test registers a behaviour under a fresh id and enqueues
/// a task that runs <see cref="Run"/> with that id, so tests never share state. A behaviour may
/// read the task's other arguments as the worker decoded them.
/// </summary>
public static class Scripts
{
    private static readonly ConcurrentDictionary<string, Func<TaskContext, object?[], CancellationToken, Task>> Behaviours = new();

    public static string Add(Func<TaskContext, CancellationToken, Task> behaviour) => Add((context, _, cancellationToken) => behaviour(context, cancellationToken));

    public static string Add(Func<TaskContext, object?[], CancellationToken, Task> behaviour)
    {
        var id = Guid.NewGuid().ToString("N");
        Behaviours[id] = behaviour;
        return id;
    }

    public static Task Run(string id, CancellationToken cancellationToken, params object?[] arguments) => Behaviours[id](TaskContext.Current!, arguments, cancellationToken);
}
