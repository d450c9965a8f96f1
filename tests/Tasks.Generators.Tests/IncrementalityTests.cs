using System.Collections;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Tasks.Tests.Infrastructure;

namespace Tasks.Generators.Tests;

/// <summary>The generator does no work twice: edits that cannot change its output leave every step cached.</summary>
public sealed class IncrementalityTests
{
    private static readonly string[] OutputSteps =
    [
        TrackingNames.TaskModels, TrackingNames.ValidTasks, TrackingNames.DispatchEntries, TrackingNames.DispatchTable,
        TrackingNames.ReferencedTaskAssemblies, TrackingNames.AssemblyNamespace, TrackingNames.Registration,
        TrackingNames.ArgumentTypes, TrackingNames.ArgumentFormatters,
    ];

    private const string Tasks = """
        namespace App;

        public sealed record Item(string Sku, int Quantity);

        public static partial class Jobs
        {
            [AsyncTask]
            public static Task First(CancellationToken cancellationToken, string name, int count, Item item)
            {
                return Task.CompletedTask;
            }
        }
        """;

    [Fact]
    public void Unrelated_new_file_leaves_every_step_cached_or_unchanged()
    {
        var (driver, compilation) = FirstRun(Tasks);

        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace App; public class Unrelated { public int X => 1; }", TestCompilation.ParseOptions));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        AssertAllCachedOrUnchanged(result);
    }

