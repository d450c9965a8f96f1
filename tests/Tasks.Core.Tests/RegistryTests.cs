namespace Tasks.Core.Tests;

public sealed class RegistryTests
{
    [Fact]
    public void Generated_module_initializer_registers_every_task_of_the_assembly()
    {
        var names = TaskRegistry.Default.Definitions.Select(d => d.Name).ToArray();

        Assert.Contains("Tasks.Core.Tests.ScriptedTasks.Run", names);
        Assert.Contains("Tasks.Core.Tests.GreeterTasks.Greet", names);
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
        var greet = TaskRegistry.Default.Definitions.Single(d => d.Name == "Tasks.Core.Tests.GreeterTasks.Greet");
        Assert.True(greet.RequiresServices);
        Assert.Equal(typeof(GreeterTasks), greet.DeclaringType);
        Assert.Equal(5, greet.MaxAttempts);
        Assert.Equal("instances", greet.Queue);
    }

    [Fact]
    public async Task Wire_name_registered_twice_is_a_clear_error_when_a_worker_starts()
    {
        var registry = new TaskRegistry();
        var original = ScriptedTasks.RunAsync.Definition;
        var impostor = new TaskDefinition<ScriptedTasks.RunOtherAsync.Arguments>(
            original.Name, "other", 1, typeof(GreeterTasks), "Impostor", false,
            ScriptedTasks.RunOtherAsync.Definition.Formatter, static (_, _, _) => Task.CompletedTask);
        registry.Register(original);
        registry.Register(original); // the same definition again is harmless
        registry.Register(impostor);

        var error = Assert.Throws<InvalidOperationException>(registry.ThrowIfInvalid);
        Assert.Contains($"'{original.Name}' is declared twice", error.Message);
        Assert.Contains("Tasks.Core.Tests.ScriptedTasks.Run in Tasks.Core.Tests", error.Message);
        Assert.Contains("Tasks.Core.Tests.GreeterTasks.Impostor", error.Message);

        await using var worker = new TaskWorker(new InMemoryTransport(), registry: registry);
        var startError = await Assert.ThrowsAsync<InvalidOperationException>(() => worker.StartAsync());
        Assert.Equal(error.Message, startError.Message);
    }
}
