using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Xml.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Tasks.Generators.Model;

namespace Tasks.Generators.Parsing;

/// <summary>Turns an <c>[AsyncTask]</c> method symbol into a <see cref="TaskModel"/>, or null if it breaks a rule.</summary>
internal static class TaskParser
{
    private static readonly SymbolDisplayFormat TypeFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    public static TaskModel? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not IMethodSymbol method || context.Attributes.IsEmpty) return null;
        var known = KnownTypes.Create(context.SemanticModel.Compilation);
        var settings = AsyncTaskSettings.Read(context.Attributes[0]);

        // Invalid methods produce nothing: the analyzer reports why.
        if (!TaskMethodValidator.Validate(method, settings, known, report: null, cancellationToken)) return null;

        var argumentTypes = new List<ArgumentTypeModel>();
        foreach (var parameter in method.Parameters.Skip(1)) TypeSupport.WhyUnsupported(parameter.Type, known, argumentTypes);

        var parameters = method.Parameters.Skip(1).Select(p => new ParameterModel(
            Identifier(p.Name),
            p.Type.ToDisplayString(TypeFormat),
            p.HasExplicitDefaultValue ? DefaultValueLiteral(p) : null,
            p.Type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat)));

        return new TaskModel(
            Hierarchy(method.ContainingType),
            Identifier(method.Name),
            Identifier(TaskMethodValidator.GeneratedClassName(method, settings, known)),
            settings.WireName(method),
            settings.Queue,
            settings.MaxAttempts,
            new TaskPolicyModel(AsyncTaskSettings.Ticks(settings.Timeout), AsyncTaskSettings.Ticks(settings.RetryDelay), settings.MaxConcurrency, AsyncTaskSettings.Ticks(settings.UniqueFor), settings.PersonalData),
            method.IsStatic,
            IsPublic: method.DeclaredAccessibility == Accessibility.Public,
            parameters.ToEquatableArray(),
            DocSummary(method, cancellationToken),
            RecurringSettings.Read(method, known) is { Cron: { } cron } recurring ? new ScheduleModel(cron, recurring.TimeZone) : null,
            argumentTypes.GroupBy(t => t.Type, System.StringComparer.Ordinal).Select(g => g.First()).ToEquatableArray(),
            TaskFilterSettings.Read(method, known).ToEquatableArray(),
            TaskLimitSettings.Read(method, known, settings.WireName(method)).ToEquatableArray());
    }

    private static HierarchyInfo Hierarchy(INamedTypeSymbol type)
    {
        var types = new List<TypeDeclarationInfo>();
        for (var current = type; current is not null; current = current.ContainingType)
        {
            var keyword = current switch
            {
                { IsRecord: true, IsValueType: true } => "record struct",
                { IsRecord: true } => "record",
                { TypeKind: TypeKind.Struct } => "struct",
                { TypeKind: TypeKind.Interface } => "interface",
                _ => "class",
            };
            types.Insert(0, new TypeDeclarationInfo(keyword, Identifier(current.Name), current.IsStatic));
        }

        var ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : "";
        return new HierarchyInfo(ns, types.ToEquatableArray());
    }

    internal static string Identifier(string name)
        => SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None || SyntaxFacts.GetContextualKeywordKind(name) is SyntaxKind.AwaitKeyword
            ? "@" + name
            : name;

    internal static string DefaultValueLiteral(IParameterSymbol parameter)
    {
        var value = parameter.ExplicitDefaultValue;
        var type = parameter.Type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable
            ? nullable.TypeArguments[0]
            : parameter.Type;
        if (value is null) return "null";
        if (type.TypeKind == TypeKind.Enum)
            return $"({type.ToDisplayString(TypeFormat)})({SymbolDisplay.FormatPrimitive(value, quoteStrings: true, useHexadecimalNumbers: false)})";
        var literal = SymbolDisplay.FormatPrimitive(value, quoteStrings: true, useHexadecimalNumbers: false);
        return value switch
        {
            float f when float.IsNaN(f) || float.IsInfinity(f) => $"float.{(float.IsNaN(f) ? "NaN" : f > 0 ? "PositiveInfinity" : "NegativeInfinity")}",
            double d when double.IsNaN(d) || double.IsInfinity(d) => $"double.{(double.IsNaN(d) ? "NaN" : d > 0 ? "PositiveInfinity" : "NegativeInfinity")}",
            float => literal + "F",
            double => literal + "D",
            decimal => literal + "M",
            long => literal + "L",
            ulong => literal + "UL",
            uint => literal + "U",
            _ => literal,
        };
    }

    private static EquatableArray<string> DocSummary(IMethodSymbol method, CancellationToken cancellationToken)
    {
        var xml = method.GetDocumentationCommentXml(CultureInfo.InvariantCulture, expandIncludes: false, cancellationToken);
        if (string.IsNullOrWhiteSpace(xml)) return EquatableArray<string>.Empty;
        try
        {
            var summary = XElement.Parse(xml).Element("summary");
            if (summary is null) return EquatableArray<string>.Empty;
            // The generated members have other parameters: a paramref would point at nothing.
            foreach (var reference in summary.Descendants().Where(e => e.Name == "paramref" || e.Name == "typeparamref").ToList())
                reference.ReplaceWith(new XElement("c", (string?)reference.Attribute("name")));
            var inner = string.Concat(summary.Nodes().Select(n => n.ToString()));
            return inner.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToEquatableArray();
        }
        catch (System.Xml.XmlException)
        {
            return EquatableArray<string>.Empty;
        }
    }
}
