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
public sealed partial class CodeFixTests
{
    [Fact]
    public Task TASK018_keys_a_misspelt_limit_by_nameof_the_parameter_it_meant() => VerifyFixAsync(
        "TASK018",
        """
        public static partial class Jobs
        {
            [AsyncTask, ConcurrencyLimit(1, Key = "CustomerID")]
            public static Task Import(CancellationToken cancellationToken, long customerId) => Task.CompletedTask;
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask, ConcurrencyLimit(1, Key = nameof(customerId))]
            public static Task Import(CancellationToken cancellationToken, long customerId) => Task.CompletedTask;
        }
        """);

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
    public Task TASK001_documents_the_new_parameter_where_the_others_are_documented() => VerifyFixAsync(
        "TASK001",
        """
        public static partial class Jobs
        {
            /// <summary>Sends.</summary>
            /// <param name="to">Who.</param>
            [AsyncTask]
            public static Task Send(string to) => Task.CompletedTask;
        }
        """,
        """
        public static partial class Jobs
        {
            /// <summary>Sends.</summary>
            /// <param name="cancellationToken">Fires when the worker stops or the task times out.</param>
            /// <param name="to">Who.</param>
            [AsyncTask]
            public static Task Send(CancellationToken cancellationToken, string to) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task TASK002_returns_Task_CompletedTask_for_ValueTask_CompletedTask() => VerifyFixAsync(
        "TASK002",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static ValueTask Fire(CancellationToken cancellationToken) => ValueTask.CompletedTask;
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Fire(CancellationToken cancellationToken) => Task.CompletedTask;
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
    public Task TASK002_makes_a_void_method_return_a_completed_Task_wherever_it_returned() => VerifyFixAsync(
        "TASK002",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static void Fire(CancellationToken cancellationToken, int count)
            {
                if (count == 0) return;
                Func<int, int> twice = n => { return n * 2; };
                Console.WriteLine(twice(count));
            }
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Fire(CancellationToken cancellationToken, int count)
            {
                if (count == 0) return Task.CompletedTask;
                Func<int, int> twice = n => { return n * 2; };
                Console.WriteLine(twice(count));
                return Task.CompletedTask;
            }
        }
        """);

