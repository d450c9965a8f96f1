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
using Microsoft.CodeAnalysis.Simplification;
using Tasks.Generators.Diagnostics;
using static Microsoft.CodeAnalysis.CSharp.SyntaxFactory;

namespace Tasks.CodeFixes;

/// <summary>One-click repairs for the task-method rules whose fix is obvious: TASK001, TASK002, TASK003 and TASK006.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(TaskMethodCodeFixes)), Shared]
public sealed class TaskMethodCodeFixes : CodeFixProvider
{
    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.FirstParameterNotCancellationToken.Id,
        DiagnosticDescriptors.ReturnTypeNotTask.Id,
        DiagnosticDescriptors.ParamsParameter.Id,
        DiagnosticDescriptors.ContainingTypeNotPartial.Id);

    /// <inheritdoc />
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc />
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null) return;
        foreach (var diagnostic in context.Diagnostics)
        {
            var node = root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
            var method = node.FirstAncestorOrSelf<MethodDeclarationSyntax>();
            if (method is null) continue;
            (string Title, System.Func<SyntaxNode> Apply)? fix = diagnostic.Id switch
            {
                "TASK001" => ("Take a CancellationToken first", () => root.ReplaceNode(method, CancellationTokenFirst(method))),
                "TASK002" => ("Return Task", () => root.ReplaceNode(method, ReturnTask(method))),
                "TASK003" when node.FirstAncestorOrSelf<ParameterSyntax>() is { } parameter
                    => ("Remove 'params'", () => root.ReplaceNode(parameter, RemoveParams(parameter))),
                "TASK006" => ("Make the declaring types partial", () => MakePartial(root, method)),
                _ => null,
            };
            if (fix is not { } f) continue;
            var document = context.Document;
            context.RegisterCodeFix(
                CodeAction.Create(f.Title, _ => Task.FromResult(document.WithSyntaxRoot(f.Apply())), equivalenceKey: diagnostic.Id),
                diagnostic);
        }
    }

    private static MethodDeclarationSyntax CancellationTokenFirst(MethodDeclarationSyntax method)
    {
        var parameters = method.ParameterList.Parameters;
        var existing = parameters.FirstOrDefault(p => p.Type is { } type && type.ToString().Split('.').Last() == "CancellationToken");
        SeparatedSyntaxList<ParameterSyntax> reordered;
        if (existing is not null)
        {
            reordered = parameters.Remove(existing).Insert(0, existing.WithoutTrivia());
        }
        else
        {
            var token = Parameter(Identifier(UniqueName("cancellationToken", parameters)))
                .WithType(ParseTypeName("global::System.Threading.CancellationToken").WithAdditionalAnnotations(Simplifier.Annotation));
            reordered = parameters.Insert(0, token);
        }

        return method.WithParameterList(method.ParameterList.WithParameters(reordered));
    }

    private static MethodDeclarationSyntax ReturnTask(MethodDeclarationSyntax method)
    {
        var task = ParseTypeName("global::System.Threading.Tasks.Task")
            .WithAdditionalAnnotations(Simplifier.Annotation)
            .WithTriviaFrom(method.ReturnType);
        var updated = method.WithReturnType(task);
        var isVoid = method.ReturnType is PredefinedTypeSyntax { Keyword.RawKind: (int)SyntaxKind.VoidKeyword };
        if (isVoid && !method.Modifiers.Any(SyntaxKind.AsyncKeyword) && method.Body is not null)
        {
            // A void method has no Task to return; as an async method its body stays valid.
            updated = updated.AddModifiers(Token(SyntaxKind.AsyncKeyword).WithTrailingTrivia(Space));
        }

        return updated;
    }

    private static ParameterSyntax RemoveParams(ParameterSyntax parameter)
    {
        var modifiers = parameter.Modifiers;
        var index = modifiers.IndexOf(SyntaxKind.ParamsKeyword);
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
