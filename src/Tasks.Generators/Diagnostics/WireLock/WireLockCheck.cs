using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using Tasks.Generators.Parsing;

namespace Tasks.Generators.Diagnostics.WireLock;

/// <summary>
/// Checks each task against the project's <c>tasks.lock.txt</c> (TASK013–TASK016). A project opts in by
/// having the file, as a project opts in to public API tracking by having PublicAPI.Shipped.txt; the
/// Tasks package adds it to <c>AdditionalFiles</c>.
/// </summary>
internal sealed class WireLockCheck
{
    /// <summary>Diagnostic property: the task's wire name.</summary>
    public const string WireNameProperty = "WireName";

    /// <summary>Diagnostic property: the entry the code fix writes for the task's shape now.</summary>
    public const string EntryProperty = "Entry";

    private readonly AdditionalText file;
    private readonly SourceText text;
    private readonly WireLockFile lockFile;

    private WireLockCheck(AdditionalText file, SourceText text)
    {
        this.file = file;
        this.text = text;
        lockFile = WireLockFile.Parse(text);
    }

    /// <summary>The check, or null if the project has no lock file.</summary>
    public static WireLockCheck? Load(AnalyzerOptions options, CancellationToken cancellationToken)
    {
        var file = options.AdditionalFiles.FirstOrDefault(f => WireLockFile.IsLockFile(f.Path));
        return file?.GetText(cancellationToken) is { } text ? new WireLockCheck(file, text) : null;
    }

    /// <summary>Compares a valid task with its entry.</summary>
    public void Check(IMethodSymbol method, AsyncTaskSettings settings, KnownTypes known, Action<Diagnostic> report, CancellationToken cancellationToken)
    {
        var current = TaskWireShape.Read(method, settings, known);
        var locked = lockFile.Entries.FirstOrDefault(e => e.Shape.WireName == current.WireName);
        var entry = current.ToEntry(locked?.Shape);
        var properties = ImmutableDictionary<string, string?>.Empty.Add(WireNameProperty, current.WireName).Add(EntryProperty, entry);
        var declaration = method.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken) as MethodDeclarationSyntax;
        var nameLocation = declaration?.Identifier.GetLocation() ?? method.Locations.FirstOrDefault();

        if (locked is null)
        {
            report(Diagnostic.Create(DiagnosticDescriptors.WireShapeNotLocked, nameLocation, properties, current.WireName, "is not in the wire lock"));
            return;
        }

        var changes = WireShapeComparison.Compare(locked.Shape, current);
        var breaking = changes.Where(c => c.Breaking).ToList();
        foreach (var change in breaking)
        {
            var location = change.Site switch
            {
                WireChangeSite.Queue => QueueLocation(settings, cancellationToken),
                WireChangeSite.ParameterList => declaration?.ParameterList.GetLocation(),
                _ => method.Parameters[change.Parameter + 1].DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken).GetLocation(),
            };
            report(Diagnostic.Create(DiagnosticDescriptors.WireShapeBroken, location ?? nameLocation, properties, current.WireName, change.Description, change.Advice));
        }

        if (breaking.Count == 0 && entry != locked.Shape.ToEntry(locked.Shape))
        {
            var what = changes.Count > 0 ? string.Join("; ", changes.Select(c => c.Description)) : "changed its wire shape compatibly";
            report(Diagnostic.Create(DiagnosticDescriptors.WireShapeNotLocked, nameLocation, properties, current.WireName, what + " since its lock entry"));
        }
    }

    /// <summary>At the end of the compilation: the entries no task claimed, and the lines that could not be read.</summary>
    public void ReportEntriesWithoutTask(ICollection<string> wireNames, Action<Diagnostic> report)
    {
        foreach (var error in lockFile.Errors)
            report(Diagnostic.Create(DiagnosticDescriptors.WireLockUnreadable, At(error.Span), error.Line, error.Problem));
        foreach (var entry in lockFile.Entries.Where(e => !wireNames.Contains(e.Shape.WireName)))
        {
            var properties = ImmutableDictionary<string, string?>.Empty.Add(WireNameProperty, entry.Shape.WireName);
            report(Diagnostic.Create(DiagnosticDescriptors.WireLockEntryWithoutTask, At(entry.Header), properties, entry.Shape.WireName, entry.Shape.Queue));
        }
    }

    private Location At(TextSpan span) => Location.Create(file.Path, span, text.Lines.GetLinePositionSpan(span));

    private static Location? QueueLocation(AsyncTaskSettings settings, CancellationToken cancellationToken)
    {
        var attribute = settings.Attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
        return (attribute?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == "Queue") as SyntaxNode ?? attribute)?.GetLocation();
    }
}
