using System.Collections.Concurrent;
using MessagePack;
using Tasks;
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Tasks.Core.Tests;

public static partial class ScriptedTasks
{
    public const string Queue = "scripted";

    [AsyncTask(Queue = Queue, MaxAttempts = 3)]
    public static Task Run(CancellationToken cancellationToken, string scriptId) => Scripts.Run(scriptId, cancellationToken);

    [AsyncTask(Queue = "other", MaxAttempts = 3)]
    public static Task RunOther(CancellationToken cancellationToken, string scriptId) => Scripts.Run(scriptId, cancellationToken);

    [AsyncTask(Queue = Queue)]
    public static Task Choose(CancellationToken cancellationToken, Picky picky) => Task.CompletedTask;

    [AsyncTask(Queue = Queue)]
    public static Task Echo(CancellationToken cancellationToken, string text, int number = 42) => Scripts.Run(text, cancellationToken);
}

public enum Color { Red, Green, Blue = 7 }

[MessagePackObject]
public sealed record Address([property: Key(0)] string Street, [property: Key(1)] int? Number);

[Union(0, typeof(Circle))]
[Union(1, typeof(Square))]
public interface IShape;

[MessagePackObject]
public sealed record Circle([property: Key(0)] double Radius) : IShape;

[MessagePackObject]
public sealed record Square([property: Key(0)] double Side) : IShape;

/// <summary>An argument whose constructor refuses some values, as validating domain types do.</summary>
[MessagePackObject]
public sealed class Picky
{
    [SerializationConstructor]
    public Picky(int value) => Value = value >= 0 ? value : throw new FormatException($"{value} is negative");

    [Key(0)]
    public int Value { get; }
}

/// <summary>Every kind of argument the generator supports, in one task.</summary>
public static partial class AllTypesTasks
{
    public static readonly ConcurrentDictionary<Guid, object?[]> Received = new();

    [AsyncTask(Queue = "all-types")]
    public static Task Capture(
        CancellationToken cancellationToken,
        Guid key,
        int number,
        long big,
        double ratio,
        decimal money,
        bool flag,
        char letter,
        string? text,
        Color color,
        DateTime when,
        DateTimeOffset whenOffset,
        TimeSpan duration,
        byte[] blob,
        int[] numbers,
        List<string> names,
        Dictionary<string, int> counts,
        Address address,
        Address? missingAddress,
        int? maybe,
        IShape shape,
        (int, string) pair,
        IReadOnlyList<Address> addresses)
    {
        Received[key] = [number, big, ratio, money, flag, letter, text, color, when, whenOffset, duration, blob, numbers, names, counts, address, missingAddress, maybe, shape, pair, addresses];
        return Task.CompletedTask;
    }
}

/// <summary>An instance task: the worker resolves this type from a DI scope per task.</summary>
public sealed partial class GreeterTasks(GreetingLog log, ScopedThing scoped)
{
    [AsyncTask(Queue = "instances")]
    public Task Greet(CancellationToken cancellationToken, string name)
    {
        log.Lines.Add($"{name} via scope {scoped.Id}");
        return Task.CompletedTask;
    }
}

public sealed class GreetingLog
{
    public ConcurrentBag<string> Lines { get; } = new();
}

public sealed class ScopedThing : IDisposable
{
    public static int Disposed;

    public Guid Id { get; } = Guid.NewGuid();

    public void Dispose() => Interlocked.Increment(ref Disposed);
}

/// <summary>No-op tasks with every kind of argument, for hostile input: whatever decodes, running it is harmless.</summary>
public static partial class HostileInputTasks
{
    public const string Queue = "hostile";

    [AsyncTask(Queue = Queue)]
    public static Task Everything(
        CancellationToken cancellationToken,
        Guid key,
        string text,
        int? maybe,
        decimal money,
        DateTimeOffset when,
        byte[] blob,
        List<string> names,
        Dictionary<string, int?> counts,
        Address address,
        IShape shape,
        Color color = Color.Green) => Task.CompletedTask;

    [AsyncTask(Queue = Queue)]
    public static Task Choose(CancellationToken cancellationToken, Picky picky) => Task.CompletedTask;

    [AsyncTask(Queue = Queue)]
    public static Task Defaults(CancellationToken cancellationToken, string text, int number = 42) => Task.CompletedTask;
}

/// <summary>A task with a policy of its own: 1 s timeout, 7 s first retry delay, one run at a time.</summary>
public static partial class PolicyTasks
{
    public const string Queue = "policy";

    [AsyncTask(Queue = Queue, Timeout = "00:00:01", RetryDelay = "00:00:07", MaxConcurrency = 1, MaxAttempts = 3)]
    public static Task Run(CancellationToken cancellationToken, string scriptId) => Scripts.Run(scriptId, cancellationToken);
}

/// <summary>Recurring tasks on a queue of their own, so only the tests that serve it keep their schedules.</summary>
public static partial class RecurringTasks
{
    public const string Queue = "recurring";

    public static readonly ConcurrentQueue<string> EverySecondRuns = new();

    [AsyncTask(Queue = Queue), Recurring("*/10 * * * *")]
    public static Task EveryTenMinutes(CancellationToken cancellationToken) => Task.CompletedTask;

    [AsyncTask(Queue = Queue), Recurring("* * * * * *")]
    public static Task EverySecond(CancellationToken cancellationToken)
    {
        EverySecondRuns.Enqueue(TaskContext.Current!.MessageId);
        return Task.CompletedTask;
    }
}

/// <summary>Tasks whose records the record tests read.</summary>
public static partial class RecordedTasks
{
    public const string Queue = "recorded";

    [AsyncTask(Queue = Queue, MaxAttempts = 2, RetryDelay = "00:00:00.2")]
    public static Task Run(CancellationToken cancellationToken, string scriptId, int number = 7) => Scripts.Run(scriptId, cancellationToken, number);

    [AsyncTask(Queue = Queue, UniqueFor = "00:10:00")]
    public static Task Once(CancellationToken cancellationToken, string scriptId, string invoice) => Scripts.Run(scriptId, cancellationToken);

    [AsyncTask(Queue = Queue, PersonalData = true)]
    public static Task Personal(CancellationToken cancellationToken, string scriptId, string email) => Scripts.Run(scriptId, cancellationToken);

    /// <summary>Large arguments, for the payload store.</summary>
    [AsyncTask(Queue = Queue)]
    public static Task Take(CancellationToken cancellationToken, string scriptId, byte[] data, string text) => Scripts.Run(scriptId, cancellationToken, data, text);
}
