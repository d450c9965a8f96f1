using System.ComponentModel;
using MessagePack;
using MessagePack.Formatters;
using MessagePack.Resolvers;

namespace Tasks;

/// <summary>
/// The resolver task arguments are written and read with: the formatters the generator wrote for the
/// argument types of each task assembly (plain records, classes and structs, with no attribute), then
/// MessagePack's <see cref="StandardResolver"/> for the rest.
/// </summary>
/// <remarks>
/// Each task assembly registers its formatters when it loads (a module initializer), before any of its
/// code can enqueue or run a task. To add a resolver of your own, put this one after it:
/// <c>TaskSerializer.DefaultOptions.WithResolver(CompositeResolver.Create(mine, TaskFormatterResolver.Instance))</c>.
/// </remarks>
public sealed class TaskFormatterResolver : IFormatterResolver
{
    private TaskFormatterResolver()
    {
    }

    /// <summary>The one instance.</summary>
    public static TaskFormatterResolver Instance { get; } = new();

    /// <summary>Registers the generated formatter of <typeparamref name="T"/>. Called by generated code only.</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static void Register<T>(IMessagePackFormatter<T> formatter) => Generated<T>.Formatter = formatter;

    /// <inheritdoc />
    public IMessagePackFormatter<T>? GetFormatter<T>() => Generated<T>.Formatter ?? StandardResolver.Instance.GetFormatter<T>();

    // A static field per type: the lookup on every argument is a field read, no dictionary.
    private static class Generated<T>
    {
        public static IMessagePackFormatter<T>? Formatter;
    }
}
