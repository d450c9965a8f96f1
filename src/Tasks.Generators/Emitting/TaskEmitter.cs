using System.Collections.Generic;
using System.Linq;
using Tasks.Generators.Model;

namespace Tasks.Generators.Emitting;

/// <summary>
/// Model → source for one task: the nested <c>{Method}Async</c> class with the Enqueue stubs, the
/// task definition, the argument envelope and its MessagePack formatter. A pure function.
/// </summary>
internal static class TaskEmitter
{
    // Members an Arguments property must not hide or collide with.
    private static readonly HashSet<string> ReservedMemberNames = new()
    {
        "Arguments", "Equals", "GetHashCode", "ToString", "GetType", "MemberwiseClone", "Finalize", "ReferenceEquals",
    };

    public static string Emit(TaskModel task)
    {
        var writer = new SourceWriter();
        GeneratedCode.Header(writer);
        var hasNamespace = task.Containing.Namespace.Length > 0;
        if (hasNamespace) writer.Open($"namespace {task.Containing.Namespace}");
        foreach (var type in task.Containing.Types)
            writer.Open($"{(type.IsStatic ? "static " : "")}partial {type.Keyword} {type.Name}");

        EmitTaskClass(writer, task);

        foreach (var _ in task.Containing.Types) writer.Close();
        if (hasNamespace) writer.Close();
        return writer.ToString();
    }

