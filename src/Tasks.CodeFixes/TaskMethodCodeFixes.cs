using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Formatting;
using Microsoft.CodeAnalysis.Simplification;
using Tasks.Generators;
using static Microsoft.CodeAnalysis.CSharp.SyntaxFactory;

namespace Tasks.CodeFixes;

/// <summary>
/// One-click repairs for the task-method rules whose fix is obvious: TASK001, TASK002, TASK003,
/// TASK006 and TASK018 (a misspelt limit key, when the parameter it meant is clear), one at a time or all at once (Fix All in a document, project or solution, and
/// <c>dotnet format analyzers</c>): several fixes on one method compose instead of overwriting each other.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(TaskMethodCodeFixes)), Shared]
public sealed class TaskMethodCodeFixes : CodeFixProvider
{
    private static readonly string CancellationTokenFirstId = DiagnosticDescriptors.FirstParameterNotCancellationToken.Id;
    private static readonly string ReturnTaskId = DiagnosticDescriptors.ReturnTypeNotTask.Id;
    private static readonly string ParamsId = DiagnosticDescriptors.ParamsParameter.Id;
    private static readonly string PartialId = DiagnosticDescriptors.ContainingTypeNotPartial.Id;
    private static readonly string LimitKeyId = DiagnosticDescriptors.InvalidLimitKey.Id;

    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(CancellationTokenFirstId, ReturnTaskId, ParamsId, PartialId, LimitKeyId);

    /// <inheritdoc />
    /// <remarks>
    /// Not the batch fixer: it merges text changes, so two fixes of one method (its parameters and its
    /// return type) collide and one is dropped, and it keeps only the actions of one equivalence key.
    /// This one applies every diagnostic of a document to the syntax tree in turn.
    /// </remarks>
    public override FixAllProvider GetFixAllProvider()
        => FixAllProvider.Create(static async (context, document, diagnostics) => await FixAsync(document, diagnostics, context.CancellationToken).ConfigureAwait(false));

