using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Tasks.Generators.Parsing;

/// <summary>The filters one task method names with <c>[TaskFilter(typeof(...))]</c>, and the TASK017 rules each must keep.</summary>
internal static class TaskFilterSettings
{
    public const string AttributeName = "Tasks.TaskFilterAttribute";
    public const string RunFilterName = "Tasks.ITaskRunFilter";

    private static readonly SymbolDisplayFormat TypeFormat = SymbolDisplayFormat.FullyQualifiedFormat;

    /// <summary>The filter types, in attribute order, as generated code names them (<c>global::...</c>).</summary>
    public static IEnumerable<string> Read(IMethodSymbol method, KnownTypes known)
        => Attributes(method, known).Select(a => a.ConstructorArguments.FirstOrDefault().Value).OfType<ITypeSymbol>().Select(t => t.ToDisplayString(TypeFormat));

    /// <summary>Reports each filter type that cannot be made and run as a run filter, at its attribute.</summary>
    public static void Validate(IMethodSymbol method, KnownTypes known, Action<DiagnosticDescriptor, Location?, object?[]> fail)
    {
        foreach (var attribute in Attributes(method, known))
        {
            var location = (attribute.ApplicationSyntaxReference?.GetSyntax() as AttributeSyntax)?.GetLocation();
            var type = attribute.ConstructorArguments.FirstOrDefault().Value as INamedTypeSymbol;
            if (Problem(type, known) is { } problem) fail(DiagnosticDescriptors.InvalidTaskFilter, location, new object?[] { method.Name, type?.ToDisplayString() ?? "null", problem });
        }
    }

    /// <summary>A <c>[TaskFilter]</c> on a method that is no task filters nothing: said at each, rather than ignored.</summary>
    public static void ValidateWithoutTask(IMethodSymbol method, KnownTypes known, Action<DiagnosticDescriptor, Location?, object?[]> fail)
    {
        foreach (var attribute in Attributes(method, known))
        {
            var location = (attribute.ApplicationSyntaxReference?.GetSyntax() as AttributeSyntax)?.GetLocation();
            var type = attribute.ConstructorArguments.FirstOrDefault().Value as INamedTypeSymbol;
            fail(DiagnosticDescriptors.InvalidTaskFilter, location, new object?[] { method.Name, type?.ToDisplayString() ?? "null", "the method has no [AsyncTask], so nothing runs through the filter; add [AsyncTask], or remove [TaskFilter]" });
        }
    }

    private static IEnumerable<AttributeData> Attributes(IMethodSymbol method, KnownTypes known)
        => known.TaskFilterAttribute is null
            ? Enumerable.Empty<AttributeData>()
            : method.GetAttributes().Where(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, known.TaskFilterAttribute));

    private static string? Problem(INamedTypeSymbol? type, KnownTypes known)
    {
        if (type is null) return "it names no type; write typeof(YourFilter)";
        if (type.TypeKind != TypeKind.Class) return "it is not a class; write a class that implements Tasks.ITaskRunFilter";
        if (type.IsAbstract || type.IsStatic) return "it is abstract or static, so no instance of it can be made; name a concrete class";
        if (type.IsUnboundGenericType || type.TypeArguments.Any(t => t is ITypeParameterSymbol)) return "it is an open generic type; name a closed one, e.g. typeof(AuditFilter<Order>)";
        if (known.RunFilter is not null && !type.AllInterfaces.Any(i => SymbolEqualityComparer.Default.Equals(i, known.RunFilter)))
            return type.AllInterfaces.Any(i => i.ToDisplayString() == "Tasks.ITaskEnqueueFilter")
                ? "it is an enqueue filter, and [TaskFilter] takes run filters (Tasks.ITaskRunFilter); register an enqueue filter with AddEnqueueFilter<T>() in the process that enqueues"
                : "it does not implement Tasks.ITaskRunFilter; implement OnRunAsync(TaskRunContext, TaskRunNext) in it";
        for (var current = type; current is not null; current = current.ContainingType)
        {
            if (current.DeclaredAccessibility is Accessibility.Private or Accessibility.Protected or Accessibility.ProtectedAndInternal)
                return $"'{current.ToDisplayString()}' is not reachable from the generated code; make it internal or public";
        }

        if (!type.InstanceConstructors.Any(c => c.DeclaredAccessibility == Accessibility.Public))
            return "it has no public constructor, so the worker cannot make it; add one (its parameters come from DI)";
        return null;
    }
}