    private static void EmitTaskClass(SourceWriter writer, TaskModel task)
    {
        var parameters = task.Parameters;
        var taken = new HashSet<string>(parameters.Select(p => p.Name.TrimStart('@')));
        var client = Unique("client", taken);
        var batch = Unique("batch", taken);
        var options = Unique("options", taken);
        var token = Unique("cancellationToken", taken);
        var argumentList = string.Join(", ", parameters.Select(p => p.Name));
        var declaredParameters = string.Concat(parameters.Select(p => $"{p.Type} {p.Name}{(p.DefaultValue is null ? "" : " = " + p.DefaultValue)}, "));
        var trailing = $"global::Tasks.TaskEnqueueOptions? {options} = null, global::System.Threading.CancellationToken {token} = default";
        var newArguments = $"new Arguments({argumentList})";
        var accessibility = task.IsPublic ? "public" : "internal";

        Summary(writer, task.DocSummary, $"Enqueues the <c>{Escape(task.MethodName.TrimStart('@'))}</c> task ('{Escape(task.WireName)}').");
        writer.Line(GeneratedCode.Attribute);
        using (writer.Block($"{accessibility} static class {task.ClassName}"))
        {
            writer.Line("/// <summary>The task's wire name, queue, attempt limit and dispatch.</summary>");
            writer.Line("public static global::Tasks.TaskDefinition<Arguments> Definition { get; } = new global::Tasks.TaskDefinition<Arguments>(");
            writer.Line($"    name: {Literal(task.WireName)},");
            writer.Line($"    queue: {Literal(task.Queue)},");
            writer.Line($"    maxAttempts: {task.MaxAttempts},");
            writer.Line($"    declaringType: typeof({task.Containing.FullyQualifiedName}),");
            writer.Line($"    methodName: {Literal(task.MethodName.TrimStart('@'))},");
            writer.Line($"    requiresServices: {(task.IsStatic ? "false" : "true")},");
            writer.Line("    formatter: new Formatter(),");
            var invoke = $"    invoke: static (services, arguments, cancellationToken) => {Target(task)}.{task.MethodName}(cancellationToken{string.Concat(parameters.Select(p => ", arguments." + PropertyName(p)))}))";
            if (task.Policy.IsDefault && task.Schedule is null && parameters.Count == 0 && task.RunFilters.Count == 0 && task.Limits.Count == 0)
            {
                writer.Line(invoke + ";");
            }
            else
            {
                writer.Line(invoke);
                writer.Line("{");
                if (task.Policy.TimeoutTicks is { } timeout) writer.Line($"    Timeout = global::System.TimeSpan.FromTicks({timeout}), // {new System.TimeSpan(timeout).ToString("c", System.Globalization.CultureInfo.InvariantCulture)}");
                if (task.Policy.RetryDelayTicks is { } delay) writer.Line($"    RetryDelay = global::System.TimeSpan.FromTicks({delay}), // {new System.TimeSpan(delay).ToString("c", System.Globalization.CultureInfo.InvariantCulture)}");
                if (task.Policy.MaxConcurrency > 0) writer.Line($"    MaxConcurrency = {task.Policy.MaxConcurrency},");
                if (task.Policy.UniqueForTicks is { } unique) writer.Line($"    UniqueFor = global::System.TimeSpan.FromTicks({unique}), // {new System.TimeSpan(unique).ToString("c", System.Globalization.CultureInfo.InvariantCulture)}");
                if (task.Policy.PersonalData) writer.Line("    HasPersonalData = true,");
                if (parameters.Count > 0)
                {
                    writer.Line($"    ParameterNames = new string[] {{ {string.Join(", ", parameters.Select(p => Literal(p.Name.TrimStart('@'))))} }},");
                    writer.Line($"    ParameterTypes = new global::System.Type[] {{ {string.Join(", ", parameters.Select(p => $"typeof({p.RuntimeType})"))} }},");
                }
                if (task.Schedule is { } schedule) writer.Line($"    Schedule = new global::Tasks.TaskSchedule({Literal(schedule.Cron)}, {Literal(schedule.TimeZone)}),");
                if (task.RunFilters.Count > 0)
                {
                    // Made per run from the run's scope; a generic factory per type, so Native AOT keeps its constructor.
                    writer.Line("    RunFilters = new global::System.Func<global::System.IServiceProvider, global::Tasks.ITaskRunFilter>[]");
                    writer.Line("    {");
                    foreach (var filter in task.RunFilters) writer.Line($"        static services => global::Microsoft.Extensions.DependencyInjection.ActivatorUtilities.GetServiceOrCreateInstance<{filter}>(services),");
                    writer.Line("    },");
                }
                if (task.Limits.Count > 0)
                {
                    writer.Line("    Limits = new global::Tasks.TaskLimit[]");
                    writer.Line("    {");
                    foreach (var limit in task.Limits) writer.Line($"        {NewLimit(limit, parameters)},");
                    writer.Line("    },");
                }
                writer.Line("};");
            }
            writer.Line();

            Summary(writer, task.DocSummary, "Enqueues the task on the client configured at startup (<see cref=\"global::Tasks.TaskClient.Ambient\"/>).");
            writer.Line("/// <returns>The message id.</returns>");
            writer.Line($"public static global::System.Threading.Tasks.ValueTask<string> Enqueue({declaredParameters}{trailing})");
            writer.Line($"    => global::Tasks.TaskClient.Ambient.EnqueueAsync(Definition, {newArguments}, {options}, {token});");
            writer.Line();

            Summary(writer, task.DocSummary, "Enqueues the task on <paramref name=\"" + client + "\"/>.");
            writer.Line("/// <returns>The message id.</returns>");
            writer.Line($"public static global::System.Threading.Tasks.ValueTask<string> Enqueue(global::Tasks.ITaskClient {client}, {declaredParameters}{trailing})");
            writer.Line($"    => {client}.EnqueueAsync(Definition, {newArguments}, {options}, {token});");
            writer.Line();

            Summary(writer, task.DocSummary, "Prepares the task with its arguments, without enqueueing it: a step of <see cref=\"global::Tasks.TaskClientFlows.EnqueueChainAsync\"/>, or a batch's <see cref=\"global::Tasks.TaskBatch.OnCompleted\"/>.");
            writer.Line($"public static global::Tasks.PreparedTask Prepare({declaredParameters.TrimEnd(' ', ',')})");
            writer.Line($"    => global::Tasks.PreparedTask.Of(Definition, {newArguments});");
            writer.Line();

            Summary(writer, task.DocSummary, "Adds the task to <paramref name=\"" + batch + "\"/>; <see cref=\"global::Tasks.ITaskClient.EnqueueBatchAsync\"/> sends the batch, packing many tasks into each message.");
            writer.Line($"public static void AddTo(global::Tasks.TaskBatch {batch}{string.Concat(parameters.Select(p => $", {p.Type} {p.Name}{(p.DefaultValue is null ? "" : " = " + p.DefaultValue)}"))})");
            writer.Line($"    => {batch}.Add(Definition, {newArguments});");
            writer.Line();

            EmitArguments(writer, parameters);
            writer.Line();
            EmitFormatter(writer, parameters);
        }
    }

    private static void EmitArguments(SourceWriter writer, EquatableArray<ParameterModel> parameters)
    {
        writer.Line("/// <summary>The arguments of one call, in parameter order: what travels in the message.</summary>");
        using (writer.Block("public sealed class Arguments"))
        {
            writer.Line("/// <summary>Creates the arguments of one call.</summary>");
            using (writer.Block($"public Arguments({string.Join(", ", parameters.Select(p => $"{p.Type} {p.Name}"))})"))
            {
                foreach (var parameter in parameters) writer.Line($"this.{PropertyName(parameter)} = {parameter.Name};");
            }

            foreach (var parameter in parameters)
            {
                writer.Line();
                writer.Line($"/// <summary>The <c>{Escape(parameter.Name.TrimStart('@'))}</c> argument.</summary>");
                writer.Line($"public {parameter.Type} {PropertyName(parameter)} {{ get; }}");
            }
        }
    }