    /// <inheritdoc />
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null) return;
        foreach (var diagnostic in context.Diagnostics)
        {
            var node = root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
            if (node.FirstAncestorOrSelf<MethodDeclarationSyntax>() is not { } method) continue;
            var title = diagnostic.Id == LimitKeyId
                ? diagnostic.Properties.TryGetValue(Tasks.Generators.Parsing.TaskLimitSettings.SuggestedParameter, out var parameter) && node.FirstAncestorOrSelf<AttributeArgumentSyntax>() is not null ? $"Key by nameof({parameter})" : null
                : Title(diagnostic.Id, method, node);
            if (title is null) continue;
            var document = context.Document;
            context.RegisterCodeFix(
                CodeAction.Create(title, cancellationToken => FixAsync(document, ImmutableArray.Create(diagnostic), cancellationToken), equivalenceKey: diagnostic.Id),
                diagnostic);
        }
    }

    private static string? Title(string id, MethodDeclarationSyntax method, SyntaxNode node)
    {
        if (id == CancellationTokenFirstId) return "Take a CancellationToken first";
        if (id == ReturnTaskId) return ReturnTaskRewriter.CanFix(method) ? "Return Task" : null;
        if (id == ParamsId) return node.FirstAncestorOrSelf<ParameterSyntax>() is null ? null : "Remove 'params'";
        return id == PartialId ? "Make the declaring types partial" : null;
    }

    private static async Task<Document> FixAsync(Document document, ImmutableArray<Diagnostic> diagnostics, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        if (root is null) return document;

        var keys = LimitKeys(root, diagnostics.Where(d => d.Id == LimitKeyId && d.Location.SourceTree == root.SyntaxTree));
        var targets = new List<(string Id, MethodDeclarationSyntax Method, ParameterSyntax? Parameter)>();
        foreach (var diagnostic in diagnostics.Where(d => d.Id != LimitKeyId && d.Location.SourceTree == root.SyntaxTree).OrderBy(d => d.Location.SourceSpan.Start))
        {
            var node = root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
            if (node.FirstAncestorOrSelf<MethodDeclarationSyntax>() is { } method)
                targets.Add((diagnostic.Id, method, node.FirstAncestorOrSelf<ParameterSyntax>()));
        }

        // Whether a void body can run off its end is a question for the original semantic model, asked only for TASK002.
        var returnTask = targets.Where(t => t.Id == ReturnTaskId).Select(t => t.Method).Distinct().ToArray();
        var model = returnTask.Length == 0 ? null : await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        var endReachable = returnTask.ToDictionary(m => m, m => model is null || ReturnTaskRewriter.EndIsReachable(m, model));
        var current = root.TrackNodes(targets.Select(t => (SyntaxNode)t.Method).Concat(targets.Where(t => t.Parameter is not null).Select(t => (SyntaxNode)t.Parameter!)).Concat(keys.Keys));
        foreach (var (id, original, parameter) in targets)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (current.GetCurrentNode(original) is not { } method) continue;
            if (id == CancellationTokenFirstId)
            {
                current = current.ReplaceNode(method, CancellationTokenFirst(method));
            }
            else if (id == ReturnTaskId && ReturnTaskRewriter.Rewrite(method, endReachable[original]) is { } returnsTask)
            {
                current = current.ReplaceNode(method, returnsTask);
            }
            else if (id == ParamsId && parameter is not null && current.GetCurrentNode(parameter) is { } currentParameter)
            {
                current = current.ReplaceNode(currentParameter, RemoveParams(currentParameter));
            }
            else if (id == PartialId)
            {
                current = MakePartial(current, method);
            }
        }

        // A limit key becomes nameof(the parameter it meant), found again in methods the fixes above rewrote.
        foreach (var pair in keys)
        {
            var parameter = pair.Value;
            if (current.GetCurrentNode(pair.Key) is not AttributeArgumentSyntax argument) continue;
            var keyed = ParseExpression($"nameof({parameter})").WithTriviaFrom(argument.Expression); // parsed: a nameof made by the factory binds as a method call
            current = current.ReplaceNode(argument, argument.WithExpression(keyed));
        }

        return document.WithSyntaxRoot(current);
    }

    /// <summary>The limit keys TASK018 knows the meant parameter of: each <c>Key = ...</c> argument, and that parameter.</summary>
    private static Dictionary<AttributeArgumentSyntax, string> LimitKeys(SyntaxNode root, IEnumerable<Diagnostic> diagnostics)
    {
        var keys = new Dictionary<AttributeArgumentSyntax, string>();
        foreach (var diagnostic in diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue(Tasks.Generators.Parsing.TaskLimitSettings.SuggestedParameter, out var parameter) || parameter is null) continue;
            if (root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true).FirstAncestorOrSelf<AttributeArgumentSyntax>() is { } argument) keys[argument] = parameter;
        }

        return keys;
    }

    private static MethodDeclarationSyntax CancellationTokenFirst(MethodDeclarationSyntax method)
    {
        var parameters = method.ParameterList.Parameters;
        var existing = parameters.FirstOrDefault(p => p.Type is { } type && type.ToString().Split('.').Last() == "CancellationToken");
        if (existing is not null && parameters.IndexOf(existing) == 0) return method;
        SeparatedSyntaxList<ParameterSyntax> reordered;
        if (existing is not null)
        {
            reordered = parameters.Remove(existing).Insert(0, existing.WithoutTrivia());
        }
        else
        {
            var name = UniqueName("cancellationToken", parameters);
            var token = Parameter(Identifier(name))
                .WithType(ParseTypeName("global::System.Threading.CancellationToken").WithAdditionalAnnotations(Simplifier.Annotation));
            reordered = parameters.Insert(0, token);
            method = DocumentFirstParameter(method, name);
        }

        return method.WithParameterList(method.ParameterList.WithParameters(reordered));
    }

    /// <summary>
    /// A doc comment that documents its parameters gets a line for the new one: with documentation
    /// files on and warnings as errors, a missing &lt;param&gt; (CS1573) would fail the build.
    /// </summary>
    private static MethodDeclarationSyntax DocumentFirstParameter(MethodDeclarationSyntax method, string name)
    {
        var leading = method.GetLeadingTrivia().ToFullString();
        var firstParam = leading.IndexOf("<param name=", System.StringComparison.Ordinal);
        if (firstParam < 0) return method;
        var lineStart = leading.LastIndexOf('\n', firstParam) + 1;
        var prefix = leading.Substring(lineStart, firstParam - lineStart);
        var newLine = leading.Contains("\r\n") ? "\r\n" : "\n";
        var line = $"{prefix}<param name=\"{name}\">Fires when the worker stops or the task times out.</param>{newLine}";
        return method.WithLeadingTrivia(ParseLeadingTrivia(leading.Insert(lineStart, line)));
    }

    private static ParameterSyntax RemoveParams(ParameterSyntax parameter)
    {
        var modifiers = parameter.Modifiers;
        var index = modifiers.IndexOf(SyntaxKind.ParamsKeyword);
        if (index < 0) return parameter;
        var updated = parameter.WithModifiers(modifiers.RemoveAt(index));
        return index == 0 ? updated.WithLeadingTrivia(modifiers[0].LeadingTrivia) : updated;
    }

    private static SyntaxNode MakePartial(SyntaxNode root, MethodDeclarationSyntax method)
    {
        var types = method.Ancestors().OfType<TypeDeclarationSyntax>().Where(t => !t.Modifiers.Any(SyntaxKind.PartialKeyword)).ToArray();
        return root.ReplaceNodes(types, static (_, rewritten) =>
        {
            // 'partial' goes last among the modifiers, just before the keyword, as C# requires.
            var partial = Token(SyntaxKind.PartialKeyword).WithTrailingTrivia(Space);
            if (rewritten.Modifiers.Count == 0)
                return rewritten.WithModifiers(TokenList(partial.WithLeadingTrivia(rewritten.Keyword.LeadingTrivia)))
                    .WithKeyword(rewritten.Keyword.WithLeadingTrivia());
            return rewritten.WithModifiers(rewritten.Modifiers.Add(partial));
        });
    }

    private static string UniqueName(string name, SeparatedSyntaxList<ParameterSyntax> parameters)
    {
        while (parameters.Any(p => p.Identifier.ValueText == name)) name += "_";
        return name;
    }
}
