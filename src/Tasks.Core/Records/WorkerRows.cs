using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>
/// The workers' heartbeats: a row each in the workers table, replaced whole by its worker, read by the dashboard
/// and by a record whose worker may be gone; rows silent for a day are forgotten.
/// </summary>
internal sealed class WorkerRows(IRecordTables tables, TaskRecordOptions options, TimeProvider time)
{
    private static readonly TimeSpan ForgetAfter = TimeSpan.FromDays(1);

    /// <summary>Writes a worker's heartbeat (<paramref name="stopped"/> at its end).</summary>
    public async ValueTask WriteHeartbeatAsync(TaskWorkerIdentity worker, IReadOnlyCollection<string> queues, IReadOnlyCollection<(string Id, string Queue)> running, DateTimeOffset startedAt, bool stopped, CancellationToken cancellationToken)
    {
        var row = new RecordEntity(RecordFormat.WorkerPartition, worker.Id)
            .Set("Machine", worker.Machine)
            .Set("Pid", worker.ProcessId)
            .Set("Queues", string.Join(",", queues))
            .Set("Running", string.Join(",", running.Take(100).Select(r => r.Id)))
            .Set("InFlight", string.Join(",", running.GroupBy(r => r.Queue, StringComparer.Ordinal).Select(g => $"{g.Key}={g.Count()}")))
            .Set("StartedAt", startedAt)
            .Set("LastSeen", time.GetUtcNow())
            .Set("Stopped", stopped);
        await tables.ReplaceInAsync(RecordFormat.WorkersTable, row, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The workers seen within a day.</summary>
    public async ValueTask<IReadOnlyList<TaskWorkerInfo>> ListAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        return (await AllAsync(cancellationToken).ConfigureAwait(false)).Select(ToWorker).Where(w => w.LastSeen > now - ForgetAfter)
            .OrderBy(w => w.Worker.Machine, StringComparer.Ordinal).ThenBy(w => w.Worker.ProcessId).ToArray();
    }

    /// <summary>One worker, or null if it has no heartbeat.</summary>
    public async ValueTask<TaskWorkerInfo?> GetAsync(string workerId, CancellationToken cancellationToken)
        => await tables.ReadRowAsync(RecordFormat.WorkersTable, RecordFormat.WorkerPartition, workerId, cancellationToken).ConfigureAwait(false) is { } row ? ToWorker(row) : null;

    /// <summary>Deletes the rows of workers silent for a day. Safe in every worker at once.</summary>
    public async ValueTask ForgetSilentAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var worker in await AllAsync(cancellationToken).ConfigureAwait(false))
        {
            if ((worker.Get<DateTimeOffset>("LastSeen") ?? DateTimeOffset.MinValue) < now - ForgetAfter)
                await tables.DeleteAsync(RecordFormat.WorkersTable, worker.PartitionKey, worker.RowKey, worker.ETag, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A task its gone worker left Running waits for its message to come back: it reads as Enqueued, with a note.</summary>
    public static TaskRecord ResolveGone(TaskRecord record, TaskWorkerInfo? worker)
    {
        if (worker is { IsAlive: true }) return record;
        var seen = worker is null ? "has no heartbeat" : $"was last seen at {worker.LastSeen:u}";
        return new TaskRecord
        {
            Id = record.Id, TaskName = record.TaskName, Queue = record.Queue, State = TaskState.Enqueued, StateChangedAt = record.StateChangedAt,
            Attempts = record.Attempts, MaxAttempts = record.MaxAttempts, ArgumentsJson = record.ArgumentsJson, ArgumentsNote = record.ArgumentsNote,
            ArgumentsBytes = record.ArgumentsBytes, EnqueuedAt = record.EnqueuedAt, ScheduledFor = record.ScheduledFor, StartedAt = record.StartedAt,
            Worker = record.Worker, Progress = record.Progress, CancelRequestedAt = record.CancelRequestedAt, UniqueKey = record.UniqueKey, History = record.History,
            Note = $"Its worker {record.Worker!.Machine} (process {record.Worker.ProcessId}) {seen}: the task runs again when its message's lease ends.",
        };
    }

    private Task<IReadOnlyList<RecordEntity>> AllAsync(CancellationToken cancellationToken)
        => tables.QueryOrEmptyAsync(RecordFormat.WorkersTable, new RecordQuery(RecordFormat.WorkerPartition), cancellationToken);

    private TaskWorkerInfo ToWorker(RecordEntity row)
    {
        var lastSeen = row.Get<DateTimeOffset>("LastSeen") ?? DateTimeOffset.MinValue;
        static string[] List(string? text) => string.IsNullOrEmpty(text) ? [] : text.Split(',');
        return new TaskWorkerInfo(
            new TaskWorkerIdentity(row.RowKey, row.GetString("Machine") ?? "", row.Get<int>("Pid") ?? 0),
            List(row.GetString("Queues")),
            List(row.GetString("Running")),
            List(row.GetString("InFlight")).Select(p => p.Split('=')).Where(p => p.Length == 2 && int.TryParse(p[1], NumberStyles.None, CultureInfo.InvariantCulture, out _))
                .ToDictionary(p => p[0], p => int.Parse(p[1], NumberStyles.None, CultureInfo.InvariantCulture), StringComparer.Ordinal),
            row.Get<DateTimeOffset>("StartedAt") ?? lastSeen,
            lastSeen,
            row.Get<bool>("Stopped") != true && lastSeen > time.GetUtcNow() - options.WorkerGoneAfter);
    }
}
