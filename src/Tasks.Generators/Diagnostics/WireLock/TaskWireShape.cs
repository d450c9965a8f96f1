using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Tasks.Generators.Model;
using Tasks.Generators.Parsing;

namespace Tasks.Generators.Diagnostics.WireLock;

/// <summary>A task parameter, or a member of a type, as it travels: on the wire only its place names it.</summary>
/// <param name="Type">The type as C# writes it, without <c>global::</c>.</param>
/// <param name="Name">The parameter or member name.</param>
/// <param name="HasDefault">
/// In code: whether a message written before it existed still reads (a default value, or a settable member).
/// In the lock: whether it is marked <c>optional</c>, appended after messages were written without it, so it must keep its default.
/// </param>
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
    /// <summary>The members as the lock writes them, <c>optional</c> as <see cref="TaskWireShape.ToEntry"/> says.</summary>
    public string MemberList(IReadOnlyList<WireMember>? locked)
        => IsEnum ? string.Join(", ", Members.Select(m => $"{m.Name} = {m.Type}")) : TaskWireShape.List(Members, locked);
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
            var seen = new HashSet<ITypeSymbol>(SymbolEqualityComparer.Default);
            var reached = new List<ArgumentTypeModel>();
            TypeSupport.WhyUnsupported(parameters[i].Type, known, seen, reached);
            foreach (var type in reached.Where(t => t.KnownFormatter is null))
            {
                var name = WithoutGlobal(type.Type);
                if (types.ContainsKey(name)) continue;
                var members = type.Members
                    .Select((m, index) => new WireMember(WithoutGlobal(m.Type), m.Name.TrimStart('@'), index >= type.ConstructorArity || m.DefaultValue is not null))
                    .ToList();
                types.Add(name, new WireType(name, members, i));
            }

            // An enum travels as its number: what the lock keeps is the name of each number.
            foreach (var type in seen.OfType<INamedTypeSymbol>().Where(t => t.TypeKind == TypeKind.Enum))
            {
                var name = type.ToDisplayString(TypeFormat);
                if (types.ContainsKey(name)) continue;
                var values = type.GetMembers().OfType<IFieldSymbol>().Where(f => f.HasConstantValue)
                    .Select(f => new WireMember(System.Convert.ToString(f.ConstantValue, System.Globalization.CultureInfo.InvariantCulture), f.Name))
                    .ToList();
                types.Add(name, new WireType(name, values, i, IsEnum: true));
            }
        }

        return new TaskWireShape(
            settings.WireName(method),
            settings.Queue,
            parameters.Select(p => new WireMember(p.Type.ToDisplayString(TypeFormat), p.Name, p.HasExplicitDefaultValue)).ToList(),
            types.Values.OrderBy(t => t.Name, System.StringComparer.Ordinal).ToList());
    }

    /// <summary>
    /// The shape's lock entry, one line per part, each ending with a line break. A parameter or member that
    /// <paramref name="locked"/> marks <c>optional</c>, or that this shape appends to it, is marked
    /// <c>optional</c>: messages without it may be queued, so it must keep a default value. A new task has none.
    /// </summary>
    public string ToEntry(TaskWireShape? locked)
    {
        var entry = new System.Text.StringBuilder();
        entry.Append('[').Append(WireName).Append("]\n");
        entry.Append(WireLockFile.QueueKeyword).Append(' ').Append(Queue).Append('\n');
        entry.Append(WireLockFile.ParametersKeyword).Append(" (").Append(List(Parameters, locked?.Parameters)).Append(")\n");
        foreach (var type in Types)
        {
            var lockedMembers = locked?.Types.FirstOrDefault(t => t.Name == type.Name)?.Members;
            entry.Append(type.IsEnum ? WireLockFile.EnumKeyword : WireLockFile.TypeKeyword).Append(' ').Append(type.Name)
                .Append(" (").Append(type.MemberList(lockedMembers)).Append(")\n");
        }

        return entry.ToString();
    }

    internal static string List(IReadOnlyList<WireMember> members, IReadOnlyList<WireMember>? locked)
        => string.Join(", ", members.Select((m, i) =>
            locked is not null && (i < locked.Count ? locked[i].HasDefault : m.HasDefault) ? WireLockFile.OptionalKeyword + " " + m : m.ToString()));

    private static string WithoutGlobal(string type) => type.Replace("global::", "");
}
