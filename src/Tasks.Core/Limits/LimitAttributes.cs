using System;

namespace Tasks;

/// <summary>
/// At most <see cref="Limit"/> runs of this task at once across every worker of every process (1: a mutex), or of
/// every task that names the same <see cref="Name"/>; with a <see cref="Key"/>, one such limit per value of that
/// parameter ("one import per customer at a time"). A task over its limit is not run: it goes back to its queue,
/// invisible until a place is expected, holding no worker slot and using no attempt. Checked at compile time
/// (TASK018, TASK019). See docs/limits.md.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class ConcurrencyLimitAttribute : Attribute
{
    /// <param name="limit">How many runs at once, 1 or more.</param>
    public ConcurrencyLimitAttribute(int limit) => Limit = limit;

    /// <summary>How many runs at once.</summary>
    public int Limit { get; }

    /// <summary>A limit shared by every task that names it (<c>"crm-api"</c>); by default the task's own.</summary>
    public string? Name { get; set; }

    /// <summary>
    /// The parameter whose value keys the limit: <c>nameof(customerId)</c> gives each customer a limit of its own. A
    /// string, integer, bool, char, Guid or enum parameter (or a nullable one); checked at compile time (TASK018).
    /// </summary>
    public string? Key { get; set; }

    /// <summary>
    /// How long a task may wait for its place, from its first deferral, before it is dead-lettered with the reason,
    /// as a <see cref="TimeSpan"/> string (<c>"02:00:00"</c>). Defaults to a day.
    /// </summary>
    public string? MaxWait { get; set; }
}

/// <summary>
/// At most <see cref="Limit"/> runs of this task start in any <see cref="Period"/> across every worker (a sliding
/// window), or of every task that names the same <see cref="Name"/>; with a <see cref="Key"/>, one such limit per
/// value of that parameter. A task over its rate waits as one over a <see cref="ConcurrencyLimitAttribute"/> does.
/// Checked at compile time (TASK018, TASK019). See docs/limits.md.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class RateLimitAttribute : Attribute
{
    /// <param name="limit">How many starts per period, 1 or more.</param>
    /// <param name="period">The period, as a <see cref="TimeSpan"/> string (<c>"00:00:01"</c>: a second).</param>
    public RateLimitAttribute(int limit, string period) => (Limit, Period) = (limit, period);

    /// <summary>How many starts per period.</summary>
    public int Limit { get; }

    /// <summary>The period, as a <see cref="TimeSpan"/> string.</summary>
    public string Period { get; }

    /// <inheritdoc cref="ConcurrencyLimitAttribute.Name"/>
    public string? Name { get; set; }

    /// <inheritdoc cref="ConcurrencyLimitAttribute.Key"/>
    public string? Key { get; set; }

    /// <inheritdoc cref="ConcurrencyLimitAttribute.MaxWait"/>
    public string? MaxWait { get; set; }
}
