using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Formatting;
using Microsoft.CodeAnalysis.Simplification;
using static Microsoft.CodeAnalysis.CSharp.SyntaxFactory;

namespace Tasks.CodeFixes;

/// <summary>
/// TASK002's fix: makes a method return <c>Task</c> without changing what it does, and never so that
/// it returns a null <c>Task</c> (which the worker would await and crash on):
/// <list type="bullet">
/// <item><c>async void</c>, <c>async ValueTask</c>, <c>async Task&lt;T&gt;</c>: <c>async Task</c>; a returned value is still evaluated, then dropped.</item>
/// <item><c>void</c>: returns <c>Task.CompletedTask</c> wherever it returned, and at the end of its body.</item>
/// <item><c>ValueTask</c>, <c>ValueTask&lt;T&gt;</c>: returns <c>value.AsTask()</c>.</item>
/// <item><c>Task&lt;T&gt;</c>: already a <c>Task</c>; only its type changes.</item>
/// </list>
/// In each, <c>default</c> or <c>null</c> becomes <c>Task.CompletedTask</c>. Other return types get no fix:
/// what to do with their value is the author's call.
/// </summary>
internal static class ReturnTaskRewriter
{
    private enum ReturnKind { Void, ValueTask, GenericTask, Other }

    public static bool CanFix(MethodDeclarationSyntax method)
        => method.Modifiers.Any(SyntaxKind.AsyncKeyword) || Classify(method.ReturnType) != ReturnKind.Other;

    public static bool EndIsReachable(MethodDeclarationSyntax method, SemanticModel model)
    {
        if (method.Body is not { } body) return false;
        if (body.Statements.Count == 0) return true;
        var flow = model.AnalyzeControlFlow(body.Statements.First(), body.Statements.Last());
        return flow is not { Succeeded: true } || flow.EndPointIsReachable;
    }

    public static MethodDeclarationSyntax? Rewrite(MethodDeclarationSyntax method, bool endReachable)
    {
        var kind = Classify(method.ReturnType);
        var task = ParseTypeName("global::System.Threading.Tasks.Task").WithAdditionalAnnotations(Simplifier.Annotation).WithTriviaFrom(method.ReturnType);
        if (method.Modifiers.Any(SyntaxKind.AsyncKeyword))
            return DropReturnedValues(method).WithReturnType(task);

        return kind switch
        {
            ReturnKind.Void => ReturnCompletedTask(method, endReachable).WithReturnType(task),
            ReturnKind.ValueTask => MapReturnedValues(method, value => InvocationExpression(
                MemberAccessExpression(SyntaxKind.SimpleMemberAccessExpression, Parenthesized(value), IdentifierName("AsTask")))).WithReturnType(task),
            ReturnKind.GenericTask => MapReturnedValues(method, value => value).WithReturnType(task),
            _ => null,
        };
    }

    private static ReturnKind Classify(TypeSyntax type)
    {
        if (type is PredefinedTypeSyntax { Keyword.RawKind: (int)SyntaxKind.VoidKeyword }) return ReturnKind.Void;
        var name = type is QualifiedNameSyntax qualified ? qualified.Right : type is AliasQualifiedNameSyntax alias ? alias.Name : type as SimpleNameSyntax;
        return name switch
        {
            { Identifier.ValueText: "ValueTask" } => ReturnKind.ValueTask,
            GenericNameSyntax { Identifier.ValueText: "Task" } => ReturnKind.GenericTask,
            _ => ReturnKind.Other,
        };
    }

    /// <summary>An async method's <c>return value;</c> becomes <c>value; return;</c> (or <c>_ = value;</c>), so side effects and awaits stay.</summary>
    private static MethodDeclarationSyntax DropReturnedValues(MethodDeclarationSyntax method)
    {
        if (method.ExpressionBody is { } arrow)
        {
            return IsStatementExpression(arrow.Expression)
                ? method
                : method.WithExpressionBody(null).WithSemicolonToken(default).WithBody(Formatted(Block(Evaluate(arrow.Expression))));
        }

        var returns = OwnReturns(method).Where(r => r.Expression is not null).ToArray();
        var updated = method.TrackNodes(returns);
        foreach (var original in returns)
        {
            var current = updated.GetCurrentNode(original)!;
            var bare = ReturnStatement().WithLeadingTrivia(original.GetLeadingTrivia()).WithTrailingTrivia(original.GetTrailingTrivia());
            if (!HasEffects(original.Expression!))
            {
                updated = updated.ReplaceNode(current, bare);
                continue;
            }

            var evaluate = Evaluate(original.Expression!).WithLeadingTrivia(original.GetLeadingTrivia());
            updated = current.Parent is BlockSyntax
                ? updated.ReplaceNode(current, new SyntaxNode[] { evaluate.WithTrailingTrivia(ElasticCarriageReturnLineFeed), bare })
                : updated.ReplaceNode(current, Formatted(Block(evaluate, bare)));
        }

        return updated;
    }

