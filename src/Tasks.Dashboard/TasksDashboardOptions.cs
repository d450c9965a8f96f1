using System;

namespace Tasks.Dashboard;

/// <summary>How the dashboard looks and what it allows. Set with <c>services.AddTasksDashboard(o => ...)</c>.</summary>
public sealed class TasksDashboardOptions
{
    /// <summary>The title on every page. Default: "Tasks".</summary>
    public string Title { get; set; } = "Tasks";

    /// <summary>Show everything and change nothing: no buttons, and every action answers 403. Default: false.</summary>
    public bool ReadOnly { get; set; }

    /// <summary>Never show task arguments (they are always hidden for tasks marked <c>PersonalData</c>). Default: false.</summary>
    public bool HideArguments { get; set; }

    /// <summary>How often live parts of a page (counts, progress) refresh where JavaScript is on. Default: 2 seconds.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A link back to your app in the header, e.g. <c>"/"</c>; none if null.</summary>
    public string? AppLink { get; set; }

    /// <summary>The text of <see cref="AppLink"/>. Default: "Back to the app".</summary>
    public string AppLinkText { get; set; } = "Back to the app";

    /// <summary>
    /// Serve requests from other machines without an authorization policy. Default: false: until the
    /// endpoints require authorization (<c>MapTasksDashboard(...).RequireAuthorization("ops")</c>), only
    /// requests from this machine are served, and the others get 403.
    /// </summary>
    public bool AllowRemoteRequestsWithoutAuthorization { get; set; }

    internal void Validate()
    {
        if (RefreshInterval < TimeSpan.FromMilliseconds(250))
            throw new ArgumentOutOfRangeException(nameof(RefreshInterval), RefreshInterval, "TasksDashboardOptions.RefreshInterval must be at least 250 ms.");
    }
}
