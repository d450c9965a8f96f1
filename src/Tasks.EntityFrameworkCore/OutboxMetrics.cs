using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.Metrics;
using System.Linq;

namespace Tasks.EntityFrameworkCore;

/// <summary>
/// The outbox's depth and its oldest row's age, per context, on the "Tasks" meter. Relays measure them (one count query
/// every 10 s) only while something listens to these instruments.
/// </summary>
internal static class OutboxMetrics
{
    private static readonly Meter Meter = new(TasksTelemetry.Name);
    private static readonly ConcurrentDictionary<string, (long Depth, double OldestAge)> Latest = new();

    private static readonly ObservableGauge<long> Depth = Meter.CreateObservableGauge("tasks.outbox.depth",
        () => Latest.Select(l => new Measurement<long>(l.Value.Depth, new KeyValuePair<string, object?>("context", l.Key))), unit: "{row}", description: "Outbox rows not sent yet.");

    private static readonly ObservableGauge<double> OldestAge = Meter.CreateObservableGauge("tasks.outbox.oldest_age",
        () => Latest.Select(l => new Measurement<double>(l.Value.OldestAge, new KeyValuePair<string, object?>("context", l.Key))), unit: "s", description: "How long the oldest outbox row has waited.");

    public static bool Observed => Depth.Enabled || OldestAge.Enabled;

    public static void Set(string context, long depth, double oldestAge) => Latest[context] = (depth, oldestAge);
}
