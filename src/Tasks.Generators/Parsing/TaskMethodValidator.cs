using System;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Tasks.Generators.Parsing;

/// <summary>
/// The rules an <c>[AsyncTask]</c> method must keep. The analyzer reports what they find; the
/// generator calls the same code and silently skips a method that breaks any of them.
/// TASK008 (duplicate wire names) spans methods and is checked by the analyzer at compilation end.
/// </summary>
internal static class TaskMethodValidator
{
    private const string GeneratorName = "Tasks.Generators";

    /// <summary>Checks one method. Each broken rule goes to <paramref name="report"/> (if any); returns true if none is.</summary>
    public static bool Validate(IMethodSymbol method, AsyncTaskSettings settings, KnownTypes known, Action<Diagnostic>? report, CancellationToken cancellationToken)
    {
        var valid = true;
        void Fail(DiagnosticDescriptor descriptor, Location? location, params object?[] args)
        {
            valid = false;
            // A rule whose fix needs to know more (TASK018's parameter) passes it last, as the diagnostic's properties.
            var properties = args.Length > 0 ? args[args.Length - 1] as ImmutableDictionary<string, string?> : null;
            if (properties is not null) args = args.Take(args.Length - 1).ToArray();
            report?.Invoke(Diagnostic.Create(descriptor, location ?? method.Locations.FirstOrDefault(), properties, args));
        }

        var declaration = method.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken) as MethodDeclarationSyntax;
        var name = method.Name;
        var nameLocation = declaration?.Identifier.GetLocation();
        var className = GeneratedClassName(method, settings, known);

        if (method.IsGenericMethod)
            Fail(DiagnosticDescriptors.Generic, declaration?.TypeParameterList?.GetLocation(), name, "is generic");
        for (var type = method.ContainingType; type is not null; type = type.ContainingType)
        {
            if (type.IsGenericType)
            {
                Fail(DiagnosticDescriptors.Generic, nameLocation, name, $"is declared in generic type '{type.ToDisplayString()}'");
                break;
            }
        }

        var parameters = method.Parameters;
        var firstIsToken = parameters.Length > 0 && SymbolEqualityComparer.Default.Equals(parameters[0].Type, known.CancellationToken);
        if (!firstIsToken)
        {
            var location = parameters.Length == 0 ? declaration?.ParameterList.GetLocation() : ParameterSyntax(parameters[0], cancellationToken)?.GetLocation();
            Fail(DiagnosticDescriptors.FirstParameterNotCancellationToken, location, name);
        }

        if (method.ReturnsVoid || !SymbolEqualityComparer.Default.Equals(method.ReturnType, known.Task))
            Fail(DiagnosticDescriptors.ReturnTypeNotTask, declaration?.ReturnType.GetLocation(), name, method.ReturnType.ToDisplayString());

        for (var i = 0; i < parameters.Length; i++)
        {
            var parameter = parameters[i];
            var syntax = ParameterSyntax(parameter, cancellationToken);
            if (parameter.IsParams)
                Fail(DiagnosticDescriptors.ParamsParameter, Modifier(syntax, SyntaxKind.ParamsKeyword), parameter.Name, name);
            if (parameter.RefKind != RefKind.None)
            {
                var keyword = parameter.RefKind switch { RefKind.Out => SyntaxKind.OutKeyword, RefKind.In => SyntaxKind.InKeyword, _ => SyntaxKind.RefKeyword };
                Fail(DiagnosticDescriptors.ByRefParameter, Modifier(syntax, keyword), parameter.Name, name, SyntaxFacts.GetText(keyword));
            }

            // The token itself is not an argument; a token out of place is TASK001's to report.
            if (SymbolEqualityComparer.Default.Equals(parameter.Type, known.CancellationToken) && (i == 0 || !firstIsToken))
                continue;
            var typeLocation = syntax?.Type?.GetLocation() ?? syntax?.GetLocation();
            if (TypeSupport.WhyUnsupported(parameter.Type, known) is { } reason)
                Fail(DiagnosticDescriptors.UnsupportedParameterType, typeLocation, parameter.Name, name, parameter.Type.ToDisplayString(), reason);
            else if (FirstHidden(parameter.Type) is { } hidden)
                Fail(DiagnosticDescriptors.NotReachable, typeLocation, name, $"the type of parameter '{parameter.Name}' uses '{hidden.ToDisplayString()}', which is {Describe(hidden.DeclaredAccessibility)}");
        }

