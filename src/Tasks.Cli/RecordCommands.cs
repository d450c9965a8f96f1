using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks.Cli;

/// <summary>The task records (Table storage, beside the queues): show, list, cancel, delete, batch, workers.</summary>
internal static class RecordCommands
{
    private static readonly Argument<string> Id = new("id") { Description = "The task's id: the one Enqueue returned." };

    public static Command Show()
    {
        var command = new Command("show", "One task's record: state, arguments, times, worker, progress, and each attempt with its exception.") { Id };
        command.SetAction((parse, ct) => Connection.RunRecordsAsync(parse, async (records, output) =>
        {
            var id = parse.GetValue(Id)!;
            var record = await records.GetAsync(id, ct)
                ?? throw new NotFoundException(await records.GetBatchAsync(id, ct) is not null
                    ? $"'{id}' is a batch, not a task: tasks batch {id}"
                    : $"there is no record of task '{id}' (never enqueued with records on, or expired; check --prefix).");
            output.Write(Json(record), ["FIELD", "VALUE"], Fields(record), "");
            if (!output.IsJson && record.History.Count > 0)
            {
                Console.WriteLine();
                Console.WriteLine("ATTEMPT  STARTED               DURATION  OUTCOME       WORKER                EXCEPTION");
                foreach (var attempt in record.History)
                {
                    Console.WriteLine(string.Join("  ", Number(attempt.Attempt).PadRight(7), Output.Time(attempt.StartedAt).PadRight(20),
                        (attempt.Duration is { } d ? $"{d.TotalSeconds:0.000} s" : "running").PadRight(8), (attempt.Outcome?.ToString() ?? "").PadRight(12),
                        (attempt.Worker is { } w ? $"{w.Machine}/{w.ProcessId}" : "").PadRight(20), attempt.Exception is { } x ? $"{x.Type}: {Output.Short(x.Message, 80)}" : "").TrimEnd());
                }

                foreach (var attempt in record.History.Where(a => a.Exception?.StackTrace is not null))
                {
                    Console.WriteLine();
                    Console.WriteLine($"attempt {Number(attempt.Attempt)}: {attempt.Exception!.StackTrace}");
                }
            }

            return ExitCodes.Success;
        }));
        return command;
    }

    public static Command List()
    {
        var state = new Option<string?>("--state") { Description = "Only tasks in this state: scheduled, enqueued, running, retrying, succeeded, failed (dead-lettered), cancelled." };
        var task = new Option<string?>("--task") { Description = "Only this task (its wire name)." };
        var queue = new Option<string?>("--queue") { Description = "Only tasks of this queue." };
        var since = new Option<string?>("--since") { Description = "Only tasks due since then: a duration back from now (30m, 1h, 2d) or a time in ISO 8601." };
        var until = new Option<string?>("--until") { Description = "Only tasks due before then: a duration back from now or a time in ISO 8601." };
        var count = new Option<string?>("--count", "-n") { Description = "How many, 1 to 1,000. Default: 50." };
        var next = new Option<string?>("--continue") { Description = "The continuation token a previous list printed, for the next page." };
        var command = new Command("list", "Task records, newest first, a page at a time.") { state, task, queue, since, until, count, next };
        command.SetAction((parse, ct) => Connection.RunRecordsAsync(parse, async (records, output) =>
        {
            var query = new TaskRecordQuery
            {
                State = parse.GetValue(state) is { } s ? State(s) : null,
                TaskName = parse.GetValue(task),
                Queue = parse.GetValue(queue),
                From = Time(parse.GetValue(since), "--since"),
                To = Time(parse.GetValue(until), "--until"),
                PageSize = parse.GetValue(count) is { } text
                    ? int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 1000 ? n : throw new UsageException($"--count must be a whole number from 1 to 1,000, not '{text}'.")
                    : 50,
                ContinuationToken = parse.GetValue(next),
            };
            if (query.From >= query.To) throw new UsageException("--since must come before --until.");
            var page = await records.ListAsync(query, ct);
            output.Write(new { records = page.Records.Select(Json).ToArray(), continuationToken = page.ContinuationToken }, ["ID", "TASK", "STATE", "ATTEMPTS", "DUE", "FINISHED"],
                page.Records.Select(r => new[] { r.Id, r.TaskName ?? "", r.State.ToString(), $"{r.Attempts}/{r.MaxAttempts}", Output.Time(r.ScheduledFor), Output.Time(r.FinishedAt) }),
                $"No task records match{PrefixHint(parse)}.");
            if (!output.IsJson && page.ContinuationToken is { } token) Console.WriteLine($"More: tasks list ... --continue {token}");
            return ExitCodes.Success;
        }));
        return command;
    }