    private static MethodDeclarationSyntax ReturnCompletedTask(MethodDeclarationSyntax method, bool endReachable)
    {
        if (method.ExpressionBody is { } arrow)
        {
            return arrow.Expression is ThrowExpressionSyntax
                ? method
                : method.WithExpressionBody(null).WithSemicolonToken(default)
                    .WithBody(Formatted(Block(ExpressionStatement(arrow.Expression), ReturnStatement(CompletedTask()))));
        }

        var updated = method.ReplaceNodes(OwnReturns(method), static (_, rewritten) => rewritten.WithExpression(CompletedTask().WithLeadingTrivia(Space)));
        return endReachable && updated.Body is { } body
            ? updated.WithBody(body.AddStatements(Formatted(ReturnStatement(CompletedTask()))))
            : updated;
    }

    private static MethodDeclarationSyntax MapReturnedValues(MethodDeclarationSyntax method, System.Func<ExpressionSyntax, ExpressionSyntax> map)
    {
        ExpressionSyntax Map(ExpressionSyntax value) => IsDefaultOrNull(value) || IsCompletedValueTask(value) ? CompletedTask().WithTriviaFrom(value) : map(value).WithTriviaFrom(value);
        if (method.ExpressionBody is { } arrow)
            return arrow.Expression is ThrowExpressionSyntax ? method : method.WithExpressionBody(arrow.WithExpression(Map(arrow.Expression)));
        return method.ReplaceNodes(OwnReturns(method).Where(r => r.Expression is not null), (original, rewritten) => rewritten.WithExpression(Map(original.Expression!)));
    }

    /// <summary>The method's own return statements, not those of the lambdas and local functions inside it.</summary>
    private static ReturnStatementSyntax[] OwnReturns(MethodDeclarationSyntax method)
        => method.Body?.DescendantNodes(node => node is not (AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax))
            .OfType<ReturnStatementSyntax>().ToArray() ?? [];

    private static StatementSyntax Evaluate(ExpressionSyntax value)
        => IsStatementExpression(value)
            ? ExpressionStatement(value.WithoutTrivia())
            // Parsed, not built: only the parser marks "_" as the discard token.
            : ExpressionStatement(AssignmentExpression(SyntaxKind.SimpleAssignmentExpression, ParseExpression("_"), value.WithoutTrivia()));

    private static bool IsStatementExpression(ExpressionSyntax expression)
        => expression is InvocationExpressionSyntax or AwaitExpressionSyntax or AssignmentExpressionSyntax or ObjectCreationExpressionSyntax or ThrowExpressionSyntax
            || expression.Kind() is SyntaxKind.PostIncrementExpression or SyntaxKind.PostDecrementExpression or SyntaxKind.PreIncrementExpression or SyntaxKind.PreDecrementExpression;

    /// <summary>A value whose evaluation does nothing (a literal, a name, a member): dropping it changes nothing.</summary>
    private static bool HasEffects(ExpressionSyntax expression)
        => expression.WalkDownParentheses() is not (LiteralExpressionSyntax or DefaultExpressionSyntax or IdentifierNameSyntax or MemberAccessExpressionSyntax { Expression: IdentifierNameSyntax or MemberAccessExpressionSyntax or PredefinedTypeSyntax });

    private static bool IsCompletedValueTask(ExpressionSyntax expression)
        => expression.WalkDownParentheses() is MemberAccessExpressionSyntax { Name.Identifier.ValueText: "CompletedTask" } access
            && access.Expression.ToString().EndsWith("ValueTask", System.StringComparison.Ordinal);

    private static bool IsDefaultOrNull(ExpressionSyntax expression)
        => expression.WalkDownParentheses() is LiteralExpressionSyntax { RawKind: (int)SyntaxKind.DefaultLiteralExpression or (int)SyntaxKind.NullLiteralExpression }
            or DefaultExpressionSyntax;

    private static ExpressionSyntax WalkDownParentheses(this ExpressionSyntax expression)
    {
        while (true)
        {
            switch (expression)
            {
                case ParenthesizedExpressionSyntax parenthesized:
                    expression = parenthesized.Expression;
                    break;
                case PostfixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.SuppressNullableWarningExpression } suppressed:
                    expression = suppressed.Operand;
                    break;
                default:
                    return expression;
            }
        }
    }

    private static ExpressionSyntax Parenthesized(ExpressionSyntax value)
        => value is IdentifierNameSyntax or InvocationExpressionSyntax or MemberAccessExpressionSyntax or ObjectCreationExpressionSyntax or ParenthesizedExpressionSyntax
            ? value.WithoutTrivia()
            : ParenthesizedExpression(value.WithoutTrivia());

    private static ExpressionSyntax CompletedTask()
        => ParseExpression("global::System.Threading.Tasks.Task.CompletedTask").WithAdditionalAnnotations(Simplifier.Annotation);

    private static T Formatted<T>(T node) where T : SyntaxNode => node.WithAdditionalAnnotations(Formatter.Annotation);
}
