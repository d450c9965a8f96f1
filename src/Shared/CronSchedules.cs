using System;
using Cronos;

namespace Tasks;

/// <summary>
/// How a <c>[Recurring]</c> schedule is read, compiled into both the generator (which checks it where
/// it is written) and the runtime (which runs it), so both accept exactly the same schedules.
/// </summary>
internal static class CronSchedules
{
    public const string DefaultTimeZone = "UTC";

    /// <summary>Parses five fields (minute to day of week) or six (seconds first), or a macro such as <c>@daily</c>.</summary>
    /// <exception cref="CronFormatException">The expression is not a cron expression; the message says where.</exception>
    public static CronExpression Parse(string cron)
    {
        var fields = cron.Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries).Length;
        return CronExpression.Parse(cron, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
    }

    /// <summary>Finds a time zone by IANA (<c>Europe/Paris</c>) or Windows (<c>Romance Standard Time</c>) id.</summary>
    /// <returns>False if this machine does not know the id.</returns>
    public static bool TryFindTimeZone(string id, out TimeZoneInfo zone)
    {
        if (string.Equals(id, DefaultTimeZone, StringComparison.OrdinalIgnoreCase))
        {
            zone = TimeZoneInfo.Utc;
            return true;
        }

        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            return true;
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException or ArgumentException)
        {
            zone = TimeZoneInfo.Utc;
            return false;
        }
    }
}
