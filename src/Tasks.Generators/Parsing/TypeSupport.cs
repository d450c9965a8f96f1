using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Tasks.Generators.Model;

namespace Tasks.Generators.Parsing;

/// <summary>
/// Decides at compile time whether a type can travel, so an argument that would fail on the worker fails
/// in the IDE instead (TASK007): MessagePack's standard resolver carries the platform's types and
/// <c>[MessagePackObject]</c> types; the generator writes a formatter for the user's other records,
/// classes and structs (<see cref="ArgumentTypeShape"/>).
/// </summary>
internal static class TypeSupport
{
    // Generic types whose standard formatters need only their type arguments to be supported.
    private static readonly HashSet<string> SupportedGenericDefinitions = new()
    {
        "System.Nullable`1",
        "System.Collections.Generic.List`1", "System.Collections.Generic.IList`1", "System.Collections.Generic.ICollection`1",
        "System.Collections.Generic.IEnumerable`1", "System.Collections.Generic.IReadOnlyList`1", "System.Collections.Generic.IReadOnlyCollection`1",
        "System.Collections.Generic.HashSet`1", "System.Collections.Generic.ISet`1", "System.Collections.Generic.SortedSet`1",
        "System.Collections.Generic.Queue`1", "System.Collections.Generic.Stack`1", "System.Collections.Generic.LinkedList`1",
        "System.Collections.Generic.Dictionary`2", "System.Collections.Generic.IDictionary`2", "System.Collections.Generic.IReadOnlyDictionary`2",
        "System.Collections.Generic.SortedDictionary`2", "System.Collections.Generic.SortedList`2", "System.Collections.Generic.KeyValuePair`2",
        "System.Collections.ObjectModel.Collection`1", "System.Collections.ObjectModel.ReadOnlyCollection`1",
        "System.Collections.ObjectModel.ObservableCollection`1", "System.Collections.ObjectModel.ReadOnlyDictionary`2",
        "System.Collections.Concurrent.ConcurrentDictionary`2", "System.Collections.Concurrent.ConcurrentQueue`1",
        "System.Collections.Concurrent.ConcurrentBag`1", "System.Collections.Concurrent.ConcurrentStack`1",
        "System.Linq.ILookup`2", "System.Linq.IGrouping`2",
        "System.ArraySegment`1", "System.Memory`1", "System.ReadOnlyMemory`1", "System.Lazy`1",
        "System.Tuple`1", "System.Tuple`2", "System.Tuple`3", "System.Tuple`4", "System.Tuple`5", "System.Tuple`6", "System.Tuple`7", "System.Tuple`8",
        "System.ValueTuple`1", "System.ValueTuple`2", "System.ValueTuple`3", "System.ValueTuple`4", "System.ValueTuple`5", "System.ValueTuple`6", "System.ValueTuple`7", "System.ValueTuple`8",
    };

    // MessagePack's own formatter class for a generic type, registered by name so that the standard resolver never
    // builds one by reflection (MakeGenericType fails in a native AOT worker). Other supported generics still travel, by the standard resolver.
    private static readonly Dictionary<string, string> KnownGenericFormatters = new()
    {
        ["System.Nullable`1"] = "NullableFormatter",
        ["System.Collections.Generic.List`1"] = "ListFormatter",
        ["System.Collections.Generic.IList`1"] = "InterfaceListFormatter2",
        ["System.Collections.Generic.IReadOnlyList`1"] = "InterfaceReadOnlyListFormatter",
        ["System.Collections.Generic.ICollection`1"] = "InterfaceCollectionFormatter2",
        ["System.Collections.Generic.IReadOnlyCollection`1"] = "InterfaceReadOnlyCollectionFormatter",
        ["System.Collections.Generic.IEnumerable`1"] = "InterfaceEnumerableFormatter",
        ["System.Collections.Generic.HashSet`1"] = "HashSetFormatter",
        ["System.Collections.Generic.Dictionary`2"] = "DictionaryFormatter",
        ["System.Collections.Generic.IDictionary`2"] = "InterfaceDictionaryFormatter",
        ["System.Collections.Generic.IReadOnlyDictionary`2"] = "InterfaceReadOnlyDictionaryFormatter",
        ["System.Collections.Generic.KeyValuePair`2"] = "KeyValuePairFormatter",
    };

    private static readonly SymbolDisplayFormat TypeFormat = SymbolDisplayFormat.FullyQualifiedFormat;

    private static readonly HashSet<string> SupportedTypes = new()
    {
        "System.Guid", "System.DateTimeOffset", "System.TimeSpan", "System.Uri", "System.Version", "System.DateOnly", "System.TimeOnly",
        "System.Numerics.BigInteger", "System.Numerics.Complex", "System.Text.StringBuilder", "System.Collections.BitArray", "System.Half",
    };

    /// <summary>
    /// Null if the type can be carried, else why not (completes "cannot travel in a task message: ...").
    /// The types inside it that travel by a formatter the generator writes go to <paramref name="generated"/>.
    /// </summary>
    public static string? WhyUnsupported(ITypeSymbol type, KnownTypes known, List<ArgumentTypeModel>? generated = null)
        => WhyUnsupported(type, known, new HashSet<ITypeSymbol>(SymbolEqualityComparer.Default), generated);

