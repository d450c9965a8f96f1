using System;
using Microsoft.Extensions.Logging;

namespace Tasks.EntityFrameworkCore;

internal static partial class OutboxLog
{
    [LoggerMessage(EventId = 60, Level = LogLevel.Warning, Message = "Task {Id} was committed to the outbox and not sent at once; a relay sends it after the {GraceSeconds} s grace period.")]
    public static partial void SendFailed(ILogger logger, Exception exception, string id, double graceSeconds);

    [LoggerMessage(EventId = 61, Level = LogLevel.Warning, Message = "{Count} task(s) were sent from the outbox but their rows were not deleted: a relay sends them again, and their workers drop the second copies.")]
    public static partial void DeleteFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(EventId = 62, Level = LogLevel.Information, Message = "Outbox relay of {Context} started: rows older than {GraceSeconds} s are sent, looked for every {PollSeconds} s.")]
    public static partial void RelayStarted(ILogger logger, string context, double graceSeconds, double pollSeconds);

    [LoggerMessage(EventId = 63, Level = LogLevel.Information, Message = "Outbox relay of {Context} sent {Count} task(s) left behind.")]
    public static partial void RelaySent(ILogger logger, string context, int count);

    [LoggerMessage(EventId = 64, Level = LogLevel.Warning, Message = "Outbox relay of {Context} could not send {Count} of the {Claimed} task(s) it claimed (task {Id}, attempt {Attempt}, below); each is tried again later, waiting longer each time.")]
    public static partial void RelaySendsFailed(ILogger logger, Exception exception, string context, int count, int claimed, string id, int attempt);

    [LoggerMessage(EventId = 65, Level = LogLevel.Warning, Message = "Outbox relay of {Context} could not read its table ({Failures} time(s) in a row; logged at the 1st and every 10th); it looks again in {RetrySeconds} s. A table missing? Create the schema (migrations) before the app starts.")]
    public static partial void RelayFailed(ILogger logger, Exception exception, string context, int failures, double retrySeconds);
}
