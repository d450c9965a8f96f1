using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.Metrics;
using System.Linq;

namespace Tasks.EntityFrameworkCore;

/// <summary>
/// The outbox's depth and its oldest row's age, per context and database, on the "Tasks" meter. Relays measure them (one count query
/// every 10 s) only while something listens to these instruments.
/// </summary>
internal static class OutboxMetrics
{
    private static readonly Meter Meter = new(TasksTelemetry.Name);
    private static readonly ConcurrentDictionary<(string Context, string Database), (long Depth, double OldestAge)> Latest = new();

    private static readonly ObservableGauge<long> Depth = Meter.CreateObservableGauge("tasks.outbox.depth",
        () => Latest.Select(l => new Measurement<long>(l.Value.Depth, Tags(l.Key))), unit: "{row}", description: "Outbox rows not sent yet.");

    private static readonly ObservableGauge<double> OldestAge = Meter.CreateObservableGauge("tasks.outbox.oldest_age",
        () => Latest.Select(l => new Measurement<double>(l.Value.OldestAge, Tags(l.Key))), unit: "s", description: "How long the oldest outbox row has waited.");

    public static bool Observed => Depth.Enabled || OldestAge.Enabled;

    public static void Set(string context, string database, long depth, double oldestAge) => Latest[(context, database)] = (depth, oldestAge);

    private static KeyValuePair<string, object?>[] Tags((string Context, string Database) key) => [new("context", key.Context), new("database", key.Database)];
}