    private static void EmitFormatter(SourceWriter writer, EquatableArray<ParameterModel> parameters)
    {
        writer.Line("/// <summary>Writes the arguments as a MessagePack array; reads old and new versions of it (keys are positions, append-only).</summary>");
        using (writer.Block("public sealed class Formatter : global::MessagePack.Formatters.IMessagePackFormatter<Arguments>"))
        {
            writer.Line("/// <inheritdoc/>");
            using (writer.Block("public void Serialize(ref global::MessagePack.MessagePackWriter writer, Arguments value, global::MessagePack.MessagePackSerializerOptions options)"))
            {
                if (parameters.Count > 0) writer.Line("var resolver = options.Resolver;");
                writer.Line($"writer.WriteArrayHeader({parameters.Count});");
                foreach (var parameter in parameters)
                    writer.Line($"{FormatterFor(parameter)}.Serialize(ref writer, value.{PropertyName(parameter)}, options);");
            }

            writer.Line();
            writer.Line("/// <inheritdoc/>");
            using (writer.Block("public Arguments Deserialize(ref global::MessagePack.MessagePackReader reader, global::MessagePack.MessagePackSerializerOptions options)"))
            {
                writer.Line("options.Security.DepthStep(ref reader);");
                if (parameters.Count > 0) writer.Line("var resolver = options.Resolver;");
                for (var i = 0; i < parameters.Count; i++)
                {
                    // An argument missing from an older message takes the parameter's default value.
                    writer.Line($"{parameters[i].Type} arg{i} = {parameters[i].DefaultValue ?? "default!"};");
                }

                writer.Line("var count = reader.ReadArrayHeader();");

                // Parameters with a default value come last, so the required ones are a prefix. A message
                // that lacks one is refused: running with null where the method declared a value is worse than not running.
                var required = parameters.TakeWhile(p => p.DefaultValue is null).Count();
                if (required > 0)
                {
                    var names = string.Join(", ", parameters.Take(required).Select(p => p.Name.TrimStart('@')));
                    writer.Line($"if (count < {required})");
                    writer.Line($"    throw new global::MessagePack.MessagePackSerializationException(\"The message carries \" + count + \" argument(s); the task needs {required} without a default value ({names}).\");");
                }

                using (writer.Block("for (var i = 0; i < count; i++)"))
                {
                    using (writer.Block("switch (i)"))
                    {
                        for (var i = 0; i < parameters.Count; i++)
                        {
                            writer.Line($"case {i}:");
                            writer.Line($"    arg{i} = {FormatterFor(parameters[i])}.Deserialize(ref reader, options);");
                            writer.Line("    break;");
                        }

                        writer.Line("default:");
                        writer.Line("    global::Tasks.TaskEnvelope.SkipBounded(ref reader, options); // written by a newer version of the task");
                        writer.Line("    break;");
                    }
                }

                writer.Line("reader.Depth--;");
                writer.Line($"return new Arguments({string.Join(", ", Enumerable.Range(0, parameters.Count).Select(i => "arg" + i))});");
            }
        }
    }

    private static string Target(TaskModel task)
        => task.IsStatic
            ? task.Containing.FullyQualifiedName
            : $"global::Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<{task.Containing.FullyQualifiedName}>(services)";

    private static string FormatterFor(ParameterModel parameter)
        => $"global::MessagePack.FormatterResolverExtensions.GetFormatterWithVerify<{parameter.Type}>(resolver)";

    private static string NewLimit(LimitModel limit, EquatableArray<ParameterModel> parameters)
    {
        static string Span(long? ticks) => ticks is { } t ? $"global::System.TimeSpan.FromTicks({t})" : "null";
        var key = limit.KeyParameter is { } name && parameters.FirstOrDefault(p => p.Name == name) is { } parameter
            ? $", keyParameter: {Literal(name.TrimStart('@'))}, keyOf: static arguments => global::Tasks.TaskLimit.KeyText(((Arguments)arguments).{PropertyName(parameter)})"
            : "";
        return $"new global::Tasks.TaskLimit(global::Tasks.TaskLimitKind.{limit.Kind}, {Literal(limit.Name)}, {limit.Limit}, period: {Span(limit.PeriodTicks)}, maxWait: {Span(limit.MaxWaitTicks)}{key})";
    }

    private static string PropertyName(ParameterModel parameter)
        => ReservedMemberNames.Contains(parameter.Name) ? parameter.Name + "_" : parameter.Name;

    private static string Unique(string name, HashSet<string> taken)
    {
        while (taken.Contains(name)) name += "_";
        return name;
    }

    private static void Summary(SourceWriter writer, EquatableArray<string> docSummary, string fallback)
    {
        writer.Line("/// <summary>");
        foreach (var line in docSummary) writer.Line("/// " + line);
        if (docSummary.Count > 0) writer.Line("/// <para>" + fallback + "</para>");
        else writer.Line("/// " + fallback);
        writer.Line("/// </summary>");
    }

    private static string Literal(string value) => GeneratedCode.Literal(value);

    private static string Escape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
