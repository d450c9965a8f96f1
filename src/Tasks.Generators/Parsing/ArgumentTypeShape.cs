using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Tasks.Generators.Model;

namespace Tasks.Generators.Parsing;

/// <summary>
/// Reads what of a user's record, class or struct travels, and how the reader rebuilds it: the public
/// constructor with the most parameters that each name a public member (by name, any case, and type),
/// then the members it does not set, which must be settable (<c>set</c> or <c>init</c>).
/// </summary>
internal static class ArgumentTypeShape
{
    private static readonly SymbolDisplayFormat TypeFormat = SymbolDisplayFormat.FullyQualifiedFormat;

    private static readonly SymbolDisplayFormat MemberTypeFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    /// <summary>
    /// Null if <paramref name="type"/> can travel by a generated formatter (then added to <paramref name="generated"/>),
    /// else why not. <paramref name="whyMemberUnsupported"/> checks a member's type: null if it travels, else why not.
    /// </summary>
    public static string? Read(INamedTypeSymbol type, List<ArgumentTypeModel>? generated, Func<string, ITypeSymbol, string?> whyMemberUnsupported)
    {
        var members = PublicMembers(type);
        var constructor = BindingConstructor(type, members);
        if (constructor is null)
        {
            return $"'{type.Name}' has no public constructor whose parameters each match a public member by name and type; " +
                   "add one, or a public parameterless constructor with settable members";
        }

        var bound = constructor.Parameters.Select(p => members.First(m => Binds(p, m))).ToList();
        var wire = new List<MemberModel>();
        for (var i = 0; i < bound.Count; i++)
        {
            var parameter = constructor.Parameters[i];
            wire.Add(new MemberModel(TaskParser.Identifier(bound[i].Name), MemberType(bound[i]).ToDisplayString(MemberTypeFormat), parameter.HasExplicitDefaultValue ? TaskParser.DefaultValueLiteral(parameter) : null, MemberType(bound[i]).ToDisplayString(TypeFormat)));
        }

        foreach (var member in members.Where(m => !bound.Contains(m, SymbolEqualityComparer.Default)))
        {
            if (IsSettable(member))
                wire.Add(new MemberModel(TaskParser.Identifier(member.Name), MemberType(member).ToDisplayString(MemberTypeFormat), null, MemberType(member).ToDisplayString(TypeFormat)));
            else if (IsStored(member))
                return $"the {(member is IFieldSymbol ? "readonly field" : "property")} '{type.Name}.{member.Name}' has no setter and no constructor parameter, so it would not travel; " +
                       $"{(member is IFieldSymbol ? "drop readonly" : "make it { get; init; }")}, or add a constructor parameter named '{char.ToLowerInvariant(member.Name[0])}{member.Name.Substring(1)}'";
        }

        // Recorded before its members are checked, so a member of the type's own type finds it.
        var model = new ArgumentTypeModel(type.ToDisplayString(TypeFormat), type.IsValueType, wire.ToEquatableArray(), bound.Count);
        generated?.Add(model);
        foreach (var member in bound.Concat(members.Where(IsSettable).Except(bound, SymbolEqualityComparer.Default)))
        {
            if (whyMemberUnsupported(member.Name, MemberType(member)) is { } reason) return reason;
        }

        return null;
    }

    /// <summary>Public instance properties and fields, base type first; an override or a new member keeps the place of the one it hides.</summary>
    private static List<ISymbol> PublicMembers(INamedTypeSymbol type)
    {
        var chain = new List<INamedTypeSymbol>();
        for (var current = type; current is not null && current.SpecialType is not (SpecialType.System_Object or SpecialType.System_ValueType); current = current.BaseType)
            chain.Insert(0, current);

        var members = new List<ISymbol>();
        foreach (var declaring in chain)
        {
            foreach (var member in declaring.GetMembers())
            {
                if (member.IsStatic || member.DeclaredAccessibility != Accessibility.Public || IsIgnored(member)) continue;
                var travels = member switch
                {
                    IPropertySymbol property => !property.IsIndexer && property.GetMethod is { DeclaredAccessibility: Accessibility.Public },
                    IFieldSymbol field => !field.IsConst && !field.IsImplicitlyDeclared,
                    _ => false,
                };
                if (!travels) continue;
                var hidden = members.FindIndex(m => m.Name == member.Name);
                if (hidden >= 0) members[hidden] = member;
                else members.Add(member);
            }
        }

        return members;
    }

    private static IMethodSymbol? BindingConstructor(INamedTypeSymbol type, List<ISymbol> members)
    {
        IMethodSymbol? best = null;
        foreach (var constructor in type.InstanceConstructors)
        {
            if (constructor.DeclaredAccessibility != Accessibility.Public) continue;
            var parameters = constructor.Parameters;
            if (parameters.Any(p => p.RefKind != RefKind.None || p.IsParams || members.Count(m => Binds(p, m)) != 1)) continue;
            if (parameters.Select(p => members.First(m => Binds(p, m)).Name).Distinct().Count() != parameters.Length) continue;
            if (best is null || parameters.Length > best.Parameters.Length) best = constructor;
        }

        return best;
    }

    private static bool Binds(IParameterSymbol parameter, ISymbol member)
        => string.Equals(parameter.Name, member.Name, StringComparison.OrdinalIgnoreCase)
           && SymbolEqualityComparer.Default.Equals(parameter.Type, MemberType(member));

    private static ITypeSymbol MemberType(ISymbol member) => member is IPropertySymbol property ? property.Type : ((IFieldSymbol)member).Type;

    private static bool IsSettable(ISymbol member) => member switch
    {
        IPropertySymbol property => property.SetMethod is { DeclaredAccessibility: Accessibility.Public },
        IFieldSymbol field => !field.IsReadOnly,
        _ => false,
    };

    /// <summary>A read-only field, or a get-only auto-property: state of the object, not computed from it.</summary>
    private static bool IsStored(ISymbol member) => member switch
    {
        IFieldSymbol => true,
        IPropertySymbol property => property.ContainingType.GetMembers().OfType<IFieldSymbol>().Any(f => SymbolEqualityComparer.Default.Equals(f.AssociatedSymbol, property)),
        _ => false,
    };

    private static bool IsIgnored(ISymbol member)
        => member.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() is "MessagePack.IgnoreMemberAttribute" or "System.Runtime.Serialization.IgnoreDataMemberAttribute");
}
