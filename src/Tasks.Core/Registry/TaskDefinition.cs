using System;
using System.Threading;
using System.Threading.Tasks;
using MessagePack;
using MessagePack.Formatters;

namespace Tasks;

/// <summary>
/// Everything the runtime knows about one task: its wire name, queue, attempt limit, and how
/// to read its arguments and invoke it. Instances are written by the source generator.
/// </summary>
public abstract class TaskDefinition
{
    private protected TaskDefinition(string name, string queue, int maxAttempts, Type declaringType, string methodName, bool requiresServices)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("A task needs a wire name.", nameof(name));
        if (string.IsNullOrWhiteSpace(queue)) throw new ArgumentException("A task needs a queue.", nameof(queue));
        if (maxAttempts < 1) throw new ArgumentOutOfRangeException(nameof(maxAttempts), maxAttempts, "A task runs at least once.");
        Name = name;
        Queue = queue;
        MaxAttempts = maxAttempts;
        DeclaringType = declaringType ?? throw new ArgumentNullException(nameof(declaringType));
        MethodName = methodName ?? throw new ArgumentNullException(nameof(methodName));
        RequiresServices = requiresServices;
    }

    /// <summary>The stable wire name written into every message.</summary>
    public string Name { get; }

    /// <summary>The queue the task's messages go to.</summary>
    public string Queue { get; }

    /// <summary>How many times the task runs before its message is dead-lettered.</summary>
    public int MaxAttempts { get; }

    /// <summary>The type that declares the task method.</summary>
    public Type DeclaringType { get; }

    /// <summary>The name of the task method.</summary>
    public string MethodName { get; }

    /// <summary>True for instance methods: the worker resolves <see cref="DeclaringType"/> from a DI scope.</summary>
    public bool RequiresServices { get; }

    /// <summary>This task's own run timeout (<c>[AsyncTask(Timeout = ...)]</c>), or null for the worker's <c>TaskTimeout</c>.</summary>
    public TimeSpan? Timeout
    {
        get => timeout;
        init => timeout = value is { } t && (t <= TimeSpan.Zero || t > AsyncTaskDefaults.MaxDuration) ? throw new ArgumentOutOfRangeException(nameof(Timeout), t, "A timeout must be positive and at most 49 days.") : value;
    }

    /// <summary>This task's first retry delay (<c>[AsyncTask(RetryDelay = ...)]</c>), or null for the worker's <c>Retry.BaseDelay</c>.</summary>
    public TimeSpan? RetryDelay
    {
        get => retryDelay;
        init => retryDelay = value is { } d && d <= TimeSpan.Zero ? throw new ArgumentOutOfRangeException(nameof(RetryDelay), d, "A retry delay must be positive.") : value;
    }

    /// <summary>At most this many runs of this task at once in one worker (<c>[AsyncTask(MaxConcurrency = ...)]</c>), or null for no limit of its own.</summary>
    public int? MaxConcurrency
    {
        get => maxConcurrency;
        init => maxConcurrency = value is < 1 ? throw new ArgumentOutOfRangeException(nameof(MaxConcurrency), value, "At least one run must be allowed.") : value;
    }

    /// <summary>When this task runs on its own (<c>[Recurring]</c>), or null if it runs only when enqueued.</summary>
    public TaskSchedule? Schedule { get; init; }

    /// <summary>How long an enqueued or running task keeps others of the same name and key from being enqueued (<c>[AsyncTask(UniqueFor = ...)]</c>), or null if it is not unique.</summary>
    public TimeSpan? UniqueFor
    {
        get => uniqueFor;
        init => uniqueFor = value is { } u && u <= TimeSpan.Zero ? throw new ArgumentOutOfRangeException(nameof(UniqueFor), u, "UniqueFor must be positive.") : value;
    }

    /// <summary>
    /// This task's own run filters (<c>[TaskFilter(typeof(...))]</c>, written by the generator), each made per run from
    /// the run's DI scope, in attribute order, inside the filters registered for every task; null for none.
    /// </summary>
    public System.Collections.Generic.IReadOnlyList<Func<IServiceProvider, ITaskRunFilter>>? RunFilters { get; init; }

    /// <summary>This task's limits across every worker (<c>[ConcurrencyLimit]</c>, <c>[RateLimit]</c>, written by the generator), or null for none.</summary>
    public System.Collections.Generic.IReadOnlyList<TaskLimit>? Limits { get; init; }

    /// <summary>True if the arguments carry personal data (<c>[AsyncTask(PersonalData = true)]</c>): records never keep them.</summary>
    public bool HasPersonalData { get; init; }

    /// <summary>The parameter names, in order (the cancellation token left out): the keys of the arguments' JSON in a record.</summary>
    public System.Collections.Generic.IReadOnlyList<string> ParameterNames { get; init; } = Array.Empty<string>();

    /// <summary>The parameter types, in order: how the arguments' JSON in a record names the members of your types.</summary>
    public System.Collections.Generic.IReadOnlyList<Type> ParameterTypes { get; init; } = Array.Empty<Type>();

    private readonly TimeSpan? uniqueFor;

    private readonly TimeSpan? timeout;
    private readonly TimeSpan? retryDelay;
    private readonly int? maxConcurrency;

    /// <summary>The generated argument envelope type.</summary>
    public abstract Type ArgumentsType { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({DeclaringType.FullName}.{MethodName})";

    internal abstract object ReadArguments(ref MessagePackReader reader, MessagePackSerializerOptions options);

    internal abstract Task InvokeAsync(IServiceProvider services, object arguments, CancellationToken cancellationToken);

    /// <summary>Enqueues a task that takes no arguments, as a recurring task is (TASK012 checks it).</summary>
    internal abstract ValueTask<string> EnqueueWithoutArgumentsAsync(ITaskClient client, MessagePackSerializerOptions options, CancellationToken cancellationToken);
}

