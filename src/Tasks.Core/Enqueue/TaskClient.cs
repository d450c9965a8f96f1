using System;
using System.Buffers;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using MessagePack;

namespace Tasks;

/// <summary>Encodes tasks into envelopes and hands them to an <see cref="ITaskTransport"/>.</summary>
public sealed class TaskClient : ITaskClient
{
    private static ITaskClient? ambient;
    private readonly TimeProvider time;
    private readonly TaskRecordWriter? records;

    // The parts, built once.
    private readonly EnvelopeWriter envelopes;
    private readonly EnvelopeSender sender;
    private readonly EnqueueRecords? enqueued; // null without a record store
    private readonly FlowEnqueuer? flows; // null without a record store

    /// <summary>Creates a client over <paramref name="transport"/>.</summary>
    /// <param name="transport">Where envelopes go.</param>
    /// <param name="timeProvider">The clock of the enqueued-at header.</param>
    /// <param name="serializerOptions">How arguments are written; <see cref="TaskSerializer.DefaultOptions"/> if null.</param>
    /// <param name="signing">Keys to sign envelopes with (the first signs); null or empty to send them unsigned.</param>
    /// <param name="records">Where each task's record is written as it is enqueued (and unique tasks keep their locks); null for none.</param>
    /// <param name="filters">Called on every task enqueued, in order (<see cref="ITaskEnqueueFilter"/>); null for none.</param>
    public TaskClient(ITaskTransport transport, TimeProvider? timeProvider = null, MessagePackSerializerOptions? serializerOptions = null, TaskSigningOptions? signing = null, TaskRecordStore? records = null, IEnumerable<ITaskEnqueueFilter>? filters = null)
        : this(transport, timeProvider, serializerOptions, signing, records is { Options.Enabled: true } ? new TaskRecordWriter(records, null, timeProvider) : null, filters)
    {
    }

    internal TaskClient(ITaskTransport transport, TimeProvider? timeProvider, MessagePackSerializerOptions? serializerOptions, TaskSigningOptions? signing, TaskRecordWriter? records, IEnumerable<ITaskEnqueueFilter>? filters = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        time = timeProvider ?? TimeProvider.System;
        this.records = records;
        envelopes = new EnvelopeWriter(serializerOptions ?? TaskSerializer.DefaultOptions, EnvelopeSigner.Create(signing), filters);
        sender = new EnvelopeSender(transport, envelopes, records?.Options.FailedRetention ?? TimeSpan.Zero);
        enqueued = records is null ? null : new EnqueueRecords(records, time);
        flows = enqueued is null ? null : new FlowEnqueuer(envelopes, sender, enqueued, transport, time);
    }

    /// <summary>The record store this client writes to, or null.</summary>
    public TaskRecordStore? Records => records?.Store;

    internal TaskRecordWriter? RecordWriter => records;

    /// <summary>Writes this client's envelopes (a prepared task writes its own through it).</summary>
    internal EnvelopeWriter Envelopes => envelopes;

    /// <summary>
    /// The client used by the generated <c>Enqueue</c> overloads that take none. Hosting sets it
    /// (<c>services.AddAsyncTasks()</c>); outside a host, set it once at startup.
    /// </summary>
    /// <exception cref="InvalidOperationException">No client was configured.</exception>
    public static ITaskClient Ambient
    {
        get => Volatile.Read(ref ambient) ?? throw new InvalidOperationException(
            "No Tasks client is configured. Call services.AddAsyncTasks(...) in your host, " +
            "or set TaskClient.Ambient = new TaskClient(transport) at startup, " +
            "or pass a client: XxxAsync.Enqueue(client, ...).");
        set => Volatile.Write(ref ambient, value);
    }

