using System.Buffers;
using System.Reflection;
using BenchmarkDotNet.Attributes;
using HangfireJob = Hangfire.Common.Job;
using Hangfire.Storage;
using MessagePack;

namespace Tasks.Benchmarks;

/// <summary>
/// Decode + dispatch + invoke of a no-op task with (int, string, record) arguments: Tasks against
/// the floor (the same typed envelope decoded and the method called directly), reflection
/// (MessagePack per-parameter-type decoding + MethodInfo.Invoke) and Hangfire's InvocationData.
/// </summary>
[MemoryDiagnoser]
public class DispatchBenchmarks
{
    private static readonly IServiceProvider NoServices = new EmptyServices();
    private static readonly MessagePackSerializerOptions Options = TaskSerializer.DefaultOptions;
    private static readonly Dictionary<string, (MethodInfo Method, Type[] Parameters)> ReflectionTable = new()
    {
        [BenchTasks.NoOpAsync.Definition.Name] = (typeof(BenchTasks).GetMethod(nameof(BenchTasks.NoOp))!, typeof(BenchTasks).GetMethod(nameof(BenchTasks.NoOp))!.GetParameters().Select(p => p.ParameterType).ToArray()),
    };

    private byte[] envelope = [];
    private byte[] reflectionBody = [];
    private string hangfirePayload = "";

    [GlobalSetup]
    public void Setup()
    {
        var small = new Small(7, "seven");
        envelope = Envelopes.Write(BenchTasks.NoOpAsync.Definition, new BenchTasks.NoOpAsync.Arguments(42, "name", small));

        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(2);
        writer.Write(BenchTasks.NoOpAsync.Definition.Name);
        writer.WriteArrayHeader(3);
        MessagePackSerializer.Serialize(ref writer, 42, Options);
        MessagePackSerializer.Serialize(ref writer, "name", Options);
        MessagePackSerializer.Serialize(ref writer, small, Options);
        writer.Flush();
        reflectionBody = buffer.WrittenSpan.ToArray();

        hangfirePayload = InvocationData.SerializeJob(HangfireJob.FromExpression(() => BenchTasks.NoOp(CancellationToken.None, 42, "name", small))).SerializePayload();
    }

    [Benchmark(Baseline = true, Description = "floor: typed decode + direct call")]
    public Task Floor()
    {
        var reader = new MessagePackReader(envelope);
        reader.ReadArrayHeader();
        reader.ReadInt32();
        reader.Skip();
        var arguments = BenchTasks.NoOpAsync.Definition.Formatter.Deserialize(ref reader, Options);
        reader.Skip();
        return BenchTasks.NoOp(CancellationToken.None, arguments.id, arguments.name, arguments.small);
    }

    [Benchmark(Description = "Tasks: envelope + dispatch table + generated invoke")]
    public Task Tasks()
    {
        var decoded = TaskEnvelope.Read(envelope, TaskRegistry.Default, Options);
        return decoded.Definition.InvokeAsync(NoServices, decoded.Arguments, CancellationToken.None);
    }

    [Benchmark(Description = "reflection: MessagePack object[] + MethodInfo.Invoke")]
    public Task Reflection()
    {
        var reader = new MessagePackReader(reflectionBody);
        reader.ReadArrayHeader();
        var (method, parameters) = ReflectionTable[reader.ReadString()!];
        var count = reader.ReadArrayHeader();
        var arguments = new object?[parameters.Length];
        arguments[0] = CancellationToken.None;
        for (var i = 0; i < count; i++) arguments[i + 1] = MessagePackSerializer.Deserialize(parameters[i + 1], ref reader, Options);
        return (Task)method.Invoke(null, arguments)!;
    }

    [Benchmark(Description = "Hangfire: InvocationData + MethodInfo.Invoke")]
    public Task Hangfire()
    {
        var job = InvocationData.DeserializePayload(hangfirePayload).DeserializeJob();
        return (Task)job.Method.Invoke(null, job.Args.ToArray())!;
    }

    private sealed class EmptyServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }
}

internal static class DispatchSuite
{
    public static void Run()
    {
        var report = new Report("dispatch");
        var figures = InProcessBenchmarks.Run<DispatchBenchmarks>(report);

        var tasks = figures[nameof(DispatchBenchmarks.Tasks)];
        var floor = figures[nameof(DispatchBenchmarks.Floor)];
        report.Ratio("Tasks / floor (time)", tasks.Ns / floor.Ns, "<= 1.2", tasks.Ns / floor.Ns <= 1.2);
        report.Ratio("reflection / Tasks (time)", figures[nameof(DispatchBenchmarks.Reflection)].Ns / tasks.Ns, ">= 10", figures[nameof(DispatchBenchmarks.Reflection)].Ns / tasks.Ns >= 10);
        report.Ratio("Hangfire / Tasks (time)", figures[nameof(DispatchBenchmarks.Hangfire)].Ns / tasks.Ns, "(reported)", true);
        report.Ratio("Tasks - floor (allocated bytes)", tasks.Bytes - floor.Bytes, "0: nothing beyond the argument objects", tasks.Bytes <= floor.Bytes);
        report.Save();
    }
}

internal static class Envelopes
{
    public static byte[] Write<TArguments>(TaskDefinition<TArguments> task, TArguments arguments)
        where TArguments : class
    {
        var buffer = new ArrayBufferWriter<byte>();
        TaskEnvelope.Write(buffer, task, arguments, Guid.NewGuid().ToString("N"), DateTimeOffset.UtcNow, default, TaskSerializer.DefaultOptions);
        return buffer.WrittenSpan.ToArray();
    }
}
