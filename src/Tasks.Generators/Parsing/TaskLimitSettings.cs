using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Tasks.Generators.Model;

namespace Tasks.Generators.Parsing;

/// <summary>The limits one task method declares with <c>[ConcurrencyLimit]</c> and <c>[RateLimit]</c>, and the TASK018/TASK019 rules they keep.</summary>
internal static class TaskLimitSettings
{
    public const string ConcurrencyAttributeName = "Tasks.ConcurrencyLimitAttribute";
    public const string RateAttributeName = "Tasks.RateLimitAttribute";

    /// <summary>The property of a TASK018 diagnostic that names the parameter its fix puts in <c>nameof(...)</c>.</summary>
    public const string SuggestedParameter = "SuggestedParameter";

    /// <summary>One limit attribute as written.</summary>
    private sealed class Declared
    {
        public AttributeData Attribute { get; init; } = null!;
        public string Kind { get; init; } = "";
        public int Limit { get; init; }
        public string? Period { get; init; }
        public string? Name { get; init; }
        public string? Key { get; init; }
        public string? MaxWait { get; init; }

        public string Display => $"[{(Kind == "Rate" ? "RateLimit" : "ConcurrencyLimit")}]";

        public Location? At(string? argument)
        {
            var syntax = Attribute.ApplicationSyntaxReference?.GetSyntax() as AttributeSyntax;
            return (argument is null ? null : syntax?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == argument)?.GetLocation())
                ?? syntax?.GetLocation();
        }
    }

    /// <summary>The limits of a valid task, in attribute order (concurrency limits are checked before rates at run time).</summary>
    public static IEnumerable<LimitModel> Read(IMethodSymbol method, KnownTypes known, string wireName)
        => Attributes(method, known).Select(d => new LimitModel(
            d.Kind,
            d.Name ?? wireName,
            d.Limit,
            AsyncTaskSettings.Ticks(d.Period),
            AsyncTaskSettings.Ticks(d.MaxWait),
            d.Key is null ? null : TaskParser.Identifier(d.Key)));

    /// <summary>Reports each limit of a task that cannot work, at its attribute.</summary>
    public static void Validate(IMethodSymbol method, KnownTypes known, Action<DiagnosticDescriptor, Location?, object?[]> fail)
    {
        var seen = new HashSet<(string, string?, string?)>();
        foreach (var limit in Attributes(method, known))
        {
            void Invalid(string? argument, string problem) => fail(DiagnosticDescriptors.InvalidLimit, limit.At(argument), new object?[] { limit.Display, method.Name, problem });

            if (limit.Limit < 1) Invalid(null, $"allows {limit.Limit} runs, so the task would never run; use 1 or more");
            if (limit.Kind == "Rate" && AsyncTaskSettings.Ticks(limit.Period) is null)
                Invalid(null, $"has the period \"{limit.Period}\", which is not a positive TimeSpan of at most 49 days; write it as \"hh:mm:ss\" (e.g. \"00:00:01\" for a second)");
            if (limit.MaxWait is not null && AsyncTaskSettings.Ticks(limit.MaxWait) is null)
                Invalid("MaxWait", $"has the MaxWait \"{limit.MaxWait}\", which is not a positive TimeSpan of at most 49 days; write it as \"hh:mm:ss\" or \"d.hh:mm:ss\"");
            if (limit.Name is { } name && (name.Trim().Length == 0 || name.Length > 100))
                Invalid("Name", "has an empty name or one longer than 100 characters; name it as people will read it, e.g. \"crm-api\"");
            if (!seen.Add((limit.Kind, limit.Name, limit.Key)))
                Invalid(null, "repeats another limit of the task with the same name and key; merge them into one");
            if (limit.Key is { } key) ValidateKey(method, limit, key, known, fail);
        }
    }

    /// <summary>A limit on a method that is no task limits nothing: said at each, rather than ignored.</summary>
    public static void ValidateWithoutTask(IMethodSymbol method, KnownTypes known, Action<DiagnosticDescriptor, Location?, object?[]> fail)
    {
        foreach (var limit in Attributes(method, known))
            fail(DiagnosticDescriptors.InvalidLimit, limit.At(null), new object?[] { limit.Display, method.Name, "is on a method without [AsyncTask], so nothing runs under it; add [AsyncTask], or remove the limit" });
    }

    /// <summary>
    /// The named limits of the compilation's tasks, for the check that every task naming one declares the same numbers
    /// (each process takes the numbers from the tasks it knows, so two versions would disagree on the limit).
    /// </summary>
    public static IEnumerable<(string Name, string Numbers, Location? Location, string Method)> Named(IMethodSymbol method, KnownTypes known)
        => Attributes(method, known).Where(d => d.Name is not null).Select(d => ($"{d.Kind}:{d.Name}", Numbers(d), d.At(null), method.Name));

    private static string Numbers(Declared limit)
        => limit.Kind == "Rate" ? $"{limit.Limit} per {limit.Period}" : $"{limit.Limit} at once";

    private static void ValidateKey(IMethodSymbol method, Declared limit, string key, KnownTypes known, Action<DiagnosticDescriptor, Location?, object?[]> fail)
    {
        var arguments = method.Parameters.Where(p => !SymbolEqualityComparer.Default.Equals(p.Type, known.CancellationToken)).ToArray();
        var parameter = arguments.FirstOrDefault(p => p.Name == key);
        string? problem = null;
        string? suggested = null;
        if (parameter is null)
        {
            suggested = Closest(key, arguments.Select(p => p.Name));
            problem = method.Parameters.Any(p => p.Name == key)
                ? "that is the CancellationToken, not an argument; key it by an argument of the task"
                : suggested is null
                    ? "the task has no such parameter; add the parameter the limit is per, or remove Key"
                    : $"the task has no such parameter; did you mean nameof({suggested})? (nameof keeps the key right when the parameter is renamed)";
        }
        else if (!CanKey(parameter.Type))
        {
            problem = $"its type '{parameter.Type.ToDisplayString()}' cannot key a limit; a key is a string, integer, bool, char, Guid or enum (or a nullable one): pass the id (e.g. customer.Id) as a parameter of its own";
        }

        if (problem is null) return;
        var properties = suggested is null ? ImmutableDictionary<string, string?>.Empty : ImmutableDictionary<string, string?>.Empty.Add(SuggestedParameter, suggested);
        fail(DiagnosticDescriptors.InvalidLimitKey, limit.At("Key"), new object?[] { limit.Display, method.Name, key, problem, properties });
    }

    private static bool CanKey(ITypeSymbol type)
    {
        if (type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable) type = nullable.TypeArguments[0];
        return type.TypeKind == TypeKind.Enum
            || type.SpecialType is SpecialType.System_String or SpecialType.System_Boolean or SpecialType.System_Char
                or SpecialType.System_SByte or SpecialType.System_Byte or SpecialType.System_Int16 or SpecialType.System_UInt16
                or SpecialType.System_Int32 or SpecialType.System_UInt32 or SpecialType.System_Int64 or SpecialType.System_UInt64
            || type.ToDisplayString() == "System.Guid";
    }

    /// <summary>The parameter a misspelt key most likely meant: the same name in another case, or one a couple of edits away.</summary>
    private static string? Closest(string key, IEnumerable<string> names)
        => names.Select(n => (Name: n, Distance: string.Equals(n, key, StringComparison.OrdinalIgnoreCase) ? 0 : Distance(n.ToLowerInvariant(), key.ToLowerInvariant())))
            .Where(c => c.Distance <= Math.Max(2, key.Length / 3))
            .OrderBy(c => c.Distance)
            .Select(c => c.Name)
            .FirstOrDefault();

    private static int Distance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            previous = current;
        }

        return previous[b.Length];
    }

    private static IEnumerable<Declared> Attributes(IMethodSymbol method, KnownTypes known)
    {
        foreach (var attribute in method.GetAttributes())
        {
            var isConcurrency = SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, known.ConcurrencyLimitAttribute);
            if (!isConcurrency && !SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, known.RateLimitAttribute)) continue;
            var constructor = attribute.ConstructorArguments;
            string? Named(string name) => attribute.NamedArguments.FirstOrDefault(a => a.Key == name).Value.Value as string;
            yield return new Declared
            {
                Attribute = attribute,
                Kind = isConcurrency ? "Concurrency" : "Rate",
                Limit = constructor.Length > 0 && constructor[0].Value is int limit ? limit : 0,
                Period = !isConcurrency && constructor.Length > 1 ? constructor[1].Value as string : null,
                Name = Named("Name"),
                Key = Named("Key"),
                MaxWait = Named("MaxWait"),
            };
        }
    }
}
