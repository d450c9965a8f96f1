using System;
using Cronos;

namespace Tasks;

/// <summary>A recurring task's schedule (<c>[Recurring]</c>): a cron expression read in a time zone.</summary>
public sealed class TaskSchedule
{
    private readonly CronExpression expression;
    private readonly Lazy<TimeZoneInfo> zone;

    /// <summary>Parses the schedule; generated code calls it with values the generator has checked.</summary>
    /// <exception cref="ArgumentException">The expression is not a cron expression.</exception>
    public TaskSchedule(string cron, string timeZone = CronSchedules.DefaultTimeZone)
    {
        ArgumentNullException.ThrowIfNull(cron);
        ArgumentNullException.ThrowIfNull(timeZone);
        try
        {
            expression = CronSchedules.Parse(cron);
        }
        catch (CronFormatException ex)
        {
            throw new ArgumentException($"'{cron}' is not a cron expression: {ex.Message}", nameof(cron), ex);
        }

        Cron = cron;
        TimeZoneId = timeZone;

        // Looked up when first used, not here: this runs in a static initializer while the assembly's tasks
        // register, where a throw would surface far from its cause. The worker looks it up when it starts.
        zone = new Lazy<TimeZoneInfo>(() => CronSchedules.TryFindTimeZone(timeZone, out var found)
            ? found
            : throw new InvalidOperationException($"The time zone '{timeZone}' is not known on this machine: install the time zone database (tzdata), or do not run the app with InvariantTimezone."));
    }

    /// <summary>The cron expression as written.</summary>
    public string Cron { get; }

    /// <summary>The id of the time zone the expression is read in, as written.</summary>
    public string TimeZoneId { get; }

    /// <summary>The time zone the expression is read in.</summary>
    /// <exception cref="InvalidOperationException">This machine does not know <see cref="TimeZoneId"/>.</exception>
    public TimeZoneInfo TimeZone => zone.Value;

    /// <summary>The first occurrence strictly after <paramref name="after"/>, or null if there is none.</summary>
    public DateTimeOffset? NextAfter(DateTimeOffset after) => expression.GetNextOccurrence(after, TimeZone);

    /// <summary>The occurrences after <paramref name="after"/> and at or before <paramref name="upTo"/>: how many, the first and the latest.</summary>
    internal (int Count, DateTimeOffset? First, DateTimeOffset? Latest) Due(DateTimeOffset after, DateTimeOffset upTo)
    {
        var count = 0;
        DateTimeOffset? first = null, latest = null;
        for (var next = NextAfter(after); next is { } n && n <= upTo; next = NextAfter(n))
        {
            count++;
            first ??= n;
            latest = n;
        }

        return (count, first, latest);
    }

    /// <inheritdoc />
    public override string ToString() => $"'{Cron}' ({TimeZoneId})";
}
