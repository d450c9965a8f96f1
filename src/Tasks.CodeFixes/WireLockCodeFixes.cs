using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.Text;
using Tasks.Generators;
using Tasks.Generators.Diagnostics.WireLock;

namespace Tasks.CodeFixes;

/// <summary>
/// Writes tasks.lock.txt: records a task's shape (TASK014, and TASK013 for a change that is meant), or
/// removes the entry of a task that is gone (TASK015, reported in the lock file itself). Fix All records
/// every task of the project in one edit, which is how a project starts its lock; it never accepts a
/// breaking change (TASK013), so neither does <c>dotnet format</c>.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(WireLockCodeFixes), DocumentKinds = new[] { nameof(TextDocumentKind.Document), nameof(TextDocumentKind.AdditionalDocument) }), Shared]
public sealed class WireLockCodeFixes : CodeFixProvider
{
    private static readonly string BrokenId = DiagnosticDescriptors.WireShapeBroken.Id;
    private static readonly string NotLockedId = DiagnosticDescriptors.WireShapeNotLocked.Id;
    private static readonly string WithoutTaskId = DiagnosticDescriptors.WireLockEntryWithoutTask.Id;

    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(BrokenId, NotLockedId, WithoutTaskId);

    /// <inheritdoc />
    public override FixAllProvider GetFixAllProvider() => new FixAll();

    /// <inheritdoc />
    public override Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var project = context.TextDocument.Project;
        if (LockDocument(project) is null) return Task.CompletedTask;
        foreach (var diagnostic in context.Diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue(WireLockCheck.WireNameProperty, out var wireName) || wireName is null) continue;
            var title = diagnostic.Id == WithoutTaskId ? $"Remove '{wireName}' from the wire lock"
                : diagnostic.Id == BrokenId ? $"Update the wire lock to the new shape of '{wireName}' (queued messages of the old shape will not read)"
                : $"Record '{wireName}' in the wire lock";
            context.RegisterCodeFix(
                CodeAction.Create(title, cancellationToken => ApplyAsync(project.Solution, new[] { diagnostic }, cancellationToken), equivalenceKey: diagnostic.Id),
                diagnostic);
        }

        return Task.CompletedTask;
    }

    /// <summary>The solution with every diagnostic's edit made to the lock file of the project it belongs to.</summary>
    private static async Task<Solution> ApplyAsync(Solution solution, IEnumerable<Diagnostic> diagnostics, CancellationToken cancellationToken)
    {
        foreach (var project in solution.Projects)
        {
            if (LockDocument(project) is not { } lockDocument) continue;
            var mine = diagnostics.Where(d => BelongsTo(project, d)).ToList();
            if (mine.Count == 0) continue;
            var original = await lockDocument.GetTextAsync(cancellationToken).ConfigureAwait(false);
            var text = original.ToString();
            foreach (var diagnostic in mine.OrderBy(d => d.Properties[WireLockCheck.WireNameProperty], System.StringComparer.Ordinal))
            {
                var wireName = diagnostic.Properties[WireLockCheck.WireNameProperty]!;
                text = diagnostic.Properties.TryGetValue(WireLockCheck.EntryProperty, out var entry) && entry is not null
                    ? WireLockFile.WithEntry(text, wireName, entry)
                    : WireLockFile.WithoutEntry(text, wireName);
            }

            solution = solution.WithAdditionalDocumentText(lockDocument.Id, SourceText.From(text, original.Length > 0 && original.Encoding is { } encoding ? encoding : new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false)));
        }

        return solution;
    }

    private static bool BelongsTo(Project project, Diagnostic diagnostic)
        => diagnostic.Location.SourceTree is { } tree
            ? project.GetDocument(tree) is not null
            : project.AdditionalDocuments.Any(d => d.FilePath == diagnostic.Location.GetLineSpan().Path);

    private static TextDocument? LockDocument(Project project)
        => project.AdditionalDocuments.FirstOrDefault(d => WireLockFile.IsLockFile(d.FilePath ?? d.Name));

    /// <summary>All the lock edits of a document, project or solution at once: they all change the one lock file, so they cannot be merged as separate text changes.</summary>
    private sealed class FixAll : FixAllProvider
    {
        public override IEnumerable<FixAllScope> GetSupportedFixAllScopes() => new[] { FixAllScope.Document, FixAllScope.Project, FixAllScope.Solution };

        public override async Task<CodeAction?> GetFixAsync(FixAllContext context)
        {
            var projects = context.Scope == FixAllScope.Solution ? context.Solution.Projects : new[] { context.Project };
            var diagnostics = new List<Diagnostic>();
            foreach (var project in projects)
            {
                var found = context.Scope == FixAllScope.Document && context.Document is { } document
                    ? await context.GetDocumentDiagnosticsAsync(document).ConfigureAwait(false)
                    : await context.GetAllDiagnosticsAsync(project).ConfigureAwait(false);
                // Accepting a breaking change is a decision about one task, made in review, never in bulk: Fix All,
                // and with it dotnet format, leaves TASK013 alone.
                diagnostics.AddRange(found.Where(d => d.Id != BrokenId && context.DiagnosticIds.Contains(d.Id)));
            }

            if (diagnostics.Count == 0) return null;
            var title = context.DiagnosticIds.Contains(WithoutTaskId) ? "Remove the entries with no task from the wire lock" : "Record every task's shape in the wire lock";
            return CodeAction.Create(title, cancellationToken => ApplyAsync(context.Solution, diagnostics, cancellationToken), context.CodeActionEquivalenceKey);
        }
    }
}
