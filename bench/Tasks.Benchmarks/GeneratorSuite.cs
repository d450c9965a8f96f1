extern alias generator;

using System.Diagnostics;
using System.Text;
using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using TaskGenerator = generator::Tasks.Generators.TaskGenerator;

namespace Tasks.Benchmarks;

/// <summary>Time and allocations of the generator on compilations of 1, 100 and 1,000 tasks, and of a re-run after an unrelated edit.</summary>
internal static class GeneratorSuite
{
    private const int Repeats = 7;
    private static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    public static void Run()
    {
        var report = new Report("generator");
        var references = Net100.References.All.Concat(new[]
        {
            typeof(TaskClient).Assembly, typeof(MessagePack.MessagePackSerializer).Assembly, typeof(MessagePack.MessagePackObjectAttribute).Assembly,
            typeof(Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions).Assembly,
        }.Select(a => MetadataReference.CreateFromFile(a.Location))).ToArray();

        double fullAt1000 = 0, incrementalAt1000 = 0;
        foreach (var count in new[] { 1, 100, 1000 })
        {
            var trees = Sources(count).Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"Tasks{i}.cs")).ToList();
            var unrelated = CSharpSyntaxTree.ParseText(Unrelated(0), ParseOptions, path: "Unrelated.cs");
            CSharpCompilation NewCompilation() => CSharpCompilation.Create("Bench", trees.Append(unrelated), references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));

            var full = Measure(() => CSharpGeneratorDriver.Create(new TaskGenerator()).RunGenerators(NewCompilation()));
            var outputs = CSharpGeneratorDriver.Create(new TaskGenerator()).RunGenerators(NewCompilation()).GetRunResult().GeneratedTrees.Length;
            if (outputs != count + 1) throw new InvalidOperationException($"expected {count + 1} generated files, got {outputs}");

            var compilation = NewCompilation();
            GeneratorDriver driver = CSharpGeneratorDriver.Create(new TaskGenerator()).RunGenerators(compilation);
            var edit = 0;
            var incremental = Measure(() =>
            {
                var previous = compilation.SyntaxTrees.Single(t => t.FilePath == "Unrelated.cs");
                compilation = compilation.ReplaceSyntaxTree(previous, CSharpSyntaxTree.ParseText(Unrelated(++edit), ParseOptions, path: "Unrelated.cs"));
                driver = driver.RunGenerators(compilation);
                return driver;
            });

            report.Figure($"{count} task(s): full run", full.Milliseconds, "ms");
            report.Figure($"{count} task(s): full run allocated", full.Bytes / 1024.0, "KiB");
            report.Figure($"{count} task(s): re-run after an unrelated edit", incremental.Milliseconds, "ms");
            report.Figure($"{count} task(s): re-run allocated", incremental.Bytes / 1024.0, "KiB");
            if (count == 1000) (fullAt1000, incrementalAt1000) = (full.Milliseconds, incremental.Milliseconds);
        }

        var ratio = incrementalAt1000 / fullAt1000;
        report.Ratio("1,000 tasks: re-run / full run (time)", ratio, "<= 0.05", ratio <= 0.05);
        report.Save();
    }

    /// <summary>The median time and allocation of <see cref="Repeats"/> runs, after one warm-up.</summary>
    private static (double Milliseconds, double Bytes) Measure(Func<GeneratorDriver> run)
    {
        run();
        var times = new List<double>();
        var bytes = new List<double>();
        for (var i = 0; i < Repeats; i++)
        {
            var allocated = GC.GetTotalAllocatedBytes(precise: true);
            var clock = Stopwatch.StartNew();
            run();
            times.Add(clock.Elapsed.TotalMilliseconds);
            bytes.Add(GC.GetTotalAllocatedBytes(precise: true) - allocated);
        }

        return (times.Order().ElementAt(Repeats / 2), bytes.Order().ElementAt(Repeats / 2));
    }

    private static IEnumerable<string> Sources(int count)
    {
        const int perClass = 10;
        for (var first = 0; first < count; first += perClass)
        {
            var source = new StringBuilder($"using System; using System.Collections.Generic; using System.Threading; using System.Threading.Tasks; using Tasks;\nnamespace App.Jobs{first / perClass};\npublic static partial class Jobs\n{{\n");
            for (var i = first; i < Math.Min(count, first + perClass); i++)
                source.Append($"    [AsyncTask(Queue = \"queue-{i % 4}\")]\n    public static Task Job{i}(CancellationToken cancellationToken, int id, string name, List<Guid> keys, DateTimeOffset at) => Task.CompletedTask;\n");
            yield return source.Append("}\n").ToString();
        }
    }

    private static string Unrelated(int edit) => $"namespace App; public static class Unrelated {{ public static int Value => {edit}; }}";
}