    /// <summary>As above; <paramref name="seen"/> ends up holding every type the check met inside <paramref name="type"/> (the wire lock reads the enums among them).</summary>
    public static string? WhyUnsupported(ITypeSymbol type, KnownTypes known, HashSet<ITypeSymbol> seen, List<ArgumentTypeModel>? generated)
    {
        // A type met again is being checked further up: a recursive type (a tree) travels.
        if (!seen.Add(type)) return null;
        switch (type)
        {
            case IDynamicTypeSymbol:
                return "'dynamic' has no fixed shape; use a concrete type";
            case IPointerTypeSymbol or IFunctionPointerTypeSymbol:
                return "a pointer is an address in this process; pass the data itself";
            case ITypeParameterSymbol:
                return "a type parameter has no fixed shape; use a concrete type";
            case IArrayTypeSymbol array:
                if (array.IsSZArray && array.ElementType.SpecialType != SpecialType.System_Byte)
                    AddKnown(generated, array, $"global::MessagePack.Formatters.ArrayFormatter<{array.ElementType.ToDisplayString(TypeFormat)}>");
                return WhyUnsupported(array.ElementType, known, seen, generated);
            case INamedTypeSymbol named:
                return WhyUnsupported(named, known, seen, generated);
            default:
                return "this kind of type has no MessagePack formatter";
        }
    }

    private static string? WhyUnsupported(INamedTypeSymbol type, KnownTypes known, HashSet<ITypeSymbol> seen, List<ArgumentTypeModel>? generated)
    {
        if (type.SpecialType == SpecialType.System_Object)
            return "'object' would need type names on the wire; use a concrete type, or an interface with [Union]";
        if (type.TypeKind == TypeKind.Delegate)
            return "a delegate is code, not data; pass the data it needs and call the code inside the task";
        if (type.IsRefLikeType)
            return "a ref struct (such as Span<T>) cannot be stored; use an array or ReadOnlyMemory<T>";
        if (SymbolEqualityComparer.Default.Equals(type, known.CancellationToken))
            return "only the first parameter receives the worker's CancellationToken; remove this one";
        if (InheritsFrom(type, known.Stream))
            return "a Stream is a live resource; pass a byte[], or store the data and pass its key";
        if (InheritsFrom(type, known.Task) || type.ToDisplayString() is "System.Threading.Tasks.ValueTask" || type.OriginalDefinition.ToDisplayString() == "System.Threading.Tasks.ValueTask<TResult>")
            return "a Task is a running operation, not data; pass its result";
        if (type.SpecialType is >= SpecialType.System_Boolean and <= SpecialType.System_String or SpecialType.System_DateTime)
            return null;
        if (type.TypeKind == TypeKind.Enum)
        {
            AddKnown(generated, type, $"global::MessagePack.Formatters.GenericEnumFormatter<{type.ToDisplayString(TypeFormat)}>");
            return null;
        }

        if (HasAttribute(type, known.MessagePackFormatterAttribute))
            return null;

        var metadataName = MetadataName(type.OriginalDefinition);
        if (type.IsGenericType && SupportedGenericDefinitions.Contains(metadataName))
        {
            if (KnownGenericFormatters.TryGetValue(metadataName, out var formatter))
                AddKnown(generated, type, $"global::MessagePack.Formatters.{formatter}<{string.Join(", ", type.TypeArguments.Select(a => a.ToDisplayString(TypeFormat)))}>");
            foreach (var argument in type.TypeArguments)
            {
                if (WhyUnsupported(argument, known, seen, generated) is { } reason) return reason;
            }

            return null;
        }

        if (SupportedTypes.Contains(metadataName))
            return null;
        if (type.TypeKind == TypeKind.Interface || type.IsAbstract)
        {
            return HasAttribute(type, known.UnionAttribute)
                ? null
                : $"'{type.Name}' is {(type.TypeKind == TypeKind.Interface ? "an interface" : "abstract")} without [Union] attributes, so the reader cannot know which type to create; " +
                  "pass a concrete type, or add [Union(0, typeof(...))] for each implementation";
        }

        if (HasAttribute(type, known.MessagePackObjectAttribute))
            return null;
        if (metadataName.StartsWith("System.", StringComparison.Ordinal) || metadataName.StartsWith("Microsoft.", StringComparison.Ordinal))
            return $"'{type.Name}' is a platform type Tasks does not know how to carry; pass the data it holds (in a record of your own)";
        return ArgumentTypeShape.Read(type, generated, (member, memberType) => WhyUnsupported(memberType, known, seen, generated) is { } reason
            ? $"its member '{member}' has type '{memberType.ToDisplayString()}', which cannot travel: {reason}"
            : null);
    }

    private static void AddKnown(List<ArgumentTypeModel>? generated, ITypeSymbol type, string formatter)
        => generated?.Add(new ArgumentTypeModel(type.ToDisplayString(TypeFormat), type.IsValueType, EquatableArray<MemberModel>.Empty, 0, formatter));

    private static bool InheritsFrom(INamedTypeSymbol type, INamedTypeSymbol? baseType)
    {
        if (baseType is null) return false;
        for (var current = type; current is not null; current = current.BaseType)
        {
            if (SymbolEqualityComparer.Default.Equals(current, baseType)) return true;
        }

        return false;
    }

    private static bool HasAttribute(INamedTypeSymbol type, INamedTypeSymbol? attributeType)
    {
        if (attributeType is null) return false;
        foreach (var attribute in type.GetAttributes())
        {
            if (SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, attributeType)) return true;
        }

        return false;
    }

    private static string MetadataName(INamedTypeSymbol type)
    {
        var ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() + "." : "";
        return ns + type.MetadataName;
    }
}
