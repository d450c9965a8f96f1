using System;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>Every line the worker's parts log, with its event id: one catalogue, so an id is never given twice.</summary>
internal static partial class WorkerLog
{
    private static readonly Func<ILogger, string, string, int, IDisposable?> Scope =
        LoggerMessage.DefineScope<string, string, int>("Task {TaskName} message {MessageId} attempt {Attempt}");

    /// <summary>Every line a task logs, the worker's and its own, carries the task's name, message id and attempt.</summary>
    public static IDisposable? TaskScope(ILogger logger, string taskName, string messageId, int attempt) => Scope(logger, taskName, messageId, attempt);

    [LoggerMessage(1, LogLevel.Information, "Task worker started: {TaskCount} task(s) on queue(s) {Queues} via {Transport}; at most {MaxConcurrency} at once ({MaxConcurrencyPerQueue} per queue), lease {LeaseDuration}, drain timeout {DrainTimeout}, stop grace {StopGrace}; signing: {Signing}; records: {Records}; run filters: {RunFilters}")]
    public static partial void Started(ILogger logger, int taskCount, string queues, string transport, int maxConcurrency, string maxConcurrencyPerQueue, TimeSpan leaseDuration, TimeSpan drainTimeout, TimeSpan stopGrace, string signing, string records, string runFilters);

    [LoggerMessage(2, LogLevel.Information, "Task worker stopped after {Elapsed}; {Released} unfinished task(s) were released to run again")]
    public static partial void Stopped(ILogger logger, TimeSpan elapsed, int released);

    [LoggerMessage(3, LogLevel.Warning, "Task {TaskName} (message {MessageId}) failed on attempt {Attempt} of {MaxAttempts}; retrying in {Delay} at the earliest")]
    public static partial void Retrying(ILogger logger, Exception exception, string taskName, string messageId, int attempt, int maxAttempts, TimeSpan delay);

    [LoggerMessage(4, LogLevel.Error, "Message {MessageId} on {Queue} was dead-lettered: {Reason}")]
    public static partial void DeadLettered(ILogger logger, Exception? exception, string messageId, string queue, string reason);

    [LoggerMessage(5, LogLevel.Warning, "Lost the lease of message {MessageId} on {Queue}; another worker will run it")]
    public static partial void LeaseLost(ILogger logger, Exception exception, string messageId, string queue);

    [LoggerMessage(6, LogLevel.Error, "Could not settle message {MessageId} on {Queue}; it will be delivered again when its lease ends")]
    public static partial void SettleFailed(ILogger logger, Exception exception, string messageId, string queue);

    [LoggerMessage(9, LogLevel.Error, "Handling message {MessageId} on {Queue} failed unexpectedly; it will be delivered again when its lease ends")]
    public static partial void HandlingFailed(ILogger logger, Exception exception, string messageId, string queue);

    [LoggerMessage(10, LogLevel.Information, "Task worker stopping: waiting up to {DrainTimeout} for {Running} running task(s) to finish")]
    public static partial void Draining(ILogger logger, int running, TimeSpan drainTimeout);

    [LoggerMessage(11, LogLevel.Warning, "Task worker drain timed out: cancelling {Running} task(s) still running; their messages become visible again")]
    public static partial void DrainTimedOut(ILogger logger, int running);

    [LoggerMessage(12, LogLevel.Warning, "The queue service is not reachable yet ({Transport}); the worker starts and keeps retrying")]
    public static partial void TransportNotReady(ILogger logger, Exception exception, string transport);

    [LoggerMessage(14, LogLevel.Error, "Abandoned task {TaskName} (message {MessageId} on {Queue}): it ignored its cancellation for {Waited} (StopGrace); its message is visible again for another worker")]
    public static partial void Abandoned(ILogger logger, string taskName, string messageId, string queue, TimeSpan waited);

    [LoggerMessage(15, LogLevel.Information, "Task {TaskName} (message {MessageId}) completed on attempt {Attempt}")]
    public static partial void Completed(ILogger logger, string taskName, string messageId, int attempt);

    [LoggerMessage(13, LogLevel.Critical, "Receiving from {Queue} failed in a way no retry can fix; the worker stops receiving")]
    public static partial void TransportFaulted(ILogger logger, Exception exception, string queue);

    [LoggerMessage(16, LogLevel.Warning, "Task records: a call to {Store} failed; the worker keeps running tasks and tries again")]
    public static partial void RecordsFailed(ILogger logger, Exception exception, string store);

    [LoggerMessage(17, LogLevel.Information, "Task records: dropped table {Table}, past its retention")]
    public static partial void RecordTableDropped(ILogger logger, string table);

    [LoggerMessage(18, LogLevel.Information, "Task {MessageId} was cancelled by id while it ran: its token fires now")]
    public static partial void CancelRequested(ILogger logger, string messageId);

    [LoggerMessage(19, LogLevel.Information, "Task {TaskName} (message {MessageId}) was cancelled by id before it ran; its message is deleted")]
    public static partial void CancelledBeforeRun(ILogger logger, string taskName, string messageId);

