using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.Text;

namespace Tasks.CodeFixes.Tests;

/// <summary>The wire lock's code fixes: each edits tasks.lock.txt, and afterwards the project has no lock diagnostic.</summary>
public sealed partial class CodeFixTests
{
    private const string LockPath = "/repo/Shop/tasks.lock.txt";

    private const string Orders = """
        namespace Shop;

        public sealed record Shipment(Guid OrderId, int Items);

        public static partial class Orders
        {
            [AsyncTask(Queue = "orders")]
            public static Task Ship(CancellationToken cancellationToken, Shipment shipment) => Task.CompletedTask;

            [AsyncTask(Name = "shop.cancel")]
            public static Task Cancel(CancellationToken cancellationToken, Guid orderId, string reason = "") => Task.CompletedTask;
        }
        """;

    private const string ShipEntry = """
        [Shop.Orders.Ship]
        queue orders
        parameters (Shop.Shipment shipment)
        type Shop.Shipment (System.Guid OrderId, int Items)

        """;

    private const string CancelEntry = """
        [shop.cancel]
        queue tasks
        parameters (System.Guid orderId, string reason)

        """;

    [Fact]
    public Task TASK014_records_the_task_in_wire_name_order() => VerifyLockFixAsync(
        "TASK014",
        Orders,
        "# The shop's lock.\n\n" + CancelEntry,
        "# The shop's lock.\n\n" + ShipEntry + "\n" + CancelEntry);

    [Fact]
    public Task TASK013_updates_the_entry_to_the_new_shape_and_keeps_the_others() => VerifyLockFixAsync(
        "TASK013",
        Orders,
        ShipEntry + "\n" + CancelEntry.Replace("System.Guid orderId, string reason", "string reason, System.Guid orderId"),
        ShipEntry + "\n" + CancelEntry);

    [Fact]
    public Task TASK015_removes_the_entry_of_a_task_that_is_gone_from_the_lock_file_itself() => VerifyLockFixAsync(
        "TASK015",
        Orders,
        ShipEntry + "\n[shop.refund]\nqueue refunds\nparameters (System.Guid orderId)\n\n" + CancelEntry,
        ShipEntry + "\n" + CancelEntry);

    [Fact]
    public async Task Fix_all_of_TASK014_starts_a_lock_with_every_task_of_the_project()
    {
        var project = CreateProject(Orders, "").Project;
        var other = project.AddDocument("Mail.cs", SourceText.From("""
            namespace Shop;

            public static partial class Mail
            {
                [AsyncTask(Name = "shop.welcome", Queue = "emails")]
                public static Task Welcome(CancellationToken cancellationToken, string email) => Task.CompletedTask;
            }
            """));
        project = other.Project;
        var diagnostics = await AnalyzeProjectAsync(project);
        Assert.Equal(["TASK014", "TASK014", "TASK014"], diagnostics.Select(d => d.Id));

        var provider = new WireLockCodeFixes();
        var context = new FixAllContext(other, provider, FixAllScope.Project, "TASK014", ["TASK014"], new ProjectDiagnostics(diagnostics), CancellationToken.None);
        var action = await provider.GetFixAllProvider().GetFixAsync(context);
        var solution = (await action!.GetOperationsAsync(CancellationToken.None)).OfType<ApplyChangesOperation>().Single().ChangedSolution;
        var fixedProject = solution.GetProject(project.Id)!;

        Assert.Empty(await AnalyzeProjectAsync(fixedProject));
        var text = (await fixedProject.AdditionalDocuments.Single().GetTextAsync()).ToString();
        Assert.StartsWith("# Tasks wire lock", text);
        Assert.EndsWith("\n" + ShipEntry + "\n" + CancelEntry + "\n[shop.welcome]\nqueue emails\nparameters (string email)\n", text);
    }

    [Fact]
    public async Task Fix_all_and_so_dotnet_format_never_accepts_a_breaking_change()
    {
        var lockDocument = CreateProject(Orders, ShipEntry.Replace("int Items", "long Items") + "\n" + CancelEntry);
        var diagnostics = await AnalyzeProjectAsync(lockDocument.Project);
        var document = lockDocument.Project.Documents.Single(d => d.Name == "Jobs.cs");
        Assert.Equal("TASK013", Assert.Single(diagnostics).Id);

        var provider = new WireLockCodeFixes();
        var context = new FixAllContext(document, provider, FixAllScope.Project, "TASK013", ["TASK013", "TASK014"], new ProjectDiagnostics(diagnostics), CancellationToken.None);

        Assert.Null(await provider.GetFixAllProvider().GetFixAsync(context));
    }

    [Fact]
    public async Task A_project_without_a_lock_file_is_offered_no_lock_fix()
    {
        var document = CreateDocument(Orders);
        var actions = new List<CodeAction>();
        var diagnostic = Diagnostic.Create(Tasks.Generators.DiagnosticDescriptors.WireShapeNotLocked, Location.None, "Shop.Orders.Ship", "is not in the wire lock");

        await new WireLockCodeFixes().RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (action, _) => actions.Add(action), CancellationToken.None));

        Assert.Empty(actions);
    }

    private static async Task VerifyLockFixAsync(string id, string source, string lockBefore, string lockAfter)
    {
        var lockDocument = CreateProject(source, lockBefore);
        var diagnostic = (await AnalyzeProjectAsync(lockDocument.Project)).First(d => d.Id == id);
        var fixedIn = diagnostic.Location.IsInSource ? lockDocument.Project.GetDocument(diagnostic.Location.SourceTree)! : (TextDocument)lockDocument;
        var actions = new List<CodeAction>();

        await new WireLockCodeFixes().RegisterCodeFixesAsync(new CodeFixContext(fixedIn, diagnostic, (action, _) => actions.Add(action), CancellationToken.None));
        var solution = (await Assert.Single(actions).GetOperationsAsync(CancellationToken.None)).OfType<ApplyChangesOperation>().Single().ChangedSolution;

        Assert.Equal(lockAfter, (await solution.GetAdditionalDocument(lockDocument.Id)!.GetTextAsync()).ToString());
        Assert.Empty(await AnalyzeProjectAsync(solution.GetProject(lockDocument.Project.Id)!));
    }

    /// <summary>A project with <paramref name="source"/> and a tasks.lock.txt in its AdditionalFiles; returns the lock file.</summary>
    private static TextDocument CreateProject(string source, string lockText)
        => CreateDocument(source).Project.AddAdditionalDocument("tasks.lock.txt", SourceText.From(lockText), filePath: LockPath);
}