        for (var type = method.ContainingType; type is not null; type = type.ContainingType)
        {
            var notPartial = type.DeclaringSyntaxReferences
                .Select(r => r.GetSyntax(cancellationToken))
                .OfType<TypeDeclarationSyntax>()
                .Any(t => !t.Modifiers.Any(SyntaxKind.PartialKeyword));
            if (notPartial)
                Fail(DiagnosticDescriptors.ContainingTypeNotPartial, nameLocation, type.ToDisplayString(), className);
            if (IsHidden(type))
                Fail(DiagnosticDescriptors.NotReachable, nameLocation, name, $"its containing type '{type.ToDisplayString()}' is {Describe(type.DeclaredAccessibility)}");
            else if (IsFileLocal(type, cancellationToken))
                Fail(DiagnosticDescriptors.NotReachable, nameLocation, name, $"its containing type '{type.ToDisplayString()}' is file-local");
        }

        if (ClassNameConflict(method, className, settings, known) is { } conflict)
        {
            // Overloads without a Name share a wire name: TASK008 says so, TASK010 would only repeat it.
            if (conflict.Length == 0) valid = false;
            else Fail(DiagnosticDescriptors.GeneratedNameConflict, nameLocation, className, name, conflict);
        }

        ValidateSettings(method, settings, Fail);
        RecurringSettings.Read(method, known)?.Validate(method, isTask: true, Fail);
        TaskFilterSettings.Validate(method, known, Fail);
        TaskLimitSettings.Validate(method, known, Fail);
        return valid;
    }

    /// <summary>
    /// <c>{Method}Async</c>; for overloaded tasks, which need distinct wire names anyway, the
    /// last segment of the explicit Name gives the class its name instead.
    /// </summary>
    public static string GeneratedClassName(IMethodSymbol method, AsyncTaskSettings settings, KnownTypes known)
    {
        var overloaded = method.ContainingType.GetMembers(method.Name)
            .OfType<IMethodSymbol>()
            .Count(m => AsyncTaskSettings.Find(m, known.AsyncTaskAttribute) is not null) > 1;
        var baseName = overloaded && settings.ExplicitName is { } explicitName ? ToIdentifier(explicitName.Split('.').Last()) : method.Name;
        return baseName + "Async";
    }

    private static string? ClassNameConflict(IMethodSymbol method, string className, AsyncTaskSettings settings, KnownTypes known)
    {
        var containing = method.ContainingType;
        if (containing.Name == className) return "the name of its containing type";
        foreach (var member in containing.GetMembers(className))
        {
            // In the analyzer's compilation the generator's own class is a member too.
            if (member is INamedTypeSymbol nested && IsGeneratedByUs(nested, known)) continue;
            return $"the existing member '{member.ToDisplayString()}'";
        }

        foreach (var sibling in containing.GetMembers().OfType<IMethodSymbol>())
        {
            if (SymbolEqualityComparer.Default.Equals(sibling, method)) continue;
            var attribute = AsyncTaskSettings.Find(sibling, known.AsyncTaskAttribute);
            if (attribute is null) continue;
            var siblingSettings = AsyncTaskSettings.Read(attribute);
            if (GeneratedClassName(sibling, siblingSettings, known) != className) continue;
            return sibling.Name == method.Name && settings.ExplicitName is null && siblingSettings.ExplicitName is null
                ? ""
                : $"the class generated for task method '{sibling.ToDisplayString()}'";
        }

        return null;
    }

    private static void ValidateSettings(IMethodSymbol method, AsyncTaskSettings settings, Action<DiagnosticDescriptor, Location?, object?[]> fail)
    {
        Location? At(string argument)
            => (settings.Attribute.ApplicationSyntaxReference?.GetSyntax() as AttributeSyntax)?.ArgumentList?.Arguments
                .FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == argument)?.GetLocation();

        if (settings.ExplicitName is { } wireName && wireName.Trim().Length == 0)
            fail(DiagnosticDescriptors.InvalidAttributeValue, At("Name"), new object?[] { method.Name, "Name", "a wire name cannot be empty" });
        if (PortableQueueName.Problem(settings.Queue) is { } problem)
            fail(DiagnosticDescriptors.InvalidAttributeValue, At("Queue"), new object?[] { method.Name, "Queue", problem });
        if (settings.MaxAttempts < 1)
            fail(DiagnosticDescriptors.InvalidAttributeValue, At("MaxAttempts"), new object?[] { method.Name, "MaxAttempts", $"{settings.MaxAttempts} would never run the task; use 1 or more" });
        foreach (var (name, value) in new[] { ("Timeout", settings.Timeout), ("RetryDelay", settings.RetryDelay), ("UniqueFor", settings.UniqueFor) })
        {
            if (value is not null && AsyncTaskSettings.Ticks(value) is null)
                fail(DiagnosticDescriptors.InvalidAttributeValue, At(name), new object?[] { method.Name, name, $"\"{value}\" is not a positive TimeSpan of at most 49 days; write it as \"hh:mm:ss\" (e.g. \"00:05:00\") or \"d.hh:mm:ss\"" });
        }

        if (settings.MaxConcurrency < 0)
            fail(DiagnosticDescriptors.InvalidAttributeValue, At("MaxConcurrency"), new object?[] { method.Name, "MaxConcurrency", $"{settings.MaxConcurrency} is negative; use 1 or more, or leave it out for no limit of the task's own" });
    }

    private static bool IsGeneratedByUs(INamedTypeSymbol type, KnownTypes known)
        => type.GetAttributes().Any(a =>
            SymbolEqualityComparer.Default.Equals(a.AttributeClass, known.GeneratedCodeAttribute)
            && a.ConstructorArguments.Length > 0
            && a.ConstructorArguments[0].Value as string == GeneratorName);

    private static ParameterSyntax? ParameterSyntax(IParameterSymbol parameter, CancellationToken cancellationToken)
        => parameter.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken) as ParameterSyntax;

    private static Location? Modifier(ParameterSyntax? syntax, SyntaxKind kind)
    {
        if (syntax is null) return null;
        foreach (var modifier in syntax.Modifiers)
        {
            if (modifier.IsKind(kind)) return modifier.GetLocation();
        }

        return syntax.GetLocation();
    }

    private static bool IsHidden(ISymbol symbol)
        => symbol.DeclaredAccessibility is Accessibility.Private or Accessibility.Protected or Accessibility.ProtectedAndInternal;

    // file-local types arrived with C# 11; matched by text so the generator still builds against Roslyn 4.3.
    private static bool IsFileLocal(INamedTypeSymbol type, CancellationToken cancellationToken)
        => type.DeclaringSyntaxReferences.Select(r => r.GetSyntax(cancellationToken)).OfType<TypeDeclarationSyntax>()
            .Any(t => t.Modifiers.Any(m => m.Text == "file"));

    /// <summary>The first type inside <paramref name="type"/> that generated code outside its declaring type cannot name.</summary>
    private static ITypeSymbol? FirstHidden(ITypeSymbol type)
    {
        switch (type)
        {
            case IArrayTypeSymbol array:
                return FirstHidden(array.ElementType);
            case INamedTypeSymbol named:
                for (var current = named; current is not null; current = current.ContainingType)
                {
                    if (IsHidden(current)) return current;
                }

                foreach (var argument in named.TypeArguments)
                {
                    if (FirstHidden(argument) is { } hidden) return hidden;
                }

                return null;
            default:
                return null;
        }
    }

    private static string Describe(Accessibility accessibility) => accessibility switch
    {
        Accessibility.Private => "private",
        Accessibility.Protected => "protected",
        Accessibility.ProtectedAndInternal => "private protected",
        _ => accessibility.ToString().ToLowerInvariant(),
    };

    /// <summary>"send-one" → "SendOne": a wire-name segment as a PascalCase identifier.</summary>
    private static string ToIdentifier(string text)
    {
        var words = new string(text.Select(c => char.IsLetterOrDigit(c) ? c : ' ').ToArray())
            .Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries);
        var identifier = string.Concat(words.Select(w => char.ToUpperInvariant(w[0]) + w.Substring(1)));
        return identifier.Length == 0 || char.IsDigit(identifier[0]) ? "_" + identifier : identifier;
    }
}