    public static Command Watch()
    {
        var id = new Option<string?>("--id") { Description = "Only this task (the id Enqueue returned): what happened to it so far, then each event as it happens, ending with its last." };
        var state = new Option<string?>("--state") { Description = "Only events that leave a task in this state: scheduled, enqueued, running, retrying, succeeded, failed (dead-lettered), cancelled." };
        var task = new Option<string?>("--task") { Description = "Only this task (its wire name)." };
        var queue = new Option<string?>("--queue") { Description = "Only tasks of this queue." };
        var command = new Command("watch", "A live tail of task events, one line each (enqueued, started, progress, retrying, succeeded, dead-lettered, cancelled), until Ctrl-C. Read from the records every second.") { id, state, task, queue };
        command.SetAction((parse, ct) => Connection.RunRecordsAsync(parse, async (records, output) =>
        {
            var filter = new TaskWatchFilter { TaskId = parse.GetValue(id), State = parse.GetValue(state) is { } s ? State(s) : null, TaskName = parse.GetValue(task), Queue = parse.GetValue(queue) };
            if (filter.TaskId is { } watched && await records.GetAsync(watched, ct) is null)
                throw new NotFoundException($"there is no record of task '{watched}' (never enqueued with records on, or expired; check --prefix).");
            if (!output.IsJson) Console.Error.WriteLine(filter.TaskId is null ? "Watching: events from now on, until Ctrl-C." : $"Watching task {filter.TaskId} until it ends (Ctrl-C to stop).");
            try
            {
                await foreach (var e in records.Watcher.WatchAsync(filter, ct)) Console.WriteLine(output.IsJson ? JsonSerializer.Serialize(e, JsonLine) : EventLine(e));
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Ctrl-C: the watch ends, and so does the command.
            }

            return ExitCodes.Success;
        }));
        return command;
    }

    // One event per line for scripts (JSON Lines), named as a web app's server-sent events name them.
    private static readonly JsonSerializerOptions JsonLine = new(JsonSerializerDefaults.Web);

