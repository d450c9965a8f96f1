using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>
/// What the record store says of a message before its task runs, where a hung or dying service may have left
/// a copy behind: a message delivered again whose task already ended (its delete failed, a copy ran) is not
/// run again, and the attempts its dead workers left open are closed; a unique task whose lock another task
/// took over (its enqueue was told the send failed, and the send arrived all the same) is not run. A store
/// that does not answer lets the task run: at least once stays the rule.
/// </summary>
internal sealed partial class RedeliveryCheck(TaskRecordWriter records, Func<string, bool> recordsWritten, ILogger logger, TimeProvider time)
{
    private static readonly TaskExceptionInfo WorkerGone = new("WorkerGone", "Its worker stopped (killed, or cut off from the queue) before this attempt ended; the message was delivered again.", null);

    /// <summary>
    /// True if the task of <paramref name="message"/> ended already, so this copy must not run (its record is left
    /// as it is); else the attempts before this one that have no end are closed. Read only for a message delivered
    /// again, one the transport says may be a copy (<see cref="ReceivedTaskMessage.MayBeCopy"/>), or one whose payload
    /// is gone: any other first delivery costs nothing.
    /// </summary>
    public async Task<bool> EndedEarlierAsync(ReceivedTaskMessage message, string taskName)
    {
        TaskRecord? record;
        try
        {
            record = await records.Store.GetAsync(message.MessageId, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.ReadFailed(logger, ex, records.Store.Describe());
            return false;
        }

        if (record is null) return false;
        if (record.State is TaskState.Cancelled && record.Reason == EnqueueRecords.NotSentReason)
        {
            Log.SkippedNotSent(logger, taskName, message.MessageId);
            return true;
        }

        if (record.State is TaskState.Succeeded or TaskState.Cancelled or TaskState.DeadLettered)
        {
            Log.SkippedEnded(logger, taskName, message.MessageId, record.State);
            return true;
        }

        var open = record.History.Where(a => a.FinishedAt is null && a.Attempt < message.Attempt).ToArray();
        if (open.Length > 0 && recordsWritten(message.MessageId))
        {
            var now = time.GetUtcNow();
            var write = new RecordWrite(message.MessageId);
            foreach (var attempt in open) write.AddAttempt(attempt with { FinishedAt = now, Outcome = TaskOutcome.Released, Exception = WorkerGone });
            records.Write(write);
        }

        return false;
    }

    /// <summary>True if another task holds the unique lock of this one (call only for an envelope with a unique header); its own lock is confirmed sent.</summary>
    public async Task<bool> SupersededAsync(ReceivedTaskMessage message, DecodedEnvelope decoded)
    {
        if (!decoded.ReadHeaders().TryGetValue(TaskHeaders.Unique, out var uniqueLock)) return false;
        string? holder;
        try
        {
            holder = await records.Store.UniqueLocks.ConfirmAsync(uniqueLock, message.MessageId, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.ReadFailed(logger, ex, records.Store.Describe());
            return false;
        }

        if (holder is null) return false;
        Log.SkippedSuperseded(logger, decoded.Definition.Name, message.MessageId, holder);
        return true;
    }

    private static partial class Log
    {
        [LoggerMessage(16, LogLevel.Warning, "Task records: a call to {Store} failed; the worker keeps running tasks and tries again")]
        public static partial void ReadFailed(ILogger logger, Exception exception, string store);

        [LoggerMessage(27, LogLevel.Information, "Task {TaskName} (message {MessageId}) was delivered again after it ended {State}: this copy is deleted without running")]
        public static partial void SkippedEnded(ILogger logger, string taskName, string messageId, TaskState state);

        [LoggerMessage(31, LogLevel.Information, "Task {TaskName} (message {MessageId}) arrived although its enqueue was told the send failed (a send given up at its deadline, applied later): its caller may have enqueued it again, so this copy is deleted without running")]
        public static partial void SkippedNotSent(ILogger logger, string taskName, string messageId);

        [LoggerMessage(28, LogLevel.Warning, "Task {TaskName} (message {MessageId}) is unique, and its lock is held by task {Holder}: its enqueue was told the send failed and a later enqueue took the lock over, so this copy is deleted without running")]
        public static partial void SkippedSuperseded(ILogger logger, string taskName, string messageId, string holder);
    }
}