    [Fact]
    public Task TASK002_gives_a_void_expression_body_a_block_that_returns_a_completed_Task() => VerifyFixAsync(
        "TASK002",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static void Fire(CancellationToken cancellationToken) => Console.WriteLine("fired");
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Fire(CancellationToken cancellationToken)
            {
                Console.WriteLine("fired");
                return Task.CompletedTask;
            }
        }
        """);

    [Fact]
    public Task TASK002_never_turns_a_default_ValueTask_into_a_null_Task() => VerifyFixAsync(
        "TASK002",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static ValueTask Fire(CancellationToken cancellationToken) => default;
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Fire(CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task TASK002_converts_a_returned_ValueTask_with_AsTask() => VerifyFixAsync(
        "TASK002",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static ValueTask<int> Fire(CancellationToken cancellationToken, bool skip)
            {
                if (skip) return default(ValueTask<int>);
                return Count(cancellationToken);
            }

            private static ValueTask<int> Count(CancellationToken cancellationToken) => new(3);
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Fire(CancellationToken cancellationToken, bool skip)
            {
                if (skip) return Task.CompletedTask;
                return Count(cancellationToken).AsTask();
            }

            private static ValueTask<int> Count(CancellationToken cancellationToken) => new(3);
        }
        """);

    [Fact]
    public Task TASK002_keeps_what_a_Task_of_T_returns() => VerifyFixAsync(
        "TASK002",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task<int> Fire(CancellationToken cancellationToken) => Task.FromResult(1);
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Fire(CancellationToken cancellationToken) => Task.FromResult(1);
        }
        """);

    [Fact]
    public Task TASK002_replaces_a_returned_null_Task_of_T_with_a_completed_Task() => VerifyFixAsync(
        "TASK002",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task<int> Fire(CancellationToken cancellationToken) => null!;
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Fire(CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task TASK002_drops_the_value_of_an_async_Task_of_T_but_keeps_its_work() => VerifyFixAsync(
        "TASK002",
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static async Task<int> Fire(CancellationToken cancellationToken, bool skip)
            {
                if (skip) return 0;
                await Task.Delay(1, cancellationToken);
                return await Task.FromResult(2);
            }
        }
        """,
        """
        public static partial class Jobs
        {
            [AsyncTask]
            public static async Task Fire(CancellationToken cancellationToken, bool skip)
            {
                if (skip) return;
                await Task.Delay(1, cancellationToken);
                await Task.FromResult(2);
                return;
            }
        }
        """);

    [Fact]
    public async Task TASK002_offers_no_fix_for_a_method_that_returns_a_plain_value()
    {
        var document = CreateDocument("""
            public static partial class Jobs
            {
                [AsyncTask]
                public static int Count(CancellationToken cancellationToken) => 3;
            }
            """);
        var diagnostic = (await AnalyzeAsync(document)).Single(d => d.Id == "TASK002");
        var actions = new List<CodeAction>();

        await new TaskMethodCodeFixes().RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (action, _) => actions.Add(action), CancellationToken.None));

        Assert.Empty(actions);
    }

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

    [Fact]
    public async Task Fix_all_repairs_every_fixable_diagnostic_of_a_project_in_one_pass_even_several_on_one_method()
    {
        var document = CreateDocument("""
            public static class Mail
            {
                [AsyncTask]
                public static ValueTask Send(string to, params string[] cc) => default;

                [AsyncTask]
                public static void Tick() => Console.WriteLine("tick");
            }
            """);
        var other = document.Project.AddDocument("Other.cs", SourceText.From("""
            public class Reports
            {
                [AsyncTask]
                public async void Build(int year, CancellationToken cancellationToken) => await Task.Delay(year, cancellationToken);
            }
            """));
        document = other.Project.GetDocument(document.Id)!;
        var diagnostics = await AnalyzeProjectAsync(document.Project);
        Assert.Equal(["TASK001", "TASK001", "TASK001", "TASK002", "TASK002", "TASK002", "TASK003", "TASK006", "TASK006", "TASK006"], diagnostics.Select(d => d.Id).Order());

        var provider = new TaskMethodCodeFixes();
        var context = new FixAllContext(document, provider, FixAllScope.Project, "TASK001", provider.FixableDiagnosticIds, new ProjectDiagnostics(diagnostics), CancellationToken.None);
        var action = await provider.GetFixAllProvider()!.GetFixAsync(context);
        var operations = await action!.GetOperationsAsync(CancellationToken.None);
        var project = operations.OfType<ApplyChangesOperation>().Single().ChangedSolution.GetProject(document.Project.Id)!;

        Assert.Empty(await AnalyzeProjectAsync(project));
        Assert.Empty(await CompilerProblemsAsync(project));
        Assert.Equal("""
            public static partial class Mail
            {
                [AsyncTask]
                public static Task Send(CancellationToken cancellationToken, string to, string[] cc) => Task.CompletedTask;

                [AsyncTask]
                public static Task Tick(CancellationToken cancellationToken)
                {
                    Console.WriteLine("tick");
                    return Task.CompletedTask;
                }
            }
            """.ReplaceLineEndings(), (await project.GetDocument(document.Id)!.GetTextAsync()).ToString().ReplaceLineEndings());
        Assert.Contains("public partial class Reports", (await project.GetDocument(other.Id)!.GetTextAsync()).ToString());
        Assert.Contains("public async Task Build(CancellationToken cancellationToken, int year)", (await project.GetDocument(other.Id)!.GetTextAsync()).ToString());
    }

    [Fact]
    public void Fix_all_is_offered_for_a_document_a_project_and_the_solution()
        => Assert.Equal([FixAllScope.Document, FixAllScope.Project, FixAllScope.Solution], new TaskMethodCodeFixes().GetFixAllProvider()!.GetSupportedFixAllScopes().Order());

    private static Document CreateDocument(string source)
    {
        var workspace = new AdhocWorkspace();
        var project = workspace.CurrentSolution
            .AddProject("User", "User", LanguageNames.CSharp)
            .WithParseOptions(TestCompilation.ParseOptions)
            .WithCompilationOptions(new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable))
            .WithMetadataReferences(TestCompilation.References)
            .AddDocument("Usings.cs", TestCompilation.Usings).Project;
        return project.AddDocument("Jobs.cs", SourceText.From(source));
    }

    private static async Task VerifyFixAsync(string id, string before, string after, string? remaining = null)
    {
        var document = CreateDocument(before);

        var diagnostic = (await AnalyzeAsync(document)).First(d => d.Id == id);
        var actions = new List<CodeAction>();
        await new TaskMethodCodeFixes().RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (action, _) => actions.Add(action), CancellationToken.None));
        var operations = await Assert.Single(actions).GetOperationsAsync(CancellationToken.None);
        var fixedDocument = operations.OfType<ApplyChangesOperation>().Single().ChangedSolution.GetDocument(document.Id)!;

        Assert.Equal(after.ReplaceLineEndings(), (await fixedDocument.GetTextAsync()).ToString().ReplaceLineEndings());
        var left = (await AnalyzeAsync(fixedDocument)).Select(d => d.Id).ToArray();
        Assert.Equal(remaining is null ? [] : [remaining], left);
        Assert.Empty(await CompilerProblemsAsync(fixedDocument.Project));
    }

    /// <summary>Errors and warnings of the compiler (a fix must not leave code that fails a build with TreatWarningsAsErrors).</summary>
    private static async Task<string[]> CompilerProblemsAsync(Project project)
        => (await project.GetCompilationAsync())!.GetDiagnostics()
            .Where(d => d.Severity >= DiagnosticSeverity.Warning && d.Id != "CS1591")
            .Select(d => d.ToString()).ToArray();

    private static async Task<ImmutableArray<Diagnostic>> AnalyzeProjectAsync(Project project)
        => await (await project.GetCompilationAsync())!.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new AsyncTaskAnalyzer()), project.AnalyzerOptions).GetAnalyzerDiagnosticsAsync();

    private sealed class ProjectDiagnostics(ImmutableArray<Diagnostic> diagnostics) : FixAllContext.DiagnosticProvider
    {
        public override Task<IEnumerable<Diagnostic>> GetAllDiagnosticsAsync(Project project, CancellationToken cancellationToken)
            => Task.FromResult<IEnumerable<Diagnostic>>(diagnostics);

        public override async Task<IEnumerable<Diagnostic>> GetDocumentDiagnosticsAsync(Document document, CancellationToken cancellationToken)
        {
            var tree = await document.GetSyntaxTreeAsync(cancellationToken);
            return diagnostics.Where(d => d.Location.SourceTree == tree);
        }

        public override Task<IEnumerable<Diagnostic>> GetProjectDiagnosticsAsync(Project project, CancellationToken cancellationToken)
            => Task.FromResult(Enumerable.Empty<Diagnostic>());
    }

    private static async Task<ImmutableArray<Diagnostic>> AnalyzeAsync(Document document)
    {
        var compilation = (await document.Project.GetCompilationAsync())!;
        var tree = await document.GetSyntaxTreeAsync();
        var diagnostics = await compilation.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new AsyncTaskAnalyzer())).GetAnalyzerDiagnosticsAsync();
        return diagnostics.Where(d => d.Location.SourceTree == tree).ToImmutableArray();
    }
}
