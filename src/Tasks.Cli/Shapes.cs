using System;
using System.Linq;
using System.Text.Json;
using Tasks.Azure;
using Tasks.Transports;

namespace Tasks.Cli;

/// <summary>
/// What <c>--json</c> writes: one shape for a message, peeked or dead, with the same names, and
/// the arguments as JSON (not a string of JSON) so a script can read them with its JSON tool.
/// </summary>
internal static class Shapes
{
    public static PeekedJson Of(PeekedTaskMessage message)
        => new(message.Envelope.MessageId ?? message.TransportMessageId, message.TransportMessageId, message.Envelope.TaskName, message.DequeueCount,
            message.Envelope.EnqueuedAt ?? message.InsertedOn, Arguments(message.Envelope.ArgumentsJson), message.Envelope.Problem);

    public static DeadLetterJson Of(TaskDeadLetter letter)
        => new(letter.MessageId, letter.Queue, letter.TaskName, letter.Attempt, letter.EnqueuedAt, letter.DeadLetteredAt,
            letter.Reason, letter.ExceptionType, letter.ExceptionMessage, Arguments(letter.ArgumentsJson), letter.ArgumentsNote);

    public static LimitJson Of(LimitState limit)
        => new(limit.Scope.Name, limit.Scope.Key, limit.Scope.Kind == TaskLimitKind.Rate ? "rate" : "concurrency", limit.Scope.Limit,
            limit.Held.Select(p => new LimitHolderJson(p.Holder.TaskId, p.Holder.TaskName, p.Holder.Worker, p.Holder.Since, p.Until)).ToArray(),
            limit.Waiters.Select(w => new LimitWaiterJson(w.TaskId, w.TaskName, w.Since, w.Until)).ToArray());

    /// <summary>What the TASK column says of a message that names no task.</summary>
    public static string TaskLabel(TaskEnvelopeSummary envelope)
        => envelope.TaskName ?? "(unreadable)";

    public static JsonElement? Arguments(string? json)
    {
        if (json is null) return null;
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    public sealed record PeekedJson(string MessageId, string TransportMessageId, string? TaskName, int DequeueCount, DateTimeOffset? EnqueuedAt, JsonElement? Arguments, string? Problem);

    public sealed record LimitJson(string Name, string Key, string Kind, int Limit, LimitHolderJson[] Held, LimitWaiterJson[] Waiting);

    public sealed record LimitHolderJson(string TaskId, string TaskName, string Worker, DateTimeOffset Since, DateTimeOffset Until);

    public sealed record LimitWaiterJson(string TaskId, string TaskName, DateTimeOffset Since, DateTimeOffset Until);

    public sealed record DeadLetterJson(string MessageId, string Queue, string? TaskName, int Attempt, DateTimeOffset? EnqueuedAt, DateTimeOffset DeadLetteredAt, string Reason, string? ExceptionType, string? ExceptionMessage, JsonElement? Arguments, string? ArgumentsNote);
}
