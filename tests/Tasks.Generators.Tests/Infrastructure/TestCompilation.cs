using System.Collections.Immutable;
using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Tasks.Generators;
using Tasks.Generators.Diagnostics;

namespace Tasks.Tests.Infrastructure;

/// <summary>
/// Compilations the way a user's project builds: .NET reference assemblies from
/// Basic.Reference.Assemblies (no network, nothing from the test runner) plus Tasks and its dependencies.
/// </summary>
internal static class TestCompilation
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest, DocumentationMode.Diagnose);

    public static readonly ImmutableArray<MetadataReference> References = Net100.References.All
        .Concat(new[]
        {
            typeof(TaskClient).Assembly,
            typeof(MessagePack.MessagePackSerializer).Assembly,
            typeof(MessagePack.MessagePackObjectAttribute).Assembly,
            typeof(Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions).Assembly,
        }.Select(a => (MetadataReference)MetadataReference.CreateFromFile(a.Location)))
        .ToImmutableArray();

    public const string Usings = """
        global using System;
        global using System.Collections.Generic;
        global using System.Threading;
        global using System.Threading.Tasks;
        global using MessagePack;
        global using Tasks;

        """;

    public static CSharpCompilation Create(params string[] sources)
        => CSharpCompilation.Create(
            "UserAssembly",
            sources.Prepend(Usings).Select((source, i) => CSharpSyntaxTree.ParseText(source, ParseOptions, path: $"Source{i}.cs")),
            References,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable)
                // The .NET SDK silences these two unification notes by default; so do we.
                .WithSpecificDiagnosticOptions(new Dictionary<string, ReportDiagnostic> { ["CS1701"] = ReportDiagnostic.Suppress, ["CS1702"] = ReportDiagnostic.Suppress }));

    public static GeneratorDriver CreateDriver()
        => CSharpGeneratorDriver.Create(
            new[] { new TaskGenerator().AsSourceGenerator() },
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator; returns the output compilation and the run result.</summary>
    public static (Compilation Output, GeneratorDriverRunResult Result) Generate(Compilation compilation)
    {
        var driver = CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        return (output, driver.GetRunResult());
    }

    /// <summary>The analyzer's diagnostics on the compilation after generation, as a build sees them.</summary>
    public static async Task<ImmutableArray<Diagnostic>> AnalyzeAsync(Compilation compilation, params AdditionalText[] additionalFiles)
    {
        var (output, _) = Generate(compilation);
        return await output
            .WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new AsyncTaskAnalyzer()), new AnalyzerOptions(additionalFiles.ToImmutableArray()))
            .GetAnalyzerDiagnosticsAsync();
    }

    /// <summary>
    /// Every error of <paramref name="output"/>, and every warning in the sources the generator added
    /// (missing doc comments included: users build with TreatWarningsAsErrors and documentation files).
    /// </summary>
    public static IEnumerable<Diagnostic> Problems(Compilation output, Compilation input)
        => output.GetDiagnostics().Where(d =>
            d.Severity == DiagnosticSeverity.Error
            || (d.Severity == DiagnosticSeverity.Warning && !input.SyntaxTrees.Contains(d.Location.SourceTree)));
}

/// <summary>A file of the project's <c>AdditionalFiles</c>, such as tasks.lock.txt.</summary>
internal sealed class TestAdditionalText(string path, string text) : AdditionalText
{
    public override string Path => path;

    public override Microsoft.CodeAnalysis.Text.SourceText GetText(CancellationToken cancellationToken = default) => Microsoft.CodeAnalysis.Text.SourceText.From(text);
}
