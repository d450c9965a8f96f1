using System.Collections.Generic;
using System.Linq;
using System.Text;
using Tasks.Generators.Model;

namespace Tasks.Generators.Emitting;

/// <summary>
/// Model → source for the formatters of the user's argument types (records, classes and structs
/// without <c>[MessagePackObject]</c>), and the module initializer that registers them, and MessagePack's
/// formatters of the collections, arrays and enums in the arguments, with <c>TaskFormatterResolver</c>
/// before any code of the assembly can enqueue or run a task.
/// </summary>
internal static class ArgumentFormatterEmitter
{
    public const string HintName = "Tasks.TaskArgumentFormatters.g.cs";

    public static string Emit(ArgumentFormattersModel model)
    {
        var writer = new SourceWriter();
        GeneratedCode.Header(writer);
        var names = FormatterNames(model.Types);
        using (writer.Block($"namespace {model.Namespace}"))
        {
            writer.Line("/// <summary>The formatters of this assembly's argument types: each an array of its members, in the order docs/wire-format.md gives.</summary>");
            writer.Line(GeneratedCode.Attribute);
            using (writer.Block("internal static class TaskArgumentFormatters"))
            {
                writer.Line("#pragma warning disable CA2255 // the formatters must be registered before any code of this assembly can enqueue or run a task");
                writer.Line("[global::System.Runtime.CompilerServices.ModuleInitializer]");
                using (writer.Block("internal static void Register()"))
                {
                    foreach (var type in model.Types)
                    {
                        // MessagePack's formatters of reference types are annotated IMessagePackFormatter<T?>.
                        var registered = type.KnownFormatter is not null && !type.IsValueType ? type.Type + "?" : type.Type;
                        writer.Line($"global::Tasks.TaskFormatterResolver.Register<{registered}>(new {type.KnownFormatter ?? names[type.Type]}());");
                        // Member names, so a record shows the arguments as objects rather than arrays.
                        if (type.KnownFormatter is null)
                            writer.Line($"global::Tasks.TaskJsonShapes.Register(typeof({type.Type}), new string[] {{ {string.Join(", ", type.Members.Select(m => GeneratedCode.Literal(m.Name.TrimStart('@'))))} }}, new global::System.Type[] {{ {string.Join(", ", type.Members.Select(m => $"typeof({m.RuntimeType})"))} }});");
                    }
                }

                writer.Line("#pragma warning restore CA2255");

                foreach (var type in model.Types.Where(t => t.KnownFormatter is null))
                {
                    writer.Line();
                    EmitFormatter(writer, type, names[type.Type]);
                }
            }
        }

        return writer.ToString();
    }

    private static void EmitFormatter(SourceWriter writer, ArgumentTypeModel type, string name)
    {
        var members = type.Members;
        writer.Line($"/// <summary>Writes <see cref=\"{type.Type}\"/> as an array of its {members.Count} member(s); reads older (fewer members) and newer (more) versions of it.</summary>");
        using (writer.Block($"internal sealed class {name} : global::MessagePack.Formatters.IMessagePackFormatter<{type.Type}>"))
        {
            using (writer.Block($"public void Serialize(ref global::MessagePack.MessagePackWriter writer, {type.Type} value, global::MessagePack.MessagePackSerializerOptions options)"))
            {
                if (!type.IsValueType)
                {
                    using (writer.Block("if (value is null)"))
                    {
                        writer.Line("writer.WriteNil();");
                        writer.Line("return;");
                    }
                }

                if (members.Count > 0) writer.Line("var resolver = options.Resolver;");
                writer.Line($"writer.WriteArrayHeader({members.Count});");
                foreach (var member in members)
                    writer.Line($"{FormatterFor(member)}.Serialize(ref writer, value.{member.Name}, options);");
            }

            writer.Line();
            using (writer.Block($"public {type.Type} Deserialize(ref global::MessagePack.MessagePackReader reader, global::MessagePack.MessagePackSerializerOptions options)"))
            {
                if (!type.IsValueType) writer.Line("if (reader.TryReadNil()) return null!;");
                writer.Line("options.Security.DepthStep(ref reader);");
                if (members.Count > 0) writer.Line("var resolver = options.Resolver;");

                // A member missing from an older message (appended since) takes its default value.
                for (var i = 0; i < members.Count; i++) writer.Line($"{members[i].Type} m{i} = {members[i].DefaultValue ?? "default!"};");
                writer.Line("var count = reader.ReadArrayHeader();");
                using (writer.Block("for (var i = 0; i < count; i++)"))
                {
                    using (writer.Block("switch (i)"))
                    {
                        for (var i = 0; i < members.Count; i++)
                        {
                            writer.Line($"case {i}:");
                            writer.Line($"    m{i} = {FormatterFor(members[i])}.Deserialize(ref reader, options);");
                            writer.Line("    break;");
                        }

                        writer.Line("default:");
                        writer.Line("    global::Tasks.TaskEnvelope.SkipBounded(ref reader, options); // a member a newer version of the type appended");
                        writer.Line("    break;");
                    }
                }

                writer.Line("reader.Depth--;");
                var arguments = string.Join(", ", Enumerable.Range(0, type.ConstructorArity).Select(i => "m" + i));
                var initializers = Enumerable.Range(type.ConstructorArity, members.Count - type.ConstructorArity).Select(i => $"{members[i].Name} = m{i}").ToList();
                writer.Line(initializers.Count == 0
                    ? $"return new {type.Type}({arguments});"
                    : $"return new {type.Type}({arguments}) {{ {string.Join(", ", initializers)} }};");
            }
        }
    }

    private static string FormatterFor(MemberModel member)
        => $"global::MessagePack.FormatterResolverExtensions.GetFormatterWithVerify<{member.Type}>(resolver)";

    /// <summary><c>global::Shop.Order</c> → <c>Shop_OrderFormatter</c>; a clash (<c>A.B_C</c>, <c>A_B.C</c>) gets a number.</summary>
    private static Dictionary<string, string> FormatterNames(EquatableArray<ArgumentTypeModel> types)
    {
        var names = new Dictionary<string, string>();
        var taken = new HashSet<string>();
        foreach (var type in types.Where(t => t.KnownFormatter is null))
        {
            var builder = new StringBuilder();
            foreach (var c in type.Type.Substring("global::".Length)) builder.Append(char.IsLetterOrDigit(c) ? c : '_');
            var name = builder.Append("Formatter").ToString();
            for (var i = 2; !taken.Add(name); i++) name = builder + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            names[type.Type] = name;
        }

        return names;
    }
}
