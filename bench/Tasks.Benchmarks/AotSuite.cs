using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Tasks.Testing;

namespace Tasks.Benchmarks;

/// <summary>
/// samples/AotWorker as a native AOT binary beside the same program on the JIT, same run: the time from
/// process start to 100 tasks run (in memory) and the process ended, the peak RSS, and what ships.
/// </summary>
internal static partial class AotSuite
{
    private const int Runs = 7;

    public static async Task RunAsync()
    {
        var report = new Report("aot");
        var root = Directory.GetParent(Report.BenchRoot())!.FullName;
        var project = Path.Combine(root, "samples", "AotWorker");
        var work = Path.Combine(Path.GetTempPath(), "tasks-bench-aot-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var aot = Path.Combine(work, "aot");
            var jit = Path.Combine(work, "jit");
            await ChildProcess.RunAsync("dotnet", ["publish", project, "-c", "Release", "-r", "linux-x64", "-o", aot, "-nologo"], root, TimeSpan.FromMinutes(10));
            await ChildProcess.RunAsync("dotnet", ["publish", project, "-c", "Release", "-r", "linux-x64", "--self-contained", "false", "-p:PublishAot=false", "-o", jit, "-nologo"], root, TimeSpan.FromMinutes(10));

            var (aotWall, aotRss) = await MeasureAsync(Path.Combine(aot, "AotWorker"), "native AOT");
            var (jitWall, jitRss) = await MeasureAsync(Path.Combine(jit, "AotWorker"), "JIT");
            var aotSize = new FileInfo(Path.Combine(aot, "AotWorker")).Length;
            var jitSize = Directory.GetFiles(jit).Where(f => !f.EndsWith(".pdb", StringComparison.Ordinal) && !f.EndsWith(".xml", StringComparison.Ordinal)).Sum(f => new FileInfo(f).Length);

            report.Figure("native AOT: start to 100 tasks run and exit (median wall time)", aotWall, "ms");
            report.Figure("JIT: start to 100 tasks run and exit (median wall time)", jitWall, "ms");
            report.Figure("native AOT: peak RSS (median)", aotRss, "kB");
            report.Figure("JIT: peak RSS (median)", jitRss, "kB");
            report.Figure("native AOT: the binary (self-contained: runtime included)", aotSize / 1024.0, "kB");
            report.Figure("JIT: the app's files (framework-dependent: the shared .NET runtime not counted)", jitSize / 1024.0, "kB");
            report.Ratio("JIT / native AOT wall time", jitWall / aotWall, "(reported)", true);
            report.Ratio("JIT / native AOT peak RSS", jitRss / aotRss, "(reported)", true);
            report.Save();
        }
        finally
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }

    private static async Task<(double WallMs, double RssKb)> MeasureAsync(string binary, string runtime)
    {
        var wall = new List<double>();
        var rss = new List<double>();
        for (var i = 0; i < Runs; i++)
        {
            var clock = Stopwatch.StartNew();
            var output = await ChildProcess.RunAsync(binary, ["100"], Path.GetDirectoryName(binary)!, TimeSpan.FromMinutes(1));
            wall.Add(clock.Elapsed.TotalMilliseconds);
            if (!output.Contains($"runtime: {runtime}", StringComparison.Ordinal)) throw new InvalidOperationException($"{binary} did not run on {runtime}:\n{output}");
            var figures = Figures().Match(output);
            if (!figures.Success) throw new InvalidOperationException($"{binary} printed no figures:\n{output}");
            rss.Add(double.Parse(figures.Groups["kb"].Value, CultureInfo.InvariantCulture));
        }

        return (Report.Median(wall), Report.Median(rss));
    }


    [GeneratedRegex(@"Ran 100 of 100 task\(s\), 0 failure\(s\), 1 dead-lettered as expected; \d+ ms since the process started; peak RSS (?<kb>\d+) kB")]
    private static partial Regex Figures();
}
