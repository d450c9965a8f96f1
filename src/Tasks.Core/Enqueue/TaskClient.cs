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
public sealed partial class TaskClient : ITaskClient
{
    private static ITaskClient? ambient;
    private readonly ITaskTransport transport;
    private readonly TimeProvider time;
    private readonly MessagePackSerializerOptions serializerOptions;
    private readonly EnvelopeSigner? signer;
    private readonly TaskRecordWriter? records;
    private readonly ITaskEnqueueFilter[] filters;

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
        this.filters = filters?.ToArray() ?? [];
        this.transport = transport ?? throw new ArgumentNullException(nameof(transport));
        time = timeProvider ?? TimeProvider.System;
        this.serializerOptions = serializerOptions ?? TaskSerializer.DefaultOptions;
        signer = EnvelopeSigner.Create(signing);
        this.records = records;
    }

    /// <summary>The record store this client writes to, or null.</summary>
    public TaskRecordStore? Records => records?.Store;

    internal TaskRecordWriter? RecordWriter => records;

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
        if (options?.After is { } parent) return await EnqueueAfterAsync(task, arguments, parent, options, cancellationToken).ConfigureAwait(false);

        var now = time.GetUtcNow();
        var messageId = TaskHeaders.NewMessageId(now + (options?.Delay ?? TimeSpan.Zero));
        activity?.SetTag(TasksTelemetry.MessageIdTag, messageId);
        var uniqueFor = UniqueFor(task, options);
        var continuable = Continuable(task, options);
        var buffer = RentBuffer();
        try
        {
            var layout = WriteEnvelope(buffer, task, arguments, messageId, now, new EnvelopeHeaders(Activity.Current?.Id, uniqueFor is not null, options?.UniqueKey, continuable), options);
            CheckSize(task, buffer.WrittenCount);
            if (uniqueFor is { } lockFor && await ClaimUniqueAsync(task, layout.UniqueLock!, messageId, now + lockFor, cancellationToken).ConfigureAwait(false) is { } existing)
            {
                activity?.SetTag(TasksTelemetry.MessageIdTag, existing);
                return existing; // the same task is enqueued or running: nothing is sent
            }

            // The record and the message go out side by side; the record never holds the send up for long.
            var offloads = Offloads(buffer.WrittenCount);
            var record = records is null ? null : EnqueuedRecord(task, messageId, now, options, buffer.WrittenMemory[layout.ArgumentsStart..layout.ArgumentsEnd], layout.UniqueLock, offloads);
            var recording = record is null ? Task.CompletedTask : CreateRecordsAsync([record]);
            string? payload = null;
            try
            {
                var body = buffer.WrittenMemory;
                if (offloads)
                {
                    var reference = new ArrayBufferWriter<byte>(256);
                    payload = await OffloadAsync(task, messageId, body, now, null, KeepUntil(now + (options?.Delay ?? TimeSpan.Zero), options?.TimeToLive), reference, cancellationToken).ConfigureAwait(false);
                    body = reference.WrittenMemory;
                }

                await SendAsync(task, messageId, body, options, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                if (payload is not null) await ForgetPayloadAsync(payload).ConfigureAwait(false);
                if (record is not null) NotSent([record]);
                if (uniqueFor is not null) await TellUniqueLockAsync(layout.UniqueLock!, messageId, sent: false).ConfigureAwait(false);
                throw;
            }

            if (uniqueFor is not null) await TellUniqueLockAsync(layout.UniqueLock!, messageId, sent: true).ConfigureAwait(false);

            records?.Count(TaskRecordWriter.EnqueuedField, now);
            await recording.ConfigureAwait(false);
        }
        finally
        {
            ReturnBuffer(buffer);
        }

        TasksTelemetry.Enqueued.Add(1, new KeyValuePair<string, object?>(TasksTelemetry.TaskNameTag, task.Name));
        return messageId;
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

    /// <summary>Writes a task's envelope, with the headers the enqueue filters add: every enqueue path writes through here.</summary>
    internal EnvelopeLayout WriteEnvelope<TArguments>(ArrayBufferWriter<byte> buffer, TaskDefinition<TArguments> task, TArguments arguments, string messageId, DateTimeOffset now, in EnvelopeHeaders headers, TaskEnqueueOptions? options)
        where TArguments : class
    {
        var filtered = filters.Length == 0 ? headers : headers with { Added = Filter(task, arguments, options) };
        try
        {
            return TaskEnvelope.Write(buffer, task, arguments, messageId, now, filtered, serializerOptions, signer);
        }
        catch (Exception ex)
        {
            throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' was not enqueued: its arguments could not be written ({ex.Message}).", ex);
        }
    }

    private IReadOnlyList<KeyValuePair<string, string>>? Filter(TaskDefinition task, object arguments, TaskEnqueueOptions? options)
    {
        var context = new TaskEnqueueContext(task, arguments, options);
        foreach (var filter in filters)
        {
            try
            {
                filter.OnEnqueuing(context);
            }
            catch (Exception ex)
            {
                throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' was not enqueued: its enqueue filter {filter.GetType().Name} threw {ex.GetType().Name}: {ex.Message}", ex);
            }
        }

        return context.Added;
    }

    /// <inheritdoc />
    public ValueTask<TaskCancelResult> CancelAsync(string id, CancellationToken cancellationToken = default)
        => records is null
            ? throw new InvalidOperationException("Cancelling a task by id needs a record store: pass one to the TaskClient, or configure records in the host (AddAsyncTasks() on the in-memory transport, or UseAzureQueues(...) with records on).")
            : records.Store.CancelAsync(id, cancellationToken);

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

    /// <summary>Takes a unique task's lock; returns the id of the task that holds it, or null if this one does now.</summary>
    private async ValueTask<string?> ClaimUniqueAsync(TaskDefinition task, string uniqueLock, string messageId, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        try
        {
            return await records!.Store.UniqueLocks.ClaimAsync(uniqueLock, messageId, task.Name, expiresAt, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A claim given up may still be applied by a store that wakes: released once it answers, it holds no task that does not exist.
            records!.ReleaseUnique(uniqueLock, messageId);
            throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' was not enqueued: its unique lock could not be taken in the record store ({records.Store.Describe()}): {ex.Message}", ex);
        }
    }

    private RecordWrite EnqueuedRecord(TaskDefinition task, string messageId, DateTimeOffset now, TaskEnqueueOptions? options, ReadOnlyMemory<byte> argumentBytes, string? uniqueLock, bool offloaded)
    {
        // Arguments that travel in the payload store are not copied into the record: shown, they would be fetched unasked.
        var (json, note) = offloaded
            ? (null, $"Not recorded: the arguments ({argumentBytes.Length:N0} bytes) travel in the payload store (a blob on Azure), too large for a message.")
            : ArgumentsJson.Of(task, argumentBytes, records!.Options);
        var delayed = options?.Delay > TimeSpan.Zero;
        return new RecordWrite(messageId)
        {
            TaskName = task.Name,
            Queue = task.Queue,
            MaxAttempts = task.MaxAttempts,
            EnqueuedAt = now,
            ScheduledFor = delayed ? now + options!.Delay : null,
            ArgumentsJson = json,
            ArgumentsNote = note,
            ArgumentsBytes = argumentBytes.Length,
            UniqueKey = uniqueLock,
            Continuable = options?.AllowContinuations == true ? true : null,
            State = delayed ? TaskState.Scheduled : TaskState.Enqueued,
            StateAt = now,
        };
    }

    /// <summary>
    /// Writes the records of tasks being sent. A store slower than <see cref="TaskRecordOptions.EnqueueWriteTimeout"/>
    /// or failing does not fail the enqueue: the write goes on in the background, without a state,
    /// so it cannot undo what a worker writes meanwhile.
    /// </summary>
    private async Task CreateRecordsAsync(IReadOnlyList<RecordWrite> writes)
    {
        var creating = records!.Store.CreateAsync(writes, CancellationToken.None).AsTask();
        if (await Task.WhenAny(creating, Task.Delay(records.Options.EnqueueWriteTimeout, time)).ConfigureAwait(false) == creating && creating.IsCompletedSuccessfully) return;
        _ = creating.ContinueWith(static t => TasksTelemetry.RecordWriteFailures.Add(1), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        foreach (var write in writes) records.Write(write.WithoutState());
    }

    /// <summary>What the record of a task whose send failed says (a copy that arrives all the same as a redelivery is dropped: <see cref="RedeliveryCheck"/>).</summary>
    internal const string NotSentReason = "Not enqueued: sending its message failed (Enqueue threw TaskEnqueueException).";

    /// <summary>Records of tasks whose send failed say so (a send that did reach the queue is overruled by its worker's later state).</summary>
    private void NotSent(IReadOnlyList<RecordWrite> writes)
    {
        var now = time.GetUtcNow();
        foreach (var write in writes)
            records!.Write(new RecordWrite(write.Id) { State = TaskState.Cancelled, StateAt = now, FinishedAt = now, Reason = NotSentReason });
    }

    /// <summary>
    /// Tells a unique task's lock whether its message was sent, at once, so callers waiting on the lock learn it now:
    /// sent, they get this task's id; not sent, the next takes the lock over (not released: a send given up at its
    /// deadline may still arrive, and its worker then finds the lock taken over and drops it). A store that fails is
    /// told with the writer's next flush.
    /// </summary>
    private async ValueTask TellUniqueLockAsync(string uniqueLock, string id, bool sent)
    {
        try
        {
            await records!.Store.UniqueLocks.MarkAsync(uniqueLock, id, sent, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
            records!.MarkUnique(uniqueLock, id, sent);
        }
    }

    private async ValueTask SendAsync(TaskDefinition task, string messageId, ReadOnlyMemory<byte> body, TaskEnqueueOptions? options, CancellationToken cancellationToken)
    {
        try
        {
            await transport.SendAsync(task.Queue, Outgoing(messageId, body, options), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Whatever the transport throws (an SDK's own exception, an AggregateException of its
            // retries), the caller catches one documented exception that names the task and the queue.
            throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' was not enqueued on queue '{task.Queue}': {ex.Message}", ex);
        }
    }

    /// <summary>A message as the enqueue options shape it: every send of a single task or a batch goes through here.</summary>
    private static OutgoingTaskMessage Outgoing(string messageId, ReadOnlyMemory<byte> body, TaskEnqueueOptions? options)
        => new(messageId, body, options?.Delay ?? TimeSpan.Zero, options?.TimeToLive) { ShardKey = options?.ShardKey };
}