    private static string EventLine(TaskEvent e)
    {
        var detail = e.Kind switch
        {
            TaskEventKind.Enqueued => "",
            TaskEventKind.Progress when e.Progress is { } p => $"attempt {Number(e.Attempt)}: {p.Fraction:P0}{(p.Note is { } note ? " " + Output.Short(note, 60) : "")}",
            TaskEventKind.DeadLettered or TaskEventKind.Cancelled => Output.Short(e.Reason, 100),
            _ => $"attempt {Number(e.Attempt)}",
        };
        return string.Join("  ", e.At.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture), e.TaskId, (e.TaskName ?? "").PadRight(24), e.Kind.ToString().PadRight(12), detail).TrimEnd();
    }

    public static Command Cancel()
    {
        var command = new Command("cancel", "Cancels a task: if it has not started it never runs; if it runs, its cancellation token fires on its worker within seconds.") { Id };
        command.SetAction((parse, ct) => Connection.RunRecordsAsync(parse, async (records, output) =>
        {
            var id = parse.GetValue(Id)!;
            var result = await records.CancelAsync(id, ct);
            output.Sentence(new { id, outcome = result.Outcome.ToString(), state = result.State?.ToString() }, result.Describe(id));
            return result.Outcome switch
            {
                TaskCancelOutcome.NotFound => ExitCodes.NotFound,
                TaskCancelOutcome.AlreadyFinished => ExitCodes.AlreadyFinished,
                _ => ExitCodes.Success,
            };
        }));
        return command;
    }

    public static Command Delete()
    {
        var command = new Command("delete", "Deletes a task: cancels it if it has not finished, deletes its dead letter if it has one, then its record.") { Id };
        command.SetAction((parse, ct) => Connection.RunAsync(parse, async (transport, output) =>
        {
            var id = parse.GetValue(Id)!;
            var operations = new TaskOperations(new TaskClient(transport), transport, Connection.Records(parse));
            var deleted = await operations.DeleteAsync(id, ct);
            output.Sentence(new { id, deleted }, deleted ? $"Task {id} is deleted." : $"There was nothing of task {id} to delete.");
            return deleted ? ExitCodes.Success : ExitCodes.NotFound;
        }));
        return command;
    }

    public static Command Batch()
    {
        var batchId = new Argument<string>("id") { Description = "The batch's id: TaskBatch.Id, or the batch a task's record names." };
        var command = new Command("batch", "A tracked batch: how many of its tasks succeeded, failed, were cancelled or are pending, and its callback.") { batchId };
        command.SetAction((parse, ct) => Connection.RunRecordsAsync(parse, async (records, output) =>
        {
            var id = parse.GetValue(batchId)!;
            var batch = await records.GetBatchAsync(id, ct) ?? throw new NotFoundException($"there is no tracked batch '{id}' (not tracked, or older than 14 days; check --prefix).");
            var done = batch.Total - batch.Pending;
            output.Write(batch, ["FIELD", "VALUE"],
            [
                ["id", batch.Id],
                ["progress", $"{done} of {batch.Total} finished ({Percent(batch.Total == 0 ? 1 : (double)done / batch.Total)})"],
                ["succeeded", Number(batch.Succeeded)],
                ["failed", Number(batch.Failed)],
                ["cancelled", Number(batch.Cancelled)],
                ["pending", Number(batch.Pending)],
                ["created at", Output.Time(batch.CreatedAt)],
                ["callback", batch.CallbackId is null ? "(none)" : batch.CallbackId + (batch.CallbackSentAt is { } sent ? $" (enqueued at {Output.Time(sent)})" : " (not yet enqueued)")],
            ], "");
            return ExitCodes.Success;
        }));
        return command;
    }

    public static Command Workers()
    {
        var command = new Command("workers", "The workers that sent a heartbeat in the last day: their queues, what they run, when they were last seen.");
        command.SetAction((parse, ct) => Connection.RunRecordsAsync(parse, async (records, output) =>
        {
            var workers = await records.ListWorkersAsync(ct);
            output.Write(workers, ["MACHINE", "PROCESS", "ALIVE", "LAST SEEN", "QUEUES", "RUNNING"],
                workers.Select(w => new[] { w.Worker.Machine, Number(w.Worker.ProcessId), w.IsAlive ? "yes" : "gone", Output.Time(w.LastSeen), string.Join(",", w.Queues), w.Running.Count == 0 ? "" : $"{w.Running.Count}: {Output.Short(string.Join(" ", w.Running), 60)}" }),
                $"No worker has sent a heartbeat in the last day{PrefixHint(parse)}.");
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>
    /// After a requeue the records read Enqueued again; after a purge they read purged, and the
    /// continuations that waited for those tasks are cancelled. A failure here does not undo the
    /// requeue or purge, so it is a warning.
    /// </summary>
    public static async Task TellRecordsAsync(ParseResult parse, string action, IReadOnlyList<TaskDeadLetter> done, CancellationToken cancellationToken)
    {
        var ids = done.Select(l => l.MessageId).ToArray();
        try
        {
            var records = Connection.Records(parse);
            await (action == "requeue" ? records.MarkRequeuedAsync(ids, cancellationToken) : records.MarkPurgedAsync(ids, cancellationToken));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Console.Error.WriteLine(action == "requeue"
                ? $"warning: the task records could not be told of the requeue (they read dead-lettered until the tasks run): {ex.Message}"
                : $"warning: the task records could not be told of the purge (their continuations still wait): {ex.Message}");
        }
    }

    /// <summary>The prefix the records were looked for under: the usual reason nothing is found.</summary>
    private static string PrefixHint(ParseResult parse)
        => Connection.QueuePrefix(parse) is { Length: > 0 } prefix ? $" under the queue prefix '{prefix}'" : " (no --prefix given: the apps' queue prefix, if they have one, must be given)";

    private static TaskState State(string text) => text.Replace("-", "", StringComparison.Ordinal).ToLowerInvariant() switch
    {
        "failed" or "deadlettered" or "dead" => TaskState.DeadLettered,
        "canceled" => TaskState.Cancelled,
        var name when Enum.TryParse<TaskState>(name, ignoreCase: true, out var state) => state,
        _ => throw new UsageException($"--state must be one of scheduled, enqueued, running, retrying, succeeded, failed, cancelled; not '{text}'."),
    };

    /// <summary>A duration back from now (30s, 30m, 1h, 2d) or a time in ISO 8601.</summary>
    private static DateTimeOffset? Time(string? text, string option)
    {
        if (text is null) return null;
        if (text.Length > 1 && double.TryParse(text[..^1], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount) && amount >= 0)
        {
            TimeSpan? back = text[^1] switch { 's' => TimeSpan.FromSeconds(amount), 'm' => TimeSpan.FromMinutes(amount), 'h' => TimeSpan.FromHours(amount), 'd' => TimeSpan.FromDays(amount), _ => null };
            if (back is { } span) return DateTimeOffset.UtcNow - span;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) ? time
            : throw new UsageException($"{option} must be a duration back from now (30m, 1h, 2d) or a time in ISO 8601 such as 2026-12-03T07:00:00Z, not '{text}'.");
    }

    private static IEnumerable<string[]> Fields(TaskRecord r)
    {
        yield return ["id", r.Id];
        yield return ["task", r.TaskName ?? "(unknown)"];
        yield return ["queue", r.Queue ?? ""];
        yield return ["state", r.State + (r.Note is null ? "" : $" ({r.Note})")];
        if (r.Reason is not null) yield return ["reason", r.Reason];
        if (r.WaitingFor is not null) yield return ["waiting for", r.WaitingFor];
        yield return ["attempts", $"{r.Attempts} of {r.MaxAttempts}"];
        yield return ["enqueued at", Output.Time(r.EnqueuedAt)];
        yield return ["scheduled for", Output.Time(r.ScheduledFor)];
        yield return ["started at", Output.Time(r.StartedAt)];
        if (r.NextAttemptAt is not null) yield return ["next attempt at", Output.Time(r.NextAttemptAt)];
        yield return ["finished at", Output.Time(r.FinishedAt)];
        if (r.Worker is { } w) yield return ["worker", $"{w.Machine} (process {w.ProcessId})"];
        if (r.Progress is { } p) yield return ["progress", Percent(p.Fraction) + (p.Note is null ? "" : $" {p.Note}") + $" (at {Output.Time(p.ReportedAt)})"];
        if (r.CancelRequestedAt is not null) yield return ["cancel asked at", Output.Time(r.CancelRequestedAt)];
        if (r.UniqueKey is not null) yield return ["unique lock", r.UniqueKey];
        if (r.ParentId is not null) yield return ["after", r.ParentId + (r.State == TaskState.AwaitingParent ? " (waiting for it)" : "")];
        if (r.Children.Count > 0) yield return ["continuations", string.Join(" ", r.Children)];
        if (r.BatchId is not null) yield return ["batch", r.BatchId];
        yield return ["arguments", r.ArgumentsJson ?? r.ArgumentsNote ?? "(not recorded)"];
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Percent(double fraction) => (fraction * 100).ToString("0", CultureInfo.InvariantCulture) + "%";

    /// <summary>The record for <c>--json</c>, with the arguments as JSON rather than a string of it.</summary>
    private static object Json(TaskRecord r) => new
    {
        r.Id, r.TaskName, r.Queue, State = r.State.ToString(), r.StateChangedAt, r.Note, r.Reason, r.WaitingFor, r.Attempts, r.MaxAttempts,
        Arguments = Shapes.Arguments(r.ArgumentsJson), r.ArgumentsNote, r.ArgumentsBytes,
        r.EnqueuedAt, r.ScheduledFor, r.StartedAt, r.NextAttemptAt, r.FinishedAt, r.Worker, r.Progress, r.CancelRequestedAt, r.UniqueKey,
        r.ParentId, r.Children, r.BatchId,
        History = r.History.Select(a => new { a.Attempt, a.StartedAt, a.FinishedAt, DurationMs = a.Duration?.TotalMilliseconds, Outcome = a.Outcome?.ToString(), a.Worker, a.Exception }).ToArray(),
    };
}
