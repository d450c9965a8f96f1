using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Tasks.Benchmarks;

/// <summary>Runs a BenchmarkDotNet class in process and reports each method's median time and allocation.</summary>
internal static class InProcessBenchmarks
{
    /// <summary>Median ns/op and B/op by benchmark method name; each also goes to <paramref name="report"/> as figures.</summary>
    public static Dictionary<string, (double Ns, double Bytes)> Run<TBenchmarks>(Report report)
    {
        var config = ManualConfig.CreateMinimumViable()
            .AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(12).WithLaunchCount(1))
            .AddDiagnoser(MemoryDiagnoser.Default)
            .WithOptions(ConfigOptions.DisableLogFile);
        var summary = BenchmarkRunner.Run<TBenchmarks>(config);
        var figures = new Dictionary<string, (double Ns, double Bytes)>();
        foreach (var run in summary.Reports)
        {
            var ns = run.ResultStatistics?.Median ?? double.NaN;
            var bytes = run.GcStats.GetBytesAllocatedPerOperation(run.BenchmarkCase) ?? -1;
            figures[run.BenchmarkCase.Descriptor.WorkloadMethod.Name] = (ns, bytes);
            report.Figure($"{run.BenchmarkCase.Descriptor.WorkloadMethodDisplayInfo} time", ns, "ns/op");
            report.Figure($"{run.BenchmarkCase.Descriptor.WorkloadMethodDisplayInfo} allocated", bytes, "B/op");
        }

        return figures;
    }
}
