using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using Tasks.Generators.Diagnostics;
using Tasks.Tests.Infrastructure;

namespace Tasks.CodeFixes.Tests;

/// <summary>Each code fix, before and after, applied through a real workspace as the IDE does.</summary>
public sealed class CodeFixTests
{
    [Fact]
    public Task TASK001_inserts_a_CancellationToken_first() => VerifyFixAsync(
        "TASK001",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Send(string to, int retries) => Task.CompletedTask;
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Send(CancellationToken cancellationToken, string to, int retries) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task TASK001_inserts_a_CancellationToken_into_an_empty_parameter_list() => VerifyFixAsync(
        "TASK001",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Tick() => Task.CompletedTask;
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Tick(CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task TASK001_moves_an_existing_CancellationToken_first() => VerifyFixAsync(
        "TASK001",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Send(string to, CancellationToken ct, int retries) => Task.Delay(1, ct);
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Send(CancellationToken ct, string to, int retries) => Task.Delay(1, ct);
        }
        """);

    [Fact]
    public Task TASK002_makes_a_void_method_an_async_Task() => VerifyFixAsync(
        "TASK002",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static void Fire(CancellationToken cancellationToken)
            {
                Console.WriteLine("fired");
            }
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static async Task Fire(CancellationToken cancellationToken)
            {
                Console.WriteLine("fired");
            }
        }
        """);

    [Fact]
    public Task TASK002_changes_async_void_to_async_Task() => VerifyFixAsync(
        "TASK002",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static async void Fire(CancellationToken cancellationToken) => await Task.Delay(1, cancellationToken);
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static async Task Fire(CancellationToken cancellationToken) => await Task.Delay(1, cancellationToken);
        }
        """);

    [Fact]
    public Task TASK002_changes_ValueTask_to_Task() => VerifyFixAsync(
        "TASK002",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static async ValueTask Fire(CancellationToken cancellationToken) => await Task.Delay(1, cancellationToken);
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static async Task Fire(CancellationToken cancellationToken) => await Task.Delay(1, cancellationToken);
        }
        """);

    [Fact]
    public Task TASK003_removes_params() => VerifyFixAsync(
        "TASK003",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Sum(CancellationToken cancellationToken, params int[] values) => Task.CompletedTask;
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Sum(CancellationToken cancellationToken, int[] values) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task TASK006_adds_partial_to_every_enclosing_type() => VerifyFixAsync(
        "TASK006",
        """
        namespace App;

        public static class Outer
        {
            internal class Middle
            {
                /// <summary>Runs.</summary>
                sealed class Inner
                {
                    [AsyncTask]
                    public static Task Run(CancellationToken cancellationToken) => Task.CompletedTask;
                }
            }
        }
        """,
        """
        namespace App;

        public static partial class Outer
        {
            internal partial class Middle
            {
                /// <summary>Runs.</summary>
                sealed partial class Inner
                {
                    [AsyncTask]
                    public static Task Run(CancellationToken cancellationToken) => Task.CompletedTask;
                }
            }
        }
        """,
        remaining: "TASK009"); // Inner is private: the next diagnostic the user sees

    [Fact]
    public Task TASK006_adds_partial_to_a_type_without_modifiers() => VerifyFixAsync(
        "TASK006",
        """
        class Jobs
        {
            [AsyncTask]
            public static Task Run(CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """,
        """
        partial class Jobs
        {
            [AsyncTask]
            public static Task Run(CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    private static async Task VerifyFixAsync(string id, string before, string after, string? remaining = null)
    {
        using var workspace = new AdhocWorkspace();
        var project = workspace.CurrentSolution
            .AddProject("User", "User", LanguageNames.CSharp)
            .WithParseOptions(TestCompilation.ParseOptions)
            .WithCompilationOptions(new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable))
            .WithMetadataReferences(TestCompilation.References)
            .AddDocument("Usings.cs", TestCompilation.Usings).Project;
        var document = project.AddDocument("Jobs.cs", SourceText.From(before));

        var diagnostic = (await AnalyzeAsync(document)).First(d => d.Id == id);
        var actions = new List<CodeAction>();
        await new TaskMethodCodeFixes().RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (action, _) => actions.Add(action), CancellationToken.None));
        var operations = await Assert.Single(actions).GetOperationsAsync(CancellationToken.None);
        var fixedDocument = operations.OfType<ApplyChangesOperation>().Single().ChangedSolution.GetDocument(document.Id)!;

        Assert.Equal(after.ReplaceLineEndings(), (await fixedDocument.GetTextAsync()).ToString().ReplaceLineEndings());
        var left = (await AnalyzeAsync(fixedDocument)).Select(d => d.Id).ToArray();
        Assert.Equal(remaining is null ? [] : [remaining], left);
    }

    private static async Task<ImmutableArray<Diagnostic>> AnalyzeAsync(Document document)
    {
        var compilation = (await document.Project.GetCompilationAsync())!;
        var tree = await document.GetSyntaxTreeAsync();
        var diagnostics = await compilation.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new AsyncTaskAnalyzer())).GetAnalyzerDiagnosticsAsync();
        return diagnostics.Where(d => d.Location.SourceTree == tree).ToImmutableArray();
    }
}
