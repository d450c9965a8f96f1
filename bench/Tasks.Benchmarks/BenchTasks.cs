using MessagePack;
using Tasks;

namespace Tasks.Benchmarks;

/// <summary>A small record argument, serializable by MessagePack (for us) and JSON (for Hangfire).</summary>
[MessagePackObject]
public sealed record Small([property: Key(0)] int Id, [property: Key(1)] string Label);

public static partial class BenchTasks
{
    public static long Completed;

    /// <summary>The task every dispatch figure invokes: does nothing, so only the framework is measured.</summary>
    [AsyncTask(Queue = "bench")]
    public static Task NoOp(CancellationToken cancellationToken, int id, string name, Small small) => Task.CompletedTask;

    /// <summary>Counts completions for the throughput suites.</summary>
    [AsyncTask(Queue = "bench-throughput")]
    public static Task Count(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Completed);
        return Task.CompletedTask;
    }

    /// <summary>Records enqueue-to-start latency for the Azurite suite.</summary>
    [AsyncTask(Queue = "bench-azure")]
    public static Task Timed(CancellationToken cancellationToken, long sentAt)
    {
        Latency.Record(sentAt);
        return Task.CompletedTask;
    }

    /// <summary>A task of the flows suite's batches: notes when it ended.</summary>
    [AsyncTask(Queue = "bench-flow")]
    public static Task Member(CancellationToken cancellationToken)
    {
        BatchClock.Ended();
        return Task.CompletedTask;
    }

    /// <summary>The flows suite's batch callback: notes when it started.</summary>
    [AsyncTask(Queue = "bench-flow")]
    public static Task AllDone(CancellationToken cancellationToken)
    {
        BatchClock.CallbackStarted();
        return Task.CompletedTask;
    }

    /// <summary>The flows suite's parent: notes when it ended.</summary>
    [AsyncTask(Queue = "bench-flow")]
    public static Task Parent(CancellationToken cancellationToken)
    {
        StepClock.ParentEnded();
        return Task.CompletedTask;
    }

    /// <summary>The flows suite's continuation: notes when it started.</summary>
    [AsyncTask(Queue = "bench-flow")]
    public static Task Child(CancellationToken cancellationToken)
    {
        StepClock.ChildStarted();
        return Task.CompletedTask;
    }

    /// <summary>The limits suite's unlimited side: records enqueue-to-start latency.</summary>
    [AsyncTask(Queue = "bench-limits")]
    public static Task Free(CancellationToken cancellationToken, long sentAt)
    {
        Latency.Record(sentAt);
        return Task.CompletedTask;
    }

    /// <summary>The limits suite's limited side: the same, under a limit it never reaches.</summary>
    [AsyncTask(Queue = "bench-limits"), ConcurrencyLimit(10_000, Name = "bench-wide")]
    public static Task Wide(CancellationToken cancellationToken, long sentAt)
    {
        Latency.Record(sentAt);
        return Task.CompletedTask;
    }

    /// <summary>The limits suite's deferrals: one run at a time, 20 ms each, so most of them wait.</summary>
    [AsyncTask(Queue = "bench-limits"), ConcurrencyLimit(1, Name = "bench-mutex")]
    public static async Task OneAtATime(CancellationToken cancellationToken, long sentAt)
    {
        await Task.Delay(20, cancellationToken);
        Latency.Record(sentAt);
    }

    [AsyncTask(Queue = "bench")]
    public static Task Mixed(CancellationToken cancellationToken, Guid id, DateTimeOffset at, decimal amount, string currency) => Task.CompletedTask;

    [AsyncTask(Queue = "bench")]
    public static Task Names(CancellationToken cancellationToken, List<string> names) => Task.CompletedTask;

    [AsyncTask(Queue = "bench")]
    public static Task Blob(CancellationToken cancellationToken, byte[] data) => Task.CompletedTask;

    /// <summary>The payloads suite's task: a large argument, counted when it ran (its bytes checked by their length).</summary>
    [AsyncTask(Queue = "bench-payload")]
    public static Task Large(CancellationToken cancellationToken, byte[] data)
    {
        Interlocked.Add(ref LargeBytes, data.Length);
        Interlocked.Increment(ref LargeRuns);
        return Task.CompletedTask;
    }

    public static long LargeBytes;
    public static long LargeRuns;

    /// <summary>Hangfire's counterpart of <see cref="Count"/>.</summary>
    public static void CountHangfire() => Interlocked.Increment(ref Completed);
}

/// <summary>Enqueue-to-start latencies, in Stopwatch ticks.</summary>
public static class Latency
{
    private static readonly List<long> samples = new();

    public static void Record(long sentAt)
    {
        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        lock (samples) samples.Add(now - sentAt);
    }

    public static int Count
    {
        get { lock (samples) return samples.Count; }
    }

    public static (double P50, double P99) TakeMilliseconds()
    {
        long[] sorted;
        lock (samples)
        {
            sorted = samples.Order().ToArray();
            samples.Clear();
        }

        double At(double q) => sorted[(int)Math.Min(sorted.Length - 1, Math.Round(q * (sorted.Length - 1)))] * 1000.0 / System.Diagnostics.Stopwatch.Frequency;
        return (At(0.50), At(0.99));
    }
}

/// <summary>When the last task of a batch ended and when its callback started, in Stopwatch ticks.</summary>
public static class BatchClock
{
    private static long lastEnd;
    private static int ended;
    private static TaskCompletionSource<long> callback = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static int EndedCount => Volatile.Read(ref ended);

    public static long LastEnd => Interlocked.Read(ref lastEnd);

    /// <summary>The callback's start, once it runs.</summary>
    public static Task<long> Callback => Volatile.Read(ref callback).Task;

    public static void Ended()
    {
        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        for (var seen = Interlocked.Read(ref lastEnd); now > seen; seen = Interlocked.Read(ref lastEnd))
        {
            if (Interlocked.CompareExchange(ref lastEnd, now, seen) == seen) break;
        }

        Interlocked.Increment(ref ended);
    }

    /// <summary>How many callbacks ran: one per batch, or a batch's callback ran twice.</summary>
    public static int Callbacks => Volatile.Read(ref callbacks);

    private static int callbacks;

    public static void CallbackStarted()
    {
        Interlocked.Increment(ref callbacks);
        Volatile.Read(ref callback).TrySetResult(System.Diagnostics.Stopwatch.GetTimestamp());
    }

    public static void Reset()
    {
        Interlocked.Exchange(ref lastEnd, 0);
        Interlocked.Exchange(ref ended, 0);
        Volatile.Write(ref callback, new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously));
    }
}

/// <summary>When a parent ended and when its continuation started, in Stopwatch ticks.</summary>
public static class StepClock
{
    private static long parentEnd;
    private static TaskCompletionSource<long> child = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static long ParentEnd => Interlocked.Read(ref parentEnd);

    public static Task<long> Child => Volatile.Read(ref child).Task;

    public static void ParentEnded() => Interlocked.Exchange(ref parentEnd, System.Diagnostics.Stopwatch.GetTimestamp());

    public static void ChildStarted() => Volatile.Read(ref child).TrySetResult(System.Diagnostics.Stopwatch.GetTimestamp());

    public static void Reset()
    {
        Interlocked.Exchange(ref parentEnd, 0);
        Volatile.Write(ref child, new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously));
    }
}