    [LoggerMessage(20, LogLevel.Information, "Task {TaskName} (message {MessageId}) ended cancelled: its token fired for a cancel by id")]
    public static partial void CancelledWhileRunning(ILogger logger, string taskName, string messageId);

    [LoggerMessage(30, LogLevel.Information, "Task {TaskName} (message {MessageId}) ended without running: {Reason}")]
    public static partial void SkippedByFilter(ILogger logger, string taskName, string messageId, string reason);

    [LoggerMessage(21, LogLevel.Error, "The continuations of task {MessageId} could not be released (the record store failed) before its message's lease was lost or the worker stopped: the message comes back, and the task runs again")]
    public static partial void ReleaseFailed(ILogger logger, Exception exception, string messageId);

    [LoggerMessage(29, LogLevel.Warning, "The continuations of task {MessageId} wait for the record store ({Store}): its message is kept leased and the release tried again in {Delay}; the task does not run again")]
    public static partial void ReleaseWaiting(ILogger logger, Exception exception, string messageId, string store, TimeSpan delay);

    [LoggerMessage(22, LogLevel.Information, "Batch {BatchId} has ended: its callback is enqueued")]
    public static partial void BatchCompleted(ILogger logger, string batchId);

    [LoggerMessage(23, LogLevel.Information, "Task {TaskName} (message {MessageId}) was sent twice (a continuation released twice, or a task sent again from an outbox) and another copy claimed its run: this copy is deleted without running")]
    public static partial void SkippedDuplicate(ILogger logger, string taskName, string messageId);

    [LoggerMessage(24, LogLevel.Warning, "The payload store failed on payload {Payload} (message {MessageId} on {Queue}): a fetch is tried again when the message comes back, a payload left behind is swept later")]
    public static partial void PayloadFailed(ILogger logger, Exception exception, string payload, string messageId, string queue);

    [LoggerMessage(25, LogLevel.Information, "Swept {Count} payload(s) whose messages are gone (kept {Grace} past their expiry)")]
    public static partial void PayloadsSwept(ILogger logger, int count, TimeSpan grace);

    [LoggerMessage(7, LogLevel.Warning, "Receiving from {Queue} failed; retrying in {Delay}")]
    public static partial void ReceiveFailed(ILogger logger, Exception exception, string queue, TimeSpan delay);

    [LoggerMessage(32, LogLevel.Warning, "Receiving from {Queue} still fails: {Failures} tries in {Duration} ({Problem}); tried again with a back-off, and said again every 30 s while it lasts")]
    public static partial void ReceiveStillFailing(ILogger logger, string queue, int failures, TimeSpan duration, string problem);

    [LoggerMessage(33, LogLevel.Information, "Receiving from {Queue} again, after {Failures} failed tries in {Duration}")]
    public static partial void ReceivingAgain(ILogger logger, string queue, int failures, TimeSpan duration);

    [LoggerMessage(34, LogLevel.Warning, "Task records: calls to {Store} still fail: {Failures} in {Duration} ({Problem}); the worker keeps running tasks, tries again, and says so again every 30 s while it lasts")]
    public static partial void RecordsStillFailing(ILogger logger, string store, int failures, TimeSpan duration, string problem);

    [LoggerMessage(35, LogLevel.Information, "Task records: {Store} answers again, after {Failures} failed calls in {Duration}")]
    public static partial void RecordsAgain(ILogger logger, string store, int failures, TimeSpan duration);

    [LoggerMessage(36, LogLevel.Debug, "Task {TaskName} (message {MessageId}) is over a limit and goes back to its queue, using no attempt: {Reason}")]
    public static partial void Deferred(ILogger logger, string taskName, string messageId, string reason);

    [LoggerMessage(42, LogLevel.Warning, "Task {TaskName} (message {MessageId}) from an outbox waits for the record store, using no attempt: {Reason}")]
    public static partial void WaitsForRunClaim(ILogger logger, string taskName, string messageId, string reason);

    [LoggerMessage(37, LogLevel.Information, "Queue {Queue} is paused: this worker receives nothing from it until it is resumed (its messages wait untouched)")]
    public static partial void QueuePaused(ILogger logger, string queue);

    [LoggerMessage(38, LogLevel.Information, "Queue {Queue} is resumed: this worker receives from it again")]
    public static partial void QueueResumed(ILogger logger, string queue);

    [LoggerMessage(39, LogLevel.Warning, "Could not read which queues are paused; the worker keeps what it last read, and tries again")]
    public static partial void PausesUnread(ILogger logger, Exception exception);

    [LoggerMessage(8, LogLevel.Warning, "Could not renew the lease of message {MessageId} on {Queue}")]
    public static partial void RenewFailed(ILogger logger, Exception exception, string messageId, string queue);

    [LoggerMessage(26, LogLevel.Information, "Receiving {Queue} from {Count} shard(s), up to {Batch} message(s) a receive (MaxConcurrency split between them): {Shards}")]
    public static partial void ReceivingShards(ILogger logger, string queue, int count, int batch, string shards);
}
