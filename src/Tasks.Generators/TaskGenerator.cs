using System;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using Tasks.Generators.Emitting;
using Tasks.Generators.Model;
using Tasks.Generators.Parsing;

namespace Tasks.Generators;

/// <summary>
/// Writes, for every valid <c>[AsyncTask]</c> method, a typed Enqueue stub, the argument envelope
/// and its formatter, and one dispatch table per assembly. Only the pipeline lives here: parsing
/// is in <see cref="TaskParser"/>, emitting in <see cref="TaskEmitter"/>, <see cref="ArgumentFormatterEmitter"/> and <see cref="DispatchTableEmitter"/>.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class TaskGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var tasks = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                KnownTypes.AsyncTaskAttributeName,
                static (node, _) => node is MethodDeclarationSyntax,
                static (syntaxContext, cancellationToken) => TaskParser.Parse(syntaxContext, cancellationToken))
            .WithTrackingName(TrackingNames.TaskModels)
            .Where(static task => task is not null)
            .Select(static (task, _) => task!)
            .WithTrackingName(TrackingNames.ValidTasks);

        context.RegisterSourceOutput(tasks, static (output, task) =>
            output.AddSource(task.HintName, SourceText.From(TaskEmitter.Emit(task), Encoding.UTF8)));

        var dispatchTable = tasks
            .Select(static (task, _) => new DispatchEntry(task.WireName, task.FullyQualifiedClassName))
            .WithTrackingName(TrackingNames.DispatchEntries)
            .Collect()
            .Select(static (entries, _) => entries
                // A wire name declared twice is TASK008; keep the table buildable and let the analyzer fail the build.
                .GroupBy(e => e.WireName, StringComparer.Ordinal)
                .Select(g => g.OrderBy(e => e.FullyQualifiedClassName, StringComparer.Ordinal).First())
                .OrderBy(e => e.WireName, StringComparer.Ordinal)
                .ToEquatableArray())
            .WithTrackingName(TrackingNames.DispatchTable);

        // A host finds the task assemblies it references at compile time. The step reruns on every
        // edit, but yields an equal array unless the references changed, so nothing after it reruns.
        var referencedTables = context.CompilationProvider
            .Select(static (compilation, cancellationToken) => TaskAssemblies.FindReferencedTables(compilation, cancellationToken))
            .WithTrackingName(TrackingNames.ReferencedTaskAssemblies);
        var ownNamespace = context.CompilationProvider
            .Select(static (compilation, _) => TaskAssemblies.TableNamespace(compilation.AssemblyName ?? "Assembly"))
            .WithTrackingName(TrackingNames.AssemblyNamespace);
        var registration = dispatchTable
            .Combine(referencedTables)
            .Combine(ownNamespace)
            .Select(static (parts, _) => new TaskRegistrationModel(parts.Right, parts.Left.Left, parts.Left.Right))
            .WithTrackingName(TrackingNames.Registration);

        var argumentFormatters = tasks
            .Select(static (task, _) => task.ArgumentTypes)
            .WithTrackingName(TrackingNames.ArgumentTypes)
            .Collect()
            .Combine(ownNamespace)
            .Select(static (parts, _) => new ArgumentFormattersModel(parts.Right, parts.Left
                .SelectMany(types => types)
                .GroupBy(t => t.Type, StringComparer.Ordinal)
                .Select(g => g.First())
                .OrderBy(t => t.Type, StringComparer.Ordinal)
                .ToEquatableArray()))
            .WithTrackingName(TrackingNames.ArgumentFormatters);
        context.RegisterSourceOutput(argumentFormatters, static (output, model) =>
        {
            if (model.Types.Count > 0)
                output.AddSource(ArgumentFormatterEmitter.HintName, SourceText.From(ArgumentFormatterEmitter.Emit(model), Encoding.UTF8));
        });

        // Tasks.Core targets net8.0+, so every project that can reference it has [ModuleInitializer]:
        // no need to look it up in the compilation on every edit.
        context.RegisterSourceOutput(registration, static (output, model) =>
        {
            if (model.Entries.Count > 0 || model.ReferencedTables.Count > 0)
                output.AddSource(DispatchTableEmitter.HintName, SourceText.From(DispatchTableEmitter.Emit(model), Encoding.UTF8));
        });
    }
}
