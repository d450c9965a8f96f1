using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Tasks.Benchmarks;

/// <summary>
/// Prints one line per figure and the ratios against peers measured in the same run, then appends
/// the same as a markdown table, with the machine it ran on, to bench/results/{suite}.md.
/// </summary>
internal sealed class Report(string suite)
{
    private readonly List<(string Name, double Value, string Unit)> figures = new();
    private readonly List<(string Name, double Value, string Target, bool Met)> ratios = new();

    public void Figure(string name, double value, string unit)
    {
        figures.Add((name, value, unit));
        Console.WriteLine($"{suite}: {name} = {Format(value)} {unit}");
    }

    public void Ratio(string name, double value, string target, bool met)
    {
        ratios.Add((name, value, target, met));
        Console.WriteLine($"{suite}: ratio {name} = {value:0.###} (target {target}: {(met ? "met" : "MISSED")})");
    }

    public void Save()
    {
        var path = Path.Combine(BenchRoot(), "results", suite + ".md");
        var text = new StringBuilder();
        if (!File.Exists(path)) text.AppendLine($"# `{suite}` results").AppendLine();
        text.AppendLine($"## {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC — {Machine()}").AppendLine();
        text.AppendLine("| figure | value | unit |").AppendLine("|---|---:|---|");
        foreach (var (name, value, unit) in figures) text.AppendLine($"| {name} | {Format(value)} | {unit} |");
        text.AppendLine().AppendLine("| ratio | value | target | |").AppendLine("|---|---:|---|---|");
        foreach (var (name, value, target, met) in ratios) text.AppendLine($"| {name} | {value:0.###} | {target} | {(met ? "met" : "**missed**")} |");
        text.AppendLine();
        File.AppendAllText(path, text.ToString());
        Console.WriteLine($"{suite}: appended to {Path.GetRelativePath(Environment.CurrentDirectory, path)}");
    }

    /// <summary>The middle value (the mean of the two middle ones for an even count): what repeated runs on a shared machine report.</summary>
    public static double Median(IReadOnlyCollection<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    public static string Machine()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        return $"{cpu ?? RuntimeInformation.ProcessArchitecture.ToString()}, {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}";
    }

    public static string BenchRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !Directory.Exists(Path.Combine(directory.FullName, "bench", "results"))) directory = directory.Parent;
        return Path.Combine(directory?.FullName ?? throw new InvalidOperationException("bench/results not found"), "bench");
    }

    private static string Format(double value) => value.ToString(value >= 100 ? "N0" : "0.###", CultureInfo.InvariantCulture);
}
