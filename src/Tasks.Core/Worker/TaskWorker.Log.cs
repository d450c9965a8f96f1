using System;
using Microsoft.Extensions.Logging;

namespace Tasks;

public sealed partial class TaskWorker
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Task worker started on queues {Queues}")]
        public static partial void Started(ILogger logger, string queues);

        [LoggerMessage(2, LogLevel.Information, "Task worker stopped; {Released} running task(s) were released")]
        public static partial void Stopped(ILogger logger, int released);

        [LoggerMessage(3, LogLevel.Warning, "Task {TaskName} (message {MessageId}) failed on attempt {Attempt} of {MaxAttempts}; retrying in {Delay}")]
        public static partial void Retrying(ILogger logger, Exception exception, string taskName, string messageId, int attempt, int maxAttempts, TimeSpan delay);

        [LoggerMessage(4, LogLevel.Error, "Message {MessageId} on {Queue} was dead-lettered: {Reason}")]
        public static partial void DeadLettered(ILogger logger, Exception? exception, string messageId, string queue, string reason);

        [LoggerMessage(5, LogLevel.Warning, "Lost the lease of message {MessageId} on {Queue}; another worker will run it")]
        public static partial void LeaseLost(ILogger logger, Exception exception, string messageId, string queue);

        [LoggerMessage(6, LogLevel.Error, "Could not settle message {MessageId} on {Queue}; it will be delivered again when its lease ends")]
        public static partial void SettleFailed(ILogger logger, Exception exception, string messageId, string queue);

        [LoggerMessage(7, LogLevel.Warning, "Receiving from {Queue} failed; retrying in {Delay}")]
        public static partial void ReceiveFailed(ILogger logger, Exception exception, string queue, TimeSpan delay);

        [LoggerMessage(8, LogLevel.Warning, "Could not renew the lease of message {MessageId} on {Queue}")]
        public static partial void RenewFailed(ILogger logger, Exception exception, string messageId, string queue);

        [LoggerMessage(9, LogLevel.Error, "Handling message {MessageId} on {Queue} failed unexpectedly; it will be delivered again when its lease ends")]
        public static partial void HandlingFailed(ILogger logger, Exception exception, string messageId, string queue);
    }
}
