using Tasks.Generators.Model;

namespace Tasks.Generators.Emitting;

/// <summary>Model → source for the assembly's dispatch table and the module initializer that registers it.</summary>
internal static class DispatchTableEmitter
{
    public const string HintName = "Tasks.TaskDispatchTable.g.cs";

    public static string Emit(EquatableArray<DispatchEntry> entries)
    {
        var writer = new SourceWriter();
        GeneratedCode.Header(writer);
        using (writer.Block("namespace Tasks.Generated"))
        {
            writer.Line("/// <summary>Registers this assembly's tasks with <see cref=\"global::Tasks.TaskRegistry.Default\"/> when the assembly loads.</summary>");
            writer.Line(GeneratedCode.Attribute);
            using (writer.Block("internal static class TaskDispatchTable"))
            {
                writer.Line("/// <summary>Every task of this assembly, ordered by wire name.</summary>");
                writer.Line("internal static global::Tasks.TaskDefinition[] Definitions => new global::Tasks.TaskDefinition[]");
                writer.Line("{");
                foreach (var entry in entries) writer.Line($"    {entry.FullyQualifiedClassName}.Definition,");
                writer.Line("};");
                writer.Line();
                writer.Line("#pragma warning disable CA2255 // a library registers its own tasks: that is what module initializers are for");
                writer.Line("[global::System.Runtime.CompilerServices.ModuleInitializer]");
                writer.Line("internal static void Register() => global::Tasks.TaskRegistry.Default.Register(Definitions);");
                writer.Line("#pragma warning restore CA2255");
            }
        }

        return writer.ToString();
    }
}