/// <summary>A task whose arguments travel as <typeparamref name="TArguments"/>.</summary>
/// <typeparam name="TArguments">The generated argument envelope.</typeparam>
public sealed class TaskDefinition<TArguments> : TaskDefinition
    where TArguments : class
{
    private readonly Func<IServiceProvider, TArguments, CancellationToken, Task> invoke;

    /// <summary>Called by generated code.</summary>
    [System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
    public TaskDefinition(
        string name,
        string queue,
        int maxAttempts,
        Type declaringType,
        string methodName,
        bool requiresServices,
        IMessagePackFormatter<TArguments> formatter,
        Func<IServiceProvider, TArguments, CancellationToken, Task> invoke)
        : base(name, queue, maxAttempts, declaringType, methodName, requiresServices)
    {
        Formatter = formatter ?? throw new ArgumentNullException(nameof(formatter));
        this.invoke = invoke ?? throw new ArgumentNullException(nameof(invoke));
    }

    /// <summary>The generated formatter that writes and reads the argument array.</summary>
    public IMessagePackFormatter<TArguments> Formatter { get; }

    /// <inheritdoc />
    public override Type ArgumentsType => typeof(TArguments);

    /// <summary>Runs the task method with <paramref name="arguments"/>, as a worker would.</summary>
    public Task InvokeAsync(IServiceProvider services, TArguments arguments, CancellationToken cancellationToken)
        => invoke(services, arguments, cancellationToken);

    internal override object ReadArguments(ref MessagePackReader reader, MessagePackSerializerOptions options)
        => Formatter.Deserialize(ref reader, options);

    internal override Task InvokeAsync(IServiceProvider services, object arguments, CancellationToken cancellationToken)
        => invoke(services, (TArguments)arguments, cancellationToken);

    // The arguments are read from an empty MessagePack array by the generated formatter: no reflection.
    internal override ValueTask<string> EnqueueWithoutArgumentsAsync(ITaskClient client, MessagePackSerializerOptions options, CancellationToken cancellationToken)
    {
        var reader = new MessagePackReader(EmptyArray);
        return client.EnqueueAsync(this, Formatter.Deserialize(ref reader, options), null, cancellationToken);
    }

    private static readonly ReadOnlyMemory<byte> EmptyArray = new byte[] { 0x90 };
}
