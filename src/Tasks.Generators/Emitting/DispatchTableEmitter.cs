using Tasks.Generators.Model;
using Tasks.Generators.Parsing;

namespace Tasks.Generators.Emitting;

/// <summary>
/// Model → source for the assembly's dispatch table and the module initializer that registers it
/// together with the tables of every task assembly this one references (see <see cref="TaskAssemblies"/>).
/// </summary>
internal static class DispatchTableEmitter
{
    public const string HintName = "Tasks.TaskDispatchTable.g.cs";

    public static string Emit(TaskRegistrationModel model)
    {
        var writer = new SourceWriter();
        GeneratedCode.Header(writer);
        using (writer.Block($"namespace {model.Namespace}"))
        {
            if (model.Entries.Count > 0)
            {
                writer.Line("/// <summary>The tasks of this assembly. Called by generated code only: the module initializers of this assembly and of the hosts that reference it.</summary>");
                writer.Line(GeneratedCode.Attribute);
                writer.Line("[global::System.ComponentModel.EditorBrowsable(global::System.ComponentModel.EditorBrowsableState.Never)]");
                using (writer.Block($"public static class {TaskAssemblies.TableTypeName}"))
                {
                    writer.Line("/// <summary>Every task of this assembly, ordered by wire name.</summary>");
                    writer.Line("internal static global::Tasks.TaskDefinition[] Definitions => new global::Tasks.TaskDefinition[]");
                    writer.Line("{");
                    foreach (var entry in model.Entries) writer.Line($"    {entry.FullyQualifiedClassName}.Definition,");
                    writer.Line("};");
                    writer.Line();
                    writer.Line("/// <summary>Adds this assembly's tasks to <see cref=\"global::Tasks.TaskRegistry.Default\"/>; calling it again changes nothing.</summary>");
                    writer.Line("public static void Register() => global::Tasks.TaskRegistry.Default.Register(Definitions);");
                }

                writer.Line();
            }

            writer.Line("/// <summary>Registers the tasks of this assembly and of the task assemblies it references when this assembly loads.</summary>");
            writer.Line(GeneratedCode.Attribute);
            using (writer.Block("internal static class TaskModuleInitializer"))
            {
                writer.Line("#pragma warning disable CA2255 // registering tasks before any code can enqueue or run them is what module initializers are for");
                writer.Line("[global::System.Runtime.CompilerServices.ModuleInitializer]");
                using (writer.Block("internal static void Initialize()"))
                {
                    if (model.Entries.Count > 0) writer.Line($"{TaskAssemblies.TableTypeName}.Register();");
                    foreach (var table in model.ReferencedTables) writer.Line($"{table}.Register();");
                }

                writer.Line("#pragma warning restore CA2255");
            }
        }

        return writer.ToString();
    }
}
