using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Tasks.Generators.Model;

namespace Tasks.Generators.Parsing;

/// <summary>
/// Compile-time discovery of task assemblies. Every assembly with tasks gets a public, hidden
/// <c>Tasks.Generated.{AssemblyName}.TaskDispatchTable</c>; a compilation finds the tables of the
/// assemblies it references by that name and registers them from its own module initializer. So a
/// worker that references a task library runs its tasks although its code never names one of them
/// (a library's own module initializer runs only once something touches the library), and there is
/// no scan at run time. The name is a convention rather than an assembly attribute: one type lookup
/// per reference is cheaper than binding every attribute of every framework assembly on each edit.
/// </summary>
internal static class TaskAssemblies
{
    public const string TableTypeName = "TaskDispatchTable";

    /// <summary><c>Tasks.Generated.My_App.Core</c> for assembly <c>My-App.Core</c>: unique per assembly, so two tables never clash in a host.</summary>
    public static string TableNamespace(string assemblyName)
    {
        var segments = assemblyName.Split('.').Select(Identifier);
        return "Tasks.Generated." + string.Join(".", segments);
    }

    /// <summary>The fully qualified tables of every referenced assembly that declares tasks, ordered ordinally.</summary>
    public static EquatableArray<string> FindReferencedTables(Compilation compilation, CancellationToken cancellationToken)
    {
        var tables = new List<string>();
        foreach (var assembly in compilation.SourceModule.ReferencedAssemblySymbols)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var ns = TableNamespace(assembly.Name);
            var table = assembly.GetTypeByMetadataName(ns.Replace("@", "") + "." + TableTypeName);
            if (table is { DeclaredAccessibility: Accessibility.Public }) tables.Add("global::" + ns + "." + TableTypeName);
        }

        return tables.Distinct().OrderBy(t => t, System.StringComparer.Ordinal).ToEquatableArray();
    }

    private static string Identifier(string segment)
    {
        var builder = new StringBuilder(segment.Length + 1);
        foreach (var c in segment)
            builder.Append(SyntaxFacts.IsIdentifierPartCharacter(c) ? c : '_');
        if (builder.Length == 0 || !SyntaxFacts.IsIdentifierStartCharacter(builder[0])) builder.Insert(0, '_');
        var identifier = builder.ToString();
        return SyntaxFacts.GetKeywordKind(identifier) != SyntaxKind.None ? "@" + identifier : identifier;
    }
}
