using System;
using System.ComponentModel;
using System.Globalization;

namespace Tasks;

/// <summary>What a <see cref="TaskLimit"/> counts.</summary>
public enum TaskLimitKind
{
    /// <summary>Runs at once (<see cref="ConcurrencyLimitAttribute"/>).</summary>
    Concurrency,

    /// <summary>Starts per period (<see cref="RateLimitAttribute"/>).</summary>
    Rate,
}

/// <summary>
/// One limit of a task across every worker, as <c>[ConcurrencyLimit]</c> or <c>[RateLimit]</c> declared it: written by
/// the generator into <see cref="TaskDefinition.Limits"/>. Tasks that name the same limit share its places.
/// </summary>
public sealed class TaskLimit
{
    /// <summary>How long a task waits for its place at most, when its attribute does not say.</summary>
    public static readonly TimeSpan DefaultMaxWait = TimeSpan.FromDays(1);

    private readonly Func<object, string>? keyOf;

    /// <summary>Called by generated code.</summary>
    /// <param name="kind">Runs at once, or starts per period.</param>
    /// <param name="name">The limit's name: the task's wire name unless the attribute named it.</param>
    /// <param name="limit">How many runs at once, or starts per period.</param>
    /// <param name="period">The period of a rate; null for a concurrency limit.</param>
    /// <param name="maxWait">How long a task waits for its place at most; null for <see cref="DefaultMaxWait"/>.</param>
    /// <param name="keyParameter">The parameter whose value keys the limit, or null.</param>
    /// <param name="keyOf">Reads the key from the task's arguments (generated), or null.</param>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public TaskLimit(TaskLimitKind kind, string name, int limit, TimeSpan? period = null, TimeSpan? maxWait = null, string? keyParameter = null, Func<object, string>? keyOf = null)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("A limit needs a name.", nameof(name));
        if (limit < 1) throw new ArgumentOutOfRangeException(nameof(limit), limit, "A limit allows at least one run.");
        if (kind == TaskLimitKind.Rate && period is not { Ticks: > 0 }) throw new ArgumentOutOfRangeException(nameof(period), period, "A rate needs a positive period.");
        if (maxWait is { Ticks: <= 0 }) throw new ArgumentOutOfRangeException(nameof(maxWait), maxWait, "MaxWait must be positive.");
        if ((keyParameter is null) != (keyOf is null)) throw new ArgumentException("A keyed limit needs both its parameter and how to read it.", nameof(keyOf));
        (Kind, Name, Limit, Period, MaxWait, KeyParameter, this.keyOf) = (kind, name, limit, kind == TaskLimitKind.Rate ? period : null, maxWait ?? DefaultMaxWait, keyParameter, keyOf);
    }

    /// <summary>Runs at once, or starts per period.</summary>
    public TaskLimitKind Kind { get; }

    /// <summary>The limit's name: the task's wire name unless the attribute named it.</summary>
    public string Name { get; }

    /// <summary>How many runs at once, or starts per <see cref="Period"/>.</summary>
    public int Limit { get; }

    /// <summary>The period of a rate; null for a concurrency limit.</summary>
    public TimeSpan? Period { get; }

    /// <summary>How long a task waits for its place at most, from its first deferral, before it is dead-lettered.</summary>
    public TimeSpan MaxWait { get; }

    /// <summary>The parameter whose value keys the limit, or null for one limit for every run.</summary>
    public string? KeyParameter { get; }

    /// <summary>The key of a run with these arguments: "" for a limit without a key.</summary>
    internal string KeyOf(object arguments) => keyOf is null ? "" : keyOf(arguments);

    /// <summary>Says the limit as a person reads it: "at most 1 run at once per customerId".</summary>
    public override string ToString()
        => $"'{Name}': at most {Limit} {(Kind == TaskLimitKind.Rate ? $"start{(Limit == 1 ? "" : "s")} per {Period:c}" : $"run{(Limit == 1 ? "" : "s")} at once")}{(KeyParameter is null ? "" : " per " + KeyParameter)}";

    /// <summary>A key's text (called by generated code).</summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static string KeyText(string? value) => value ?? NullKey;

    /// <inheritdoc cref="KeyText(string?)"/>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static string KeyText(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? NullKey;

    /// <inheritdoc cref="KeyText(string?)"/>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static string KeyText(ulong? value) => value?.ToString(CultureInfo.InvariantCulture) ?? NullKey;

    /// <inheritdoc cref="KeyText(string?)"/>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static string KeyText(bool? value) => value is { } b ? (b ? "true" : "false") : NullKey;

    /// <inheritdoc cref="KeyText(string?)"/>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static string KeyText(char? value) => value?.ToString() ?? NullKey;

    /// <inheritdoc cref="KeyText(string?)"/>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static string KeyText(Guid? value) => value?.ToString("D") ?? NullKey;

    /// <inheritdoc cref="KeyText(string?)"/>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static string KeyText<TEnum>(TEnum value)
        where TEnum : struct, Enum
        => value.ToString();

    /// <inheritdoc cref="KeyText(string?)"/>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static string KeyText<TEnum>(TEnum? value)
        where TEnum : struct, Enum
        => value?.ToString() ?? NullKey;

    /// <summary>The key of a null argument: its own value, never a string's.</summary>
    internal const string NullKey = "\0null";
}
