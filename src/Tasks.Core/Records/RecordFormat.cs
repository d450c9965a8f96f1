using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace Tasks;

/// <summary>
/// The layout of the record tables (see docs/records.md): table names by UTC day, keys from the id,
/// and each record's properties. One place, shared by every store, so the in-memory store keeps the
/// records exactly as Azure Table storage does.
/// </summary>
internal static class RecordFormat
{
    /// <summary>Records of tasks due on a day, from enqueue to success: dropped whole after the succeeded-record retention.</summary>
    public const string LiveTablePrefix = "tasks";

    /// <summary>Records of tasks dead-lettered or cancelled, cancel requests and counters of a day: dropped after the failed-record retention.</summary>
    public const string FailedTablePrefix = "tasksfailed";

    public const string WorkersTable = "tasksworkers";
    public const string UniqueTable = "tasksunique";

    public const string CancelPartition = "cancel";
    public const string CountPartition = "count";
    public const string WorkerPartition = "w";

    /// <summary>Record partitions: a queue at 2,000 tasks/s writes about 500 rows a second into each, a quarter of a partition's target.</summary>
    public const int Buckets = 8;

    /// <summary>The due time of a task's id; null for an id that is not one of ours, or that names a record group's row (no task has it).</summary>
    public static DateTimeOffset? DueOfTask(string? id) => TaskHeaders.IsGroupId(id) ? null : TaskHeaders.DueOf(id);

