using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Globalization;

namespace Tasks.Dashboard.Pages;

// The Razor SDK makes every component public, so the models they take are public too; they are the
// pages' own, not an API: hidden from IntelliSense, free to change, and not documented member by member.
#pragma warning disable CS1591

/// <summary>What every page needs: where the dashboard is mounted, its options, the antiforgery token of its forms, a message after an action.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed record DashboardPage(string BasePath, TasksDashboardOptions Options, string AntiforgeryField, string AntiforgeryToken, string? Message, string Current)
{
    public string Url(string relative) => BasePath + relative;

    public bool ReadOnly => Options.ReadOnly;

    /// <summary>The refresh interval as htmx writes it.</summary>
    public string Every => $"every {Math.Max(250, (int)Options.RefreshInterval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)}ms";

    public static string Time(DateTimeOffset? time) => time?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "";

    public static string Number(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static string Duration(TimeSpan? duration) => duration is not { } d ? "" : d.TotalSeconds < 1 ? $"{d.TotalMilliseconds:0} ms" : d.TotalMinutes < 2 ? $"{d.TotalSeconds:0.0} s" : $"{d.TotalMinutes:0.0} min";
}

/// <summary>One queue on the overview.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed record QueueRow(string Queue, bool Exists, long Messages, long DeadLetters, int Running, string? Problem)
{
    /// <summary>When it was paused, if it is; null when the transport cannot pause queues, or it is not paused.</summary>
    public DateTimeOffset? PausedSince { get; init; }

    /// <summary>Whether the transport can pause queues (a Pause button is offered).</summary>
    public bool CanPause { get; init; }
}

[EditorBrowsable(EditorBrowsableState.Never)]
public sealed record OverviewModel(IReadOnlyList<QueueRow> Queues, IReadOnlyList<TaskStateCounts> PerMinute, TaskStateCounts? LastHour, IReadOnlyList<TaskWorkerInfo> Workers, IReadOnlyList<TaskScheduleInfo> Schedules, bool HasRecords)
{
    /// <summary>What could not be read (a storage service that did not answer, named), shown in place of what it would have shown.</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];
}

[EditorBrowsable(EditorBrowsableState.Never)]
public sealed record TaskListModel(TaskRecordPage Page, TaskRecordQuery Query, string? Since, TaskStateCounts? Counts, IReadOnlyList<string> TaskNames, IReadOnlyList<string> Queues);

[EditorBrowsable(EditorBrowsableState.Never)]
public sealed record TaskDetailModel(TaskRecord Record, bool HideArguments, string? ArgumentsPretty);

[EditorBrowsable(EditorBrowsableState.Never)]
public sealed record DeadLettersModel(IReadOnlyList<string> Queues, IReadOnlyDictionary<string, long> Counts, string? Queue, IReadOnlyList<TaskDeadLetter> Letters, Func<string?, bool> HideArguments);

[EditorBrowsable(EditorBrowsableState.Never)]
public sealed record RecurringModel(IReadOnlyList<TaskScheduleInfo> Schedules);

[EditorBrowsable(EditorBrowsableState.Never)]
public sealed record WorkersModel(IReadOnlyList<TaskWorkerInfo> Workers);

[EditorBrowsable(EditorBrowsableState.Never)]
public sealed record LimitsModel(IReadOnlyList<Tasks.Transports.LimitState> Limits, bool Kept);