    /// <inheritdoc />
    public async ValueTask<string> EnqueueAsync<TArguments>(
        TaskDefinition<TArguments> task,
        TArguments arguments,
        TaskEnqueueOptions? options = null,
        CancellationToken cancellationToken = default)
        where TArguments : class
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(arguments);
        using var activity = TasksTelemetry.Source.HasListeners() ? TasksTelemetry.Source.StartActivity($"enqueue {task.Name}", ActivityKind.Producer) : null;
        activity?.SetTag(TasksTelemetry.TaskNameTag, task.Name);
        activity?.SetTag(TasksTelemetry.QueueTag, task.Queue);
        TasksTelemetry.TagOperation(activity, "send");
        if (options?.After is { } parent) return await Flows(task, "is a continuation (After)").EnqueueAfterAsync(task, arguments, parent, options, cancellationToken).ConfigureAwait(false);

        var now = time.GetUtcNow();
        var messageId = TaskHeaders.NewMessageId(now + (options?.Delay ?? TimeSpan.Zero));
        activity?.SetTag(TasksTelemetry.MessageIdTag, messageId);
        var buffer = RentBuffer();
        try
        {
            var sent = await SendWrittenAsync(Write(buffer, task, arguments, messageId, now, options), now, options, sentAgainIfFailed: false, cancellationToken).ConfigureAwait(false);
            if (sent != messageId)
            {
                activity?.SetTag(TasksTelemetry.MessageIdTag, sent);
                return sent; // the same task is enqueued or running: nothing is sent
            }
        }
        finally
        {
            ReturnBuffer(buffer);
        }