    public static string DayText(DateTimeOffset time) => time.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture);

    public static string LiveTable(DateTimeOffset due) => LiveTablePrefix + DayText(due);

    public static string FailedTable(DateTimeOffset due) => FailedTablePrefix + DayText(due);

    /// <summary>The day of a record table, and whether it keeps failed records; null for a table that is not a day table.</summary>
    public static (DateTimeOffset Day, bool Failed)? DayTable(string table)
    {
        var failed = table.StartsWith(FailedTablePrefix, StringComparison.Ordinal);
        var prefix = failed ? FailedTablePrefix : LiveTablePrefix;
        if (!table.StartsWith(prefix, StringComparison.Ordinal) || table.Length != prefix.Length + 8) return null;
        return DateTime.TryParseExact(table.AsSpan(prefix.Length), "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var day)
            ? (new DateTimeOffset(day, TimeSpan.Zero), failed)
            : null;
    }

    /// <summary>The end of the UTC day of <paramref name="time"/>.</summary>
    public static DateTimeOffset EndOfDay(DateTimeOffset time) => new DateTimeOffset(time.UtcDateTime.Date, TimeSpan.Zero).AddDays(1);

    /// <summary>Whether the table of day <paramref name="due"/> has outlived <paramref name="retention"/>, so it is (or will be) dropped and must not be made again.</summary>
    public static bool Expired(DateTimeOffset due, TimeSpan retention, DateTimeOffset now) => now >= EndOfDay(due) + retention;

    /// <summary>A stable hash (FNV-1a), never <c>string.GetHashCode</c>, which differs per process.</summary>
    public static uint Hash(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text) hash = (hash ^ c) * 16777619u;
        return hash;
    }

    /// <summary>A record's partition: by its id, or a group member's by its group's, so a group's rows are one range of one partition.</summary>
    public static string RecordPartition(string id) => "r" + (Hash(TaskHeaders.GroupOf(id)?.GroupId ?? id) % Buckets).ToString(CultureInfo.InvariantCulture);

    public static IEnumerable<string> RecordPartitions() => Enumerable.Range(0, Buckets).Select(b => "r" + b.ToString(CultureInfo.InvariantCulture));

    /// <summary>The row key: the due time inverted (so rows sort newest first), then the id.</summary>
    public static string RecordRow(string id, DateTimeOffset due)
        => (0xFFFF_FFFF_FFFFL - due.ToUnixTimeMilliseconds()).ToString("x12", CultureInfo.InvariantCulture) + id;

    /// <summary>The first row key of tasks due before <paramref name="time"/> (newest first: keys grow as time falls).</summary>
    public static string RowBound(DateTimeOffset time) => (0xFFFF_FFFF_FFFFL - time.ToUnixTimeMilliseconds()).ToString("x12", CultureInfo.InvariantCulture);

    public static string IdOfRow(string rowKey) => rowKey.Length > 12 ? rowKey[12..] : rowKey;

    /// <summary>
    /// The row of tasks enqueued together in a batch (a record group, see <see cref="TaskHeaders.NewGroupIds"/>): what
    /// they share once, and each member's arguments in a property of its own (<c>M</c> and its index). A worker's writes
    /// go to each member's own row, next to it; a read puts the two together.
    /// </summary>
    public static RecordEntity ToGroupEntity(string groupId, IReadOnlyList<RecordWrite> members, DateTimeOffset due)
    {
        var first = members[0];
        var shared = new RecordWrite(groupId)
        {
            TaskName = first.TaskName, Queue = first.Queue, MaxAttempts = first.MaxAttempts, EnqueuedAt = first.EnqueuedAt, ScheduledFor = first.ScheduledFor,
            State = first.State, StateAt = first.StateAt, Continuable = first.Continuable, BatchId = first.BatchId,
        };
        var row = ToEntity(shared, due).Set(GroupProperty, members.Count);
        foreach (var member in members) row.Set(MemberProperty(TaskHeaders.GroupOf(member.Id)!.Value.Index), MemberText(member));
        return row;
    }

    /// <summary>How many characters a member takes in its group's row (a row holds at most 1 MB, a property 64 KB).</summary>
    public static int MemberChars(RecordWrite member) => 48 + (member.ArgumentsJson?.Length ?? 0) + (member.ArgumentsNote?.Length ?? 0);

    /// <summary>The property a group row has, with the number of its members; a record row never has it.</summary>
    public const string GroupProperty = "Members";

    /// <summary>A member of a group as a row of its own: the group's shared properties and its arguments; null if the group has no such member (or it was deleted).</summary>
    public static RecordEntity? MemberEntity(RecordEntity groupRow, string memberId, int index)
    {
        if (groupRow.GetString(MemberProperty(index)) is not { Length: > 0 } text || TaskHeaders.DueOf(memberId) is not { } due) return null;
        var member = new RecordEntity(groupRow.PartitionKey, RecordRow(memberId, due)) { ETag = groupRow.ETag, Timestamp = groupRow.Timestamp };
        foreach (var (name, value) in groupRow.Properties)
        {
            if (name != GroupProperty && !(name.Length > 1 && name[0] == 'M' && char.IsDigit(name[1]))) member.Properties[name] = value;
        }

        member.Set("Id", memberId);
        // "<bytes>:a<arguments json>", or "<bytes>:n<note>", or "<bytes>:" (see MemberText).
        var colon = text.IndexOf(':');
        if (colon > 0 && int.TryParse(text.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var bytes)) member.Set("ArgsBytes", bytes);
        if (colon + 1 < text.Length) member.Set(text[colon + 1] == 'a' ? "Args" : "ArgsNote", text[(colon + 2)..]);
        return member;
    }

    /// <summary>Every member of a group row, as rows of their own, in row-key order.</summary>
    public static IEnumerable<RecordEntity> MemberEntities(RecordEntity groupRow)
    {
        var groupId = IdOfRow(groupRow.RowKey);
        return groupRow.Properties.Keys
            .Where(name => name.Length > 1 && name[0] == 'M' && char.IsDigit(name[1]))
            .Select(name => int.Parse(name.AsSpan(1), CultureInfo.InvariantCulture))
            .Select(index => MemberEntity(groupRow, TaskHeaders.MemberId(groupId, index), index))
            .Where(member => member is not null)
            .OrderBy(member => member!.RowKey, StringComparer.Ordinal)!;
    }

    /// <summary>Whether a row is a group's (see <see cref="ToGroupEntity"/>), not a record's.</summary>
    public static bool IsGroupRow(RecordEntity row) => row.Properties.ContainsKey(GroupProperty);

    /// <summary>The key just past every row of the group of <paramref name="rowKey"/> (a group's or a member's row), or null for a row of a task of its own.</summary>
    public static string? GroupRangeEnd(string rowKey)
        => TaskHeaders.GroupOf(IdOfRow(rowKey)) is not null || TaskHeaders.IsGroupId(IdOfRow(rowKey)) ? rowKey[..^2] + "~" : null;

    /// <summary>The key of the group row of <paramref name="rowKey"/>'s range: ids of a group differ only in their last two characters.</summary>
    public static string GroupRangeStart(string rowKey) => rowKey[..^2];

    /// <summary>Marks a member deleted in its group's row: a merge cannot drop a property, so it is emptied.</summary>
    public static RecordEntity DeletedMember(string groupId, int index, DateTimeOffset due)
        => new RecordEntity(RecordPartition(groupId), RecordRow(groupId, due)).Set(MemberProperty(index), "");

    private static string MemberProperty(int index) => "M" + index.ToString(CultureInfo.InvariantCulture);

    /// <summary>A member's part of its group's row: the size of its arguments, then their JSON or the note that stands for it.</summary>
    private static string MemberText(RecordWrite member)
        => (member.ArgumentsBytes ?? 0).ToString(CultureInfo.InvariantCulture) + ":" + (member.ArgumentsJson is { } json ? "a" + json : member.ArgumentsNote is { } note ? "n" + note : "");

    /// <summary>The property that marks a continuation on its parent's row: <c>C</c> and the id's 16 bytes in hex (a property name takes no '-').</summary>
    public static string ChildProperty(string id)
    {
        Span<char> chars = stackalloc char[24];
        for (var i = 0; i < id.Length && i < 22; i++) chars[i] = id[i] switch { '-' => '+', '_' => '/', var c => c };
        chars[22] = chars[23] = '=';
        Span<byte> bytes = stackalloc byte[18];
        return id.Length == 22 && Convert.TryFromBase64Chars(chars, bytes, out var written) && written == 16 ? "C" + Convert.ToHexString(bytes[..16]) : "C" + Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(id));
    }

    private static string? ChildOf(string property)
    {
        if (property.Length != 33 || property[0] != 'C') return null;
        try
        {
            return Convert.ToBase64String(Convert.FromHexString(property.AsSpan(1))).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public static string HistoryProperty(TaskAttempt attempt) => "H" + attempt.StartedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);

    /// <summary>One row of a record moved between tables: the properties of <paramref name="earlier"/> (if any), then <paramref name="later"/>'s over them.</summary>
    public static RecordEntity Combine(RecordEntity? earlier, RecordEntity later)
    {
        var combined = new RecordEntity(later.PartitionKey, later.RowKey);
        foreach (var (name, value) in (earlier?.Properties ?? []).Concat(later.Properties)) combined.Properties[name] = value;
        return combined;
    }

    /// <summary>The row of <paramref name="write"/>: only the fields it has, so a merge leaves the others alone.</summary>
    public static RecordEntity ToEntity(RecordWrite write, DateTimeOffset due)
    {
        var row = new RecordEntity(RecordPartition(write.Id), RecordRow(write.Id, due))
            .Set("Id", write.Id)
            .Set("Task", write.TaskName)
            .Set("Queue", write.Queue)
            .Set("MaxAttempts", write.MaxAttempts)
            .Set("EnqueuedAt", write.EnqueuedAt)
            .Set("ScheduledFor", write.ScheduledFor)
            .Set("Args", write.ArgumentsJson)
            .Set("ArgsNote", write.ArgumentsNote)
            .Set("ArgsBytes", write.ArgumentsBytes)
            .Set("UniqueKey", write.UniqueKey)
            .Set("State", write.State?.ToString())
            .Set("StateAt", write.StateAt)
            .Set("Attempt", write.Attempt)
            .Set("StartedAt", write.StartedAt)
            .Set("FinishedAt", write.FinishedAt)
            .Set("NextAttemptAt", write.NextAttemptAt)
            .Set("CancelRequestedAt", write.CancelRequestedAt)
            .Set("Reason", write.Reason)
            .Set("WaitingFor", write.WaitingFor)
            .Set("Parent", write.ParentId)
            .Set("Continuable", write.Continuable)
            .Set("Purged", write.Purged)
            .Set("Batch", write.BatchId);
        foreach (var child in write.ChildIds ?? []) row.Set(ChildProperty(child), true);
        if (write.Worker is { } worker) row.Set("WorkerId", worker.Id).Set("Machine", worker.Machine).Set("Pid", worker.ProcessId);
        if (write.Progress is { } progress) row.Set("Progress", progress.Fraction).Set("ProgressNote", progress.Note ?? "").Set("ProgressAt", progress.ReportedAt);
        if (write.History is not null)
        {
            foreach (var (name, attempt) in write.History) row.Set(name, AttemptJson(attempt));
        }

        return row;
    }

    /// <summary>
    /// One record from its rows (a record may have a row in each table for a while, as it moves):
    /// the row whose state is newer wins each field, and history entries add up.
    /// </summary>
    public static TaskRecord? ToRecord(string id, DateTimeOffset due, IEnumerable<RecordEntity?> rows, DateTimeOffset now)
    {
        var ordered = rows.Where(r => r is not null).OrderBy(r => r!.Get<DateTimeOffset>("StateAt") ?? DateTimeOffset.MinValue).ToArray();
        if (ordered.Length == 0) return null;
        var merged = new RecordEntity(ordered[0]!.PartitionKey, ordered[0]!.RowKey);
        foreach (var row in ordered)
        {
            foreach (var (name, value) in row!.Properties) merged.Properties[name] = value;
        }

        // Waiting reads as Scheduled until its time, then as Enqueued: no write marks the moment.
        var state = Enum.TryParse<TaskState>(merged.GetString("State"), out var written) ? written : TaskState.Enqueued;
        if (state is TaskState.Scheduled or TaskState.Enqueued)
            state = merged.Get<DateTimeOffset>("ScheduledFor") is { } scheduled && scheduled > now ? TaskState.Scheduled : TaskState.Enqueued;
        var history = merged.Properties
            .Where(p => p.Key.Length > 1 && p.Key[0] == 'H' && char.IsDigit(p.Key[1]) && p.Value is string)
            .Select(p => ReadAttempt((string)p.Value!))
            .Where(a => a is not null)
            .OrderBy(a => a!.StartedAt)
            .ToArray();
        var progress = merged.Get<double>("Progress") is { } fraction
            ? new TaskProgress(fraction, merged.GetString("ProgressNote") is { Length: > 0 } note ? note : null, merged.Get<DateTimeOffset>("ProgressAt") ?? now)
            : null;
        var workerId = merged.GetString("WorkerId");
        return new TaskRecord
        {
            Id = id,
            TaskName = merged.GetString("Task"),
            Queue = merged.GetString("Queue"),
            State = state,
            StateChangedAt = merged.Get<DateTimeOffset>("StateAt") ?? merged.Get<DateTimeOffset>("EnqueuedAt"),
            Attempts = merged.Get<int>("Attempt") ?? history.Length,
            MaxAttempts = merged.Get<int>("MaxAttempts") ?? 0,
            ArgumentsJson = merged.GetString("Args"),
            ArgumentsNote = merged.GetString("ArgsNote"),
            ArgumentsBytes = merged.Get<int>("ArgsBytes"),
            EnqueuedAt = merged.Get<DateTimeOffset>("EnqueuedAt"),
            ScheduledFor = merged.Get<DateTimeOffset>("ScheduledFor") ?? due,
            StartedAt = merged.Get<DateTimeOffset>("StartedAt") ?? history.FirstOrDefault()?.StartedAt,
            FinishedAt = state is TaskState.Succeeded or TaskState.DeadLettered or TaskState.Cancelled ? merged.Get<DateTimeOffset>("FinishedAt") : null,
            NextAttemptAt = state == TaskState.Retrying ? merged.Get<DateTimeOffset>("NextAttemptAt") : null,
            Worker = workerId is null ? null : new TaskWorkerIdentity(workerId, merged.GetString("Machine") ?? "", merged.Get<int>("Pid") ?? 0),
            Progress = progress,
            CancelRequestedAt = merged.Get<DateTimeOffset>("CancelRequestedAt"),
            Reason = state is TaskState.DeadLettered or TaskState.Cancelled ? merged.GetString("Reason") : null,
            WaitingFor = state is TaskState.Scheduled or TaskState.Enqueued && merged.GetString("WaitingFor") is { Length: > 0 } waiting ? waiting : null,
            UniqueKey = merged.GetString("UniqueKey"),
            ParentId = merged.GetString("Parent"),
            Continuable = merged.Get<bool>("Continuable") == true,
            DeadLetterPurged = state == TaskState.DeadLettered && merged.Get<bool>("Purged") == true,
            BatchId = merged.GetString("Batch"),
            Children = merged.Properties.Keys.Select(ChildOf).Where(c => c is not null).Order(StringComparer.Ordinal).ToArray()!,
            History = history!,
        };
    }

    public static string AttemptJson(TaskAttempt attempt)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("a", attempt.Attempt);
            json.WriteNumber("s", attempt.StartedAt.ToUnixTimeMilliseconds());
            if (attempt.FinishedAt is { } finished) json.WriteNumber("e", finished.ToUnixTimeMilliseconds());
            if (attempt.Outcome is { } outcome) json.WriteString("o", outcome.ToString());
            if (attempt.Worker is { } worker)
            {
                json.WriteString("w", worker.Id);
                json.WriteString("m", worker.Machine);
                json.WriteNumber("p", worker.ProcessId);
            }

            if (attempt.Exception is { } exception)
            {
                json.WriteString("xt", exception.Type);
                json.WriteString("xm", exception.Message);
                if (exception.StackTrace is not null) json.WriteString("xs", exception.StackTrace);
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static TaskAttempt? ReadAttempt(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            string? String(string name) => root.TryGetProperty(name, out var value) ? value.GetString() : null;
            DateTimeOffset? Time(string name) => root.TryGetProperty(name, out var value) ? DateTimeOffset.FromUnixTimeMilliseconds(value.GetInt64()) : null;
            var worker = String("w") is { } id ? new TaskWorkerIdentity(id, String("m") ?? "", root.TryGetProperty("p", out var pid) ? pid.GetInt32() : 0) : null;
            var exception = String("xt") is { } type ? new TaskExceptionInfo(type, String("xm") ?? "", String("xs")) : null;
            return new TaskAttempt(
                root.GetProperty("a").GetInt32(),
                Time("s")!.Value,
                Time("e"),
                Enum.TryParse<TaskOutcome>(String("o"), out var outcome) ? outcome : null,
                worker,
                exception);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            return null; // a hand-edited row: the rest of the record still reads
        }
    }

    /// <summary>An exception as a record keeps it, trimmed as <paramref name="options"/> say.</summary>
    public static TaskExceptionInfo? Trim(Exception? exception, TaskRecordOptions options)
        => exception is null ? null : new TaskExceptionInfo(exception.GetType().FullName ?? exception.GetType().Name, Trimmed(exception.Message, options.MaxExceptionMessageChars)!, Trimmed(exception.ToString(), options.MaxStackTraceChars));

    public static string? Trimmed(string? text, int max) => text is { } t && t.Length > max ? t[..max] + "…" : text;
}