    [Fact]
    public void Edit_inside_a_task_body_leaves_every_output_step_cached_or_unchanged()
    {
        var (driver, compilation) = FirstRun(Tasks);

        var edited = ReplaceTasksTree(compilation, Tasks.Replace("return Task.CompletedTask;", "Console.WriteLine(name);\n        return Task.CompletedTask;"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        AssertAllCachedOrUnchanged(result);
        Assert.Contains(result.TrackedSteps[TrackingNames.TaskModels], s => s.Outputs.Any(o => o.Reason == IncrementalStepRunReason.Unchanged));
    }

    [Fact]
    public void Unrelated_member_appended_to_the_task_type_leaves_every_output_step_cached_or_unchanged()
    {
        var (driver, compilation) = FirstRun(Tasks);

        var edited = ReplaceTasksTree(compilation, Tasks.Replace("    [AsyncTask]", "    public static int Helper() => 42;\n\n    [AsyncTask]"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        AssertAllCachedOrUnchanged(result);
    }

    [Fact]
    public void Adding_a_second_task_keeps_the_first_and_adds_the_second()
    {
        var (driver, compilation) = FirstRun(Tasks);

        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("""
            namespace App;
            public static partial class MoreJobs
            {
                [AsyncTask]
                public static Task Second(CancellationToken cancellationToken) => Task.CompletedTask;
            }
            """, TestCompilation.ParseOptions));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        var models = result.TrackedSteps[TrackingNames.ValidTasks].SelectMany(s => s.Outputs).ToArray();
        Assert.Contains(models, o => o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged && ((Model.TaskModel)o.Value).MethodName == "First");
        Assert.Contains(models, o => o.Reason == IncrementalStepRunReason.New && ((Model.TaskModel)o.Value).MethodName == "Second");
        Assert.Equal(IncrementalStepRunReason.Modified, result.TrackedSteps[TrackingNames.DispatchTable].Single().Outputs.Single().Reason);
        Assert.Equal(4, result.GeneratedSources.Length);
    }

    [Fact]
    public void In_a_host_that_references_a_task_library_an_unrelated_edit_reruns_nothing()
    {
        var library = TestCompilation.Generate(TestCompilation.Create(Tasks).WithAssemblyName("Library")).Output;
        var host = TestCompilation.Create("namespace Host; public static class Program { }")
            .WithAssemblyName("Host")
            .AddReferences(library.ToMetadataReference());
        var driver = TestCompilation.CreateDriver().RunGenerators(host);
        Assert.Contains("global::Tasks.Generated.Library.TaskDispatchTable.Register();", Assert.Single(driver.GetRunResult().GeneratedTrees).ToString());

        var edited = host.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Host; public class Unrelated { }", TestCompilation.ParseOptions));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        // The host has no tasks of its own, so only the registration steps ran at all.
        var ours = result.TrackedSteps.Where(s => OutputSteps.Contains(s.Key)).Select(s => s.Value).Concat(result.TrackedOutputSteps.Values);
        Assert.All(ours.SelectMany(s => s).SelectMany(s => s.Outputs), o =>
            Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"a step was {o.Reason}"));
        Assert.Equal(IncrementalStepRunReason.Unchanged, result.TrackedSteps[TrackingNames.ReferencedTaskAssemblies].Single().Outputs.Single().Reason);
    }

    [Fact]
    public void Changing_an_argument_type_changes_the_model()
    {
        var (driver, compilation) = FirstRun(Tasks);

        var edited = ReplaceTasksTree(compilation, Tasks.Replace("int count", "long count"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        Assert.Equal(IncrementalStepRunReason.Modified, result.TrackedSteps[TrackingNames.ValidTasks].Single().Outputs.Single().Reason);
        Assert.Contains("long count", result.GeneratedSources.Single(s => s.HintName.Contains("FirstAsync")).SourceText.ToString());
    }

    [Fact]
    public void Appending_a_member_to_an_argument_type_rewrites_its_formatter_and_nothing_else()
    {
        var (driver, compilation) = FirstRun(Tasks);

        var edited = ReplaceTasksTree(compilation, Tasks.Replace("record Item(string Sku, int Quantity)", "record Item(string Sku, int Quantity, string? Note = null)"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        Assert.Equal(IncrementalStepRunReason.Modified, result.TrackedSteps[TrackingNames.ArgumentFormatters].Single().Outputs.Single().Reason);
        Assert.True(result.TrackedSteps[TrackingNames.DispatchTable].Single().Outputs.Single().Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged);
        Assert.Contains("writer.WriteArrayHeader(3);", result.GeneratedSources.Single(s => s.HintName == "Tasks.TaskArgumentFormatters.g.cs").SourceText.ToString());
    }

    [Fact]
    public void Pipeline_outputs_hold_no_symbols_syntax_or_compilations()
    {
        var (driver, _) = FirstRun(Tasks);

        foreach (var step in driver.GetRunResult().Results.Single().TrackedSteps.Where(s => OutputSteps.Contains(s.Key)).SelectMany(s => s.Value))
        {
            foreach (var (value, _) in step.Outputs) AssertNoRoslynObjects(value, step.Name ?? "?", new HashSet<object>(ReferenceEqualityComparer.Instance));
        }
    }

    private static (GeneratorDriver Driver, Compilation Compilation) FirstRun(string source)
    {
        var compilation = TestCompilation.Create(source);
        var driver = TestCompilation.CreateDriver().RunGenerators(compilation);
        Assert.Equal(3, driver.GetRunResult().GeneratedTrees.Length);

        // The same compilation again: everything must come from the cache.
        AssertAllCachedOrUnchanged(driver.RunGenerators(compilation.Clone()).GetRunResult().Results.Single());
        return (driver, compilation);
    }

    private static Compilation ReplaceTasksTree(Compilation compilation, string newSource)
    {
        var old = compilation.SyntaxTrees.Last();
        return compilation.ReplaceSyntaxTree(old, CSharpSyntaxTree.ParseText(newSource, TestCompilation.ParseOptions, path: old.FilePath));
    }

    private static void AssertAllCachedOrUnchanged(GeneratorRunResult result)
    {
        foreach (var name in OutputSteps)
        {
            Assert.True(result.TrackedSteps.ContainsKey(name), $"step {name} was not tracked");
            foreach (var output in result.TrackedSteps[name].SelectMany(s => s.Outputs))
            {
                Assert.True(
                    output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged,
                    $"step {name} output was {output.Reason}");
            }
        }

        Assert.All(result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o =>
            Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"an output step was {o.Reason}"));
    }

    private static void AssertNoRoslynObjects(object? value, string path, HashSet<object> seen)
    {
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum || !seen.Add(value)) return;
        Assert.False(value is ISymbol or SyntaxNode or Compilation or SemanticModel or Location, $"{path} holds a {value.GetType().Name}");
        if (value is IEnumerable items)
        {
            var i = 0;
            foreach (var item in items) AssertNoRoslynObjects(item, $"{path}[{i++}]", seen);
        }

        foreach (var field in value.GetType().GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            AssertNoRoslynObjects(field.GetValue(value), $"{path}.{field.Name}", seen);
    }
}