        TasksTelemetry.Enqueued.Add(1, new KeyValuePair<string, object?>(TasksTelemetry.TaskNameTag, task.Name));
        return messageId;
    }

    /// <summary>
    /// A client whose enqueues go into <paramref name="outbox"/> instead of the transport: each task is written whole
    /// (its id, envelope, record and options; its size and enqueue filters checked now) and sent later, after the
    /// outbox's unit of work commits, by <see cref="SendFromOutboxAsync"/>. Continuations and tracked batches are refused.
    /// </summary>
    public ITaskClient WriteTo(ITaskOutbox outbox)
    {
        ArgumentNullException.ThrowIfNull(outbox);
        return new OutboxTaskClient(this, outbox);
    }

    internal TaskOutboxEntry WriteOutboxEntry<TArguments>(TaskDefinition<TArguments> task, TArguments arguments, TaskEnqueueOptions? options)
        where TArguments : class
    {
        var now = time.GetUtcNow();
        var messageId = TaskHeaders.NewMessageId(now + (options?.Delay ?? TimeSpan.Zero));
        var buffer = new ArrayBufferWriter<byte>(256);
        var written = Write(buffer, task, arguments, messageId, now, options, outbox: true);
        return new TaskOutboxEntry(messageId, task.Name, task.Queue, now, OutboxContent.Write(written, now, options));
    }

    /// <summary>
    /// Sends a task from an outbox (<see cref="TaskOutboxEntry.Content"/>), as its enqueue would have: its unique lock,
    /// its record, the payload store for a large envelope; a delay counts from when it was written. Sending an entry
    /// twice is safe: the worker's run claim drops the second message of the same id, and its record stands.
    /// </summary>
    /// <returns>The id of the task sent, or of the unique task that held its lock (nothing was sent).</returns>
    /// <exception cref="FormatException">The content is not an outbox entry.</exception>
    /// <exception cref="TaskEnqueueException">The send failed: the entry stays, to be sent again.</exception>
    public async ValueTask<string> SendFromOutboxAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        var entry = OutboxContent.Read(content);
        var task = entry.Task;
        if (records is null && task.UniqueLock is not null)
            throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' from the outbox is unique, which needs a record store to hold its lock, and this client has none.");
        if (records is null) task = task with { Record = null };
        var now = time.GetUtcNow();
        var due = entry.CreatedAt + entry.Delay;
        var options = new TaskEnqueueOptions { Delay = due > now ? due - now : TimeSpan.Zero, TimeToLive = entry.TimeToLive, ShardKey = entry.ShardKey };
        var sent = await SendWrittenAsync(task, now, options, sentAgainIfFailed: true, cancellationToken).ConfigureAwait(false);
        if (sent == task.Id) TasksTelemetry.Enqueued.Add(1, new KeyValuePair<string, object?>(TasksTelemetry.TaskNameTag, task.Name));
        return sent;
    }

    /// <summary>A task's envelope written, its size checked, and its record made: what is left is to send it.</summary>
    private WrittenTask Write<TArguments>(ArrayBufferWriter<byte> buffer, TaskDefinition<TArguments> task, TArguments arguments, string messageId, DateTimeOffset now, TaskEnqueueOptions? options, bool outbox = false)
        where TArguments : class
    {
        var uniqueFor = UniqueFor(task, options);
        var layout = envelopes.Write(buffer, task, arguments, messageId, now, new EnvelopeHeaders(Activity.Current?.Id, uniqueFor is not null, options?.UniqueKey, Continuable(task, options), Outbox: outbox), options);
        sender.CheckSize(task, buffer.WrittenCount);
        var record = enqueued?.EnqueuedRecord(task, messageId, now, options, buffer.WrittenMemory[layout.ArgumentsStart..layout.ArgumentsEnd], layout.UniqueLock, sender.Offloads(buffer.WrittenCount));
        return new WrittenTask(task.Name, task.Queue, messageId, buffer.WrittenMemory, record, uniqueFor is null ? null : layout.UniqueLock, now + uniqueFor);
    }

    /// <summary>
    /// Sends a written task: takes its unique lock (returning the id of the task that holds it, nothing sent), writes its
    /// record beside the send, stores its envelope in the payload store when it is too large for a message; returns its id.
    /// A failed send marks the record "not sent", unless it is <paramref name="sentAgainIfFailed"/> (an outbox's row stays, and
    /// a relay sends it: marked, its later copy would read as one whose send failed, and could be dropped).
    /// </summary>
    private async ValueTask<string> SendWrittenAsync(WrittenTask task, DateTimeOffset now, TaskEnqueueOptions? options, bool sentAgainIfFailed, CancellationToken cancellationToken)
    {
        if (task.UniqueLock is { } uniqueLock && await enqueued!.ClaimUniqueAsync(task.Name, task.Queue, uniqueLock, task.Id, task.UniqueUntil!.Value, cancellationToken).ConfigureAwait(false) is { } existing)
            return existing;

        // The record and the message go out side by side; the record never holds the send up for long.
        var recording = task.Record is null ? Task.CompletedTask : enqueued!.CreateAsync([task.Record]);
        string? payload = null;
        try
        {
            var body = task.Envelope;
            if (sender.Offloads(body.Length))
            {
                var reference = new ArrayBufferWriter<byte>(256);
                payload = await sender.OffloadAsync(task.Name, task.Queue, task.Id, body, now, null, EnvelopeSender.KeepUntil(now + (options?.Delay ?? TimeSpan.Zero), options?.TimeToLive), reference, cancellationToken).ConfigureAwait(false);
                body = reference.WrittenMemory;
            }

            await sender.SendAsync(task.Name, task.Queue, task.Id, body, options, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            if (payload is not null) await sender.ForgetPayloadAsync(payload).ConfigureAwait(false);
            if (task.Record is not null && !sentAgainIfFailed) enqueued!.NotSent([task.Record]);
            if (task.UniqueLock is not null) await enqueued!.TellUniqueLockAsync(task.UniqueLock, task.Id, sent: false).ConfigureAwait(false);
            throw;
        }

        if (task.UniqueLock is not null) await enqueued!.TellUniqueLockAsync(task.UniqueLock, task.Id, sent: true).ConfigureAwait(false);
        enqueued?.CountEnqueued(now);
        await recording.ConfigureAwait(false);
        return task.Id;
    }

    // One envelope buffer per thread, taken while an enqueue uses it (a transport may hold the body
    // until its send completes, and another enqueue may run on this thread meanwhile): an enqueue
    // then allocates only its message id and whatever the transport keeps.
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? cachedBuffer;

    private static ArrayBufferWriter<byte> RentBuffer()
    {
        var buffer = cachedBuffer ?? new ArrayBufferWriter<byte>(256);
        cachedBuffer = null;
        return buffer;
    }

    private static void ReturnBuffer(ArrayBufferWriter<byte> buffer)
    {
        if (buffer.Capacity > 64 * 1024) return; // not worth keeping per thread
        buffer.ResetWrittenCount();
        cachedBuffer = buffer;
    }

    /// <inheritdoc />
    public async ValueTask<TaskCancelResult> CancelAsync(string id, CancellationToken cancellationToken = default)
    {
        if (records is null)
            throw new InvalidOperationException("Cancelling a task by id needs a record store: pass one to the TaskClient, or configure records in the host (AddAsyncTasks() on the in-memory transport, or UseAzureQueues(...) with records on).");
        var result = await records.Store.CancelAsync(id, cancellationToken).ConfigureAwait(false);
        if (result.Outcome != TaskCancelOutcome.NotFound || records.Pending == 0) return result;
        // Its record may still wait in this client's writer (an enqueue whose record write outlasted EnqueueWriteTimeout): written now, then found.
        await records.FlushAsync(cancellationToken).ConfigureAwait(false);
        return await records.Store.CancelAsync(id, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The ids of a batch's tasks: with records, each run of tasks of one kind (not unique) is a record group, whose
    /// records are written as one row (see docs/records.md); every other task has an id of its own.
    /// </summary>
    private void AssignIds(IReadOnlyList<PreparedTask> entries, string[] ids, DateTimeOffset due, TaskEnqueueOptions? options)
    {
        for (var start = 0; start < ids.Length;)
        {
            var task = entries[start].Definition;
            var end = start + 1;
            while (end < ids.Length && end - start < TaskHeaders.MaxGroupMembers && entries[end].Definition == task) end++;
            if (enqueued is null || end - start == 1 || UniqueFor(task, options) is not null)
            {
                for (; start < end; start++) ids[start] = TaskHeaders.NewMessageId(due);
                continue;
            }

            TaskHeaders.NewGroupIds(due, end - start).MemberIds.CopyTo(ids, start);
            start = end;
        }
    }

    /// <summary>How long a task is unique for on this enqueue, or null if it is not unique.</summary>
    private TimeSpan? UniqueFor(TaskDefinition task, TaskEnqueueOptions? options)
    {
        var uniqueFor = options?.UniqueFor ?? task.UniqueFor;
        if (uniqueFor is null && options?.UniqueKey is not null)
            throw new ArgumentException($"TaskEnqueueOptions.UniqueKey needs a time the task is unique for: [AsyncTask(UniqueFor = \"00:10:00\")] on '{task.Name}', or TaskEnqueueOptions.UniqueFor.", nameof(options));
        if (uniqueFor is not null && records is null)
            throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' is unique (UniqueFor), which needs a record store to hold its lock across processes, and this client has none. Configure records in the host (they are on with the in-memory transport and with UseAzureQueues), or pass a TaskRecordStore to the TaskClient.");
        return uniqueFor;
    }

    /// <summary>Whether the task is enqueued to take continuations (they need the record store).</summary>
    private bool Continuable(TaskDefinition task, TaskEnqueueOptions? options)
    {
        if (options?.AllowContinuations != true) return false;
        return records is not null ? true : throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' is enqueued to take continuations (AllowContinuations), which wait in a record store, and this client has none.");
    }

    /// <summary>The continuations, chains and tracked batches of this client; they wait in a record store.</summary>
    private FlowEnqueuer Flows(TaskDefinition task, string what)
        => flows ?? throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' {what}, which waits in a record store, and this client has none. Configure records in the host, or pass a TaskRecordStore to the TaskClient.");

    /// <summary>A chain, accepted whole or refused (see <see cref="FlowEnqueuer.EnqueueChainAsync"/>).</summary>
    internal ValueTask<IReadOnlyList<string>> EnqueueChainAsync(IReadOnlyList<PreparedTask> steps, CancellationToken cancellationToken)
        => Flows(steps[0].Definition, "starts a chain of tasks").EnqueueChainAsync(steps, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<string>> EnqueueBatchAsync(TaskBatch batch, TaskEnqueueOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var entries = batch.Entries;
        var ids = new string[entries.Count];
        if (ids.Length == 0) return ids;
        using var activity = TasksTelemetry.Source.HasListeners() ? TasksTelemetry.Source.StartActivity("enqueue batch", ActivityKind.Producer) : null;
        activity?.SetTag(TasksTelemetry.BatchSizeTag, ids.Length);
        TasksTelemetry.TagOperation(activity, "send");

        // Every envelope is written before anything is sent: a task too large, or arguments that
        // cannot be written, fail the whole batch with nothing sent.
        var now = time.GetUtcNow();
        var due = now + (options?.Delay ?? TimeSpan.Zero);
        var batchId = batch.OnCompleted is not null || batch.Tracked ? TaskHeaders.NewMessageId(now) : null;
        var written = new ArrayBufferWriter<byte>(ids.Length * 128);
        var ends = new int[ids.Length];
        var layouts = new EnvelopeLayout[ids.Length];
        AssignIds(entries, ids, due, options);
        for (var i = 0; i < ids.Length; i++)
        {
            var task = entries[i].Definition;
            var start = written.WrittenCount;
            layouts[i] = entries[i].Write(written, ids[i], now, new EnvelopeHeaders(Activity.Current?.Id, UniqueFor(task, options) is not null, options?.UniqueKey, Continuable(task, options), Batch: batchId), options, envelopes);
            ends[i] = written.WrittenCount;
            sender.CheckSize(task, ends[i] - start);
        }

        // A unique task whose like is enqueued or running keeps that task's id and is not sent.
        var held = new bool[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            if (layouts[i].UniqueLock is not { } uniqueLock || UniqueFor(entries[i].Definition, options) is not { } lockFor) continue;
            if (await enqueued!.ClaimUniqueAsync(entries[i].Definition.Name, entries[i].Definition.Queue, uniqueLock, ids[i], now + lockFor, cancellationToken).ConfigureAwait(false) is { } existing)
                (ids[i], held[i]) = (existing, true);
        }

        var recordsToWrite = new List<RecordWrite>(enqueued is null ? 0 : ids.Length);
        for (var i = 0; i < ids.Length && enqueued is not null; i++)
        {
            if (held[i]) continue;
            var record = enqueued.EnqueuedRecord(entries[i].Definition, ids[i], now, options, written.WrittenMemory[layouts[i].ArgumentsStart..layouts[i].ArgumentsEnd], layouts[i].UniqueLock, sender.Offloads(ends[i] - (i == 0 ? 0 : ends[i - 1])));
            record.BatchId = batchId;
            recordsToWrite.Add(record);
        }

        // A tracked batch exists, with its total and its callback, before any of its tasks can end.
        if (batchId is not null)
        {
            if (flows is null)
                throw new TaskEnqueueException(batch.OnCompleted?.Definition.Name ?? "(batch)", batch.OnCompleted?.Definition.Queue ?? "", "A batch with a callback (OnCompleted) or tracked counts needs a record store, and this client has none.");
            await flows.CreateBatchAsync(batch, batchId, held.Count(h => !h), now, cancellationToken).ConfigureAwait(false);
        }

        var recording = recordsToWrite.Count == 0 ? Task.CompletedTask : enqueued!.CreateAsync(recordsToWrite);
        var packer = new BatchPacker(sender, enqueued, time, written.WrittenMemory, ends, ids, entries, held, options);
        try
        {
            await packer.SendAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // What was sent keeps its record; what was not is marked so.
            enqueued?.NotSent(recordsToWrite.Where(w => !packer.Sent.Contains(w.Id)).ToArray());
            await TellUniqueLocksAsync(packer.Sent).ConfigureAwait(false);
            throw;
        }

        await TellUniqueLocksAsync(packer.Sent).ConfigureAwait(false);

        await recording.ConfigureAwait(false);
        batch.Id = batchId;
        return ids;

        async Task TellUniqueLocksAsync(HashSet<string> sent)
        {
            for (var i = 0; i < ids.Length; i++)
            {
                if (!held[i] && layouts[i].UniqueLock is { } uniqueLock && UniqueFor(entries[i].Definition, options) is not null)
                    await enqueued!.TellUniqueLockAsync(uniqueLock, ids[i], sent.Contains(ids[i])).ConfigureAwait(false);
            }
        }
    }
}
