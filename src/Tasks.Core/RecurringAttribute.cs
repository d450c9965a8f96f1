using System;

namespace Tasks;

/// <summary>
/// Runs an <c>[AsyncTask]</c> on a cron schedule: every worker that serves the task's queue keeps the
/// schedule, and each occurrence is enqueued once, whatever the number of workers and machines.
/// The expression and the time zone are checked at compile time (TASK012).
/// </summary>
/// <remarks>
/// The task method may take only the <see cref="System.Threading.CancellationToken"/>. After an outage
/// longer than a minute (no worker ran), only the latest missed occurrence is enqueued, once, and the
/// older ones are skipped and logged. Occurrences before the first worker saw the schedule never run.
/// </remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class RecurringAttribute : Attribute
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="cron">
    /// Five fields (<c>"0 7 * * *"</c>: minute, hour, day of month, month, day of week), six with
    /// seconds first (<c>"*/30 * * * * *"</c>), or a macro such as <c>"@daily"</c>, as Cronos reads them.
    /// </param>
    public RecurringAttribute(string cron) => Cron = cron;

    /// <summary>The cron expression.</summary>
    public string Cron { get; }

    /// <summary>
    /// The time zone the expression is read in, by IANA (<c>"Europe/Paris"</c>) or Windows id. Defaults to
    /// UTC. Daylight saving time is handled: a time skipped in spring runs at the end of the gap, a
    /// time repeated in autumn runs once.
    /// </summary>
    public string TimeZone { get; set; } = CronSchedules.DefaultTimeZone;
}
