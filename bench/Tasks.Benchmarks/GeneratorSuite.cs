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
        report.Ratio("1,000 tasks: re-run / full run (time, kept for history: Roslyn re-binds every transform)", ratio, "(reported)", true);

        // The yardstick: the LoggerMessage generator of Microsoft.Extensions.Logging on as many methods of the same shape.
        var peerReferences = references.Append(MetadataReference.CreateFromFile(typeof(Microsoft.Extensions.Logging.ILogger).Assembly.Location)).ToArray();
        foreach (var count in new[] { 100, 1000 })
        {
            var ours = RerunAfterUnrelatedEdit(new TaskGenerator(), Sources(count), references);
            var peer = RerunAfterUnrelatedEdit(LoggerMessageGenerator(), LoggerMessageSources(count), peerReferences);
            report.Figure($"{count} methods: Tasks generator re-run after an unrelated edit (beside its peer)", ours.Milliseconds, "ms");
            report.Figure($"{count} methods: LoggerMessage generator re-run after an unrelated edit", peer.Milliseconds, "ms");
            report.Figure($"{count} methods: LoggerMessage generator re-run allocated", peer.Bytes / 1024.0, "KiB");
            report.Ratio($"{count} methods: Tasks / LoggerMessage re-run after an unrelated edit (time)", ours.Milliseconds / peer.Milliseconds, "<= 0.5", ours.Milliseconds / peer.Milliseconds <= 0.5);
        }

        report.Save();
    }

    private static (double Milliseconds, double Bytes) RerunAfterUnrelatedEdit(IIncrementalGenerator generator, IEnumerable<string> sources, MetadataReference[] references)
    {
        var trees = sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"Source{i}.cs")).Append(CSharpSyntaxTree.ParseText(Unrelated(0), ParseOptions, path: "Unrelated.cs"));
        Compilation compilation = CSharpCompilation.Create("Bench", trees, references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        GeneratorDriver driver = CSharpGeneratorDriver.Create(generator).RunGenerators(compilation);
        if (driver.GetRunResult().GeneratedTrees.Length == 0) throw new InvalidOperationException($"{generator.GetType().Name} generated nothing");
        var edit = 0;
        return Measure(() =>
        {
            var previous = compilation.SyntaxTrees.Single(t => t.FilePath == "Unrelated.cs");
            compilation = compilation.ReplaceSyntaxTree(previous, CSharpSyntaxTree.ParseText(Unrelated(++edit), ParseOptions, path: "Unrelated.cs"));
            driver = driver.RunGenerators(compilation);
            return driver;
        });
    }

    /// <summary>The LoggerMessage generator as the Microsoft.Extensions.Logging.Abstractions package ships it (analyzers/dotnet/roslyn4.4).</summary>
    private static IIncrementalGenerator LoggerMessageGenerator()
    {
        var abstractions = typeof(Microsoft.Extensions.Logging.ILogger).Assembly;
        var version = abstractions.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .Cast<System.Reflection.AssemblyInformationalVersionAttribute>().Single().InformationalVersion.Split('+')[0];
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var path = Path.Combine(packages, "microsoft.extensions.logging.abstractions", version, "analyzers", "dotnet", "roslyn4.4", "cs", "Microsoft.Extensions.Logging.Generators.dll");
        var type = System.Reflection.Assembly.LoadFrom(path).GetTypes().Single(t => t.Name == "LoggerMessageGenerator");
        return (IIncrementalGenerator)Activator.CreateInstance(type)!;
    }

    private static IEnumerable<string> LoggerMessageSources(int count)
    {
        const int perClass = 10;
        for (var first = 0; first < count; first += perClass)
        {
            var source = new StringBuilder($"using System; using System.Collections.Generic; using Microsoft.Extensions.Logging;\nnamespace App.Logs{first / perClass};\npublic static partial class Log\n{{\n");
            for (var i = first; i < Math.Min(count, first + perClass); i++)
                source.Append($"    [LoggerMessage(EventId = {i}, Level = LogLevel.Information, Message = \"Job {{Id}} {{Name}} {{Keys}} {{At}}\")]\n    public static partial void Job{i}(ILogger logger, int id, string name, List<Guid> keys, DateTimeOffset at);\n");
            yield return source.Append("}\n").ToString();
        }
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
