using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Tasks.Generators.Model;
using Tasks.Generators.Parsing;

namespace Tasks.Generators.Diagnostics.WireLock;

/// <summary>A task parameter, or a member of a type, as it travels: on the wire only its place names it.</summary>
/// <param name="Type">The type as C# writes it, without <c>global::</c>.</param>
/// <param name="Name">The parameter or member name.</param>
/// <param name="HasDefault">Whether a message written before it existed still reads: a default value, or a settable member.</param>
internal sealed record WireMember(string Type, string Name, bool HasDefault = false)
{
    public override string ToString() => $"{Type} {Name}";
}

/// <summary>A user type in a task's arguments that travels by a generated formatter, and its members in wire order; or an enum and its named values.</summary>
/// <param name="Name">The type as C# writes it, without <c>global::</c>.</param>
/// <param name="Members">The members, in wire order; for an enum, its named values (<see cref="WireMember.Type"/> holds the value).</param>
/// <param name="Parameter">The first task parameter (0 = after the token) whose value carries it: where a change to it is reported.</param>
/// <param name="IsEnum">True for an enum: it travels as its number, so what matters is the name each number has.</param>
internal sealed record WireType(string Name, IReadOnlyList<WireMember> Members, int Parameter = 0, bool IsEnum = false)
{
    public string MemberList => string.Join(", ", IsEnum ? Members.Select(m => $"{m.Name} = {m.Type}") : Members.Select(m => m.ToString()));
}

/// <summary>
/// What the messages of one task look like on the wire: its queue, its parameters in order and the member
/// layout of each of the user's types they carry. The wire lock keeps one per task; a message written by
/// one shape reads with another only if the other extends it (see <see cref="WireShapeComparison"/>).
/// </summary>
internal sealed record TaskWireShape(string WireName, string Queue, IReadOnlyList<WireMember> Parameters, IReadOnlyList<WireType> Types)
{
    private static readonly SymbolDisplayFormat TypeFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .WithGlobalNamespaceStyle(SymbolDisplayGlobalNamespaceStyle.Omitted)
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    /// <summary>The shape of a valid task method.</summary>
    public static TaskWireShape Read(IMethodSymbol method, AsyncTaskSettings settings, KnownTypes known)
    {
        var parameters = method.Parameters.Skip(1).ToList();
        var types = new Dictionary<string, WireType>(System.StringComparer.Ordinal);
        for (var i = 0; i < parameters.Count; i++)
        {
            var reached = new List<ArgumentTypeModel>();
            TypeSupport.WhyUnsupported(parameters[i].Type, known, reached);
            foreach (var type in reached)
            {
                var name = WithoutGlobal(type.Type);
                var isEnum = type.KnownFormatter?.StartsWith(EnumFormatter, System.StringComparison.Ordinal) == true;
                if (types.ContainsKey(name) || (type.KnownFormatter is not null && !isEnum)) continue;
                var members = type.Members
                    .Select((m, index) => isEnum
                        ? new WireMember(m.DefaultValue!, m.Name)
                        : new WireMember(WithoutGlobal(m.Type), m.Name.TrimStart('@'), index >= type.ConstructorArity || m.DefaultValue is not null))
                    .ToList();
                types.Add(name, new WireType(name, members, i, isEnum));
            }
        }

        return new TaskWireShape(
            settings.WireName(method),
            settings.Queue,
            parameters.Select(p => new WireMember(p.Type.ToDisplayString(TypeFormat), p.Name, p.HasExplicitDefaultValue)).ToList(),
            types.Values.OrderBy(t => t.Name, System.StringComparer.Ordinal).ToList());
    }

    /// <summary>The shape's lock entry, one line per part, each ending with a line break.</summary>
    public string ToEntry()
    {
        var entry = new System.Text.StringBuilder();
        entry.Append('[').Append(WireName).Append("]\n");
        entry.Append(WireLockFile.QueueKeyword).Append(' ').Append(Queue).Append('\n');
        entry.Append(WireLockFile.ParametersKeyword).Append(" (").Append(string.Join(", ", Parameters)).Append(")\n");
        foreach (var type in Types)
            entry.Append(type.IsEnum ? WireLockFile.EnumKeyword : WireLockFile.TypeKeyword).Append(' ').Append(type.Name).Append(" (").Append(type.MemberList).Append(")\n");
        return entry.ToString();
    }

    private const string EnumFormatter = "global::MessagePack.Formatters.GenericEnumFormatter<";

    private static string WithoutGlobal(string type) => type.Replace("global::", "");
}
