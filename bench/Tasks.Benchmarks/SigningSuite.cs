using System.Buffers;
using BenchmarkDotNet.Attributes;

namespace Tasks.Benchmarks;

/// <summary>What HMAC-SHA256 signing costs per message: writing and reading the same envelope, unsigned and signed.</summary>
[MemoryDiagnoser]
public class SigningBenchmarks
{
    private static readonly EnvelopeSigner Signer = EnvelopeSigner.Create(new TaskSigningOptions
    {
        Required = true,
        Keys = { new TaskSigningKey { Id = "bench", Secret = Convert.ToBase64String(new byte[32]) } },
    })!;

    private readonly BenchTasks.NoOpAsync.Arguments arguments = new(42, "name", new Small(7, "seven"));
    private readonly ArrayBufferWriter<byte> buffer = new(256);
    private byte[] unsigned = [];
    private byte[] signed = [];

    [GlobalSetup]
    public void Setup()
    {
        unsigned = Write(null);
        signed = Write(Signer);
    }

    [Benchmark(Baseline = true, Description = "write unsigned")]
    public int WriteUnsigned() => Write(null).Length;

    [Benchmark(Description = "write signed")]
    public int WriteSigned() => Write(Signer).Length;

    [Benchmark(Description = "read unsigned")]
    public object ReadUnsigned() => TaskEnvelope.Read(unsigned, TaskRegistry.Default, TaskSerializer.DefaultOptions, null).Arguments;

    [Benchmark(Description = "read signed (verified)")]
    public object ReadSigned() => TaskEnvelope.Read(signed, TaskRegistry.Default, TaskSerializer.DefaultOptions, Signer).Arguments;

    private byte[] Write(EnvelopeSigner? signer)
    {
        buffer.Clear();
        TaskEnvelope.Write(buffer, BenchTasks.NoOpAsync.Definition, arguments, "o11viQmRC80BAAAAAAAAAA", DateTimeOffset.UnixEpoch, default, TaskSerializer.DefaultOptions, signer);
        return buffer.WrittenSpan.ToArray();
    }
}

internal static class SigningSuite
{
    public static void Run()
    {
        var report = new Report("signing");
        var ns = InProcessBenchmarks.Run<SigningBenchmarks>(report).ToDictionary(f => f.Key, f => f.Value.Ns);

        var added = ns[nameof(SigningBenchmarks.WriteSigned)] - ns[nameof(SigningBenchmarks.WriteUnsigned)]
                    + ns[nameof(SigningBenchmarks.ReadSigned)] - ns[nameof(SigningBenchmarks.ReadUnsigned)];
        report.Figure("signing + verifying, added per message", added, "ns");
        report.Ratio("write signed / unsigned (time)", ns[nameof(SigningBenchmarks.WriteSigned)] / ns[nameof(SigningBenchmarks.WriteUnsigned)], "(reported)", true);
        report.Ratio("read signed / unsigned (time)", ns[nameof(SigningBenchmarks.ReadSigned)] / ns[nameof(SigningBenchmarks.ReadUnsigned)], "(reported)", true);
        report.Ratio("added per message / 1 ms of Azure queue round trip", added / 1_000_000, "<= 0.01: invisible beside the transport", added / 1_000_000 <= 0.01);
        report.Save();
    }
}
