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
    private readonly ITaskTransport transport;
    private readonly TimeProvider time;
    private readonly MessagePackSerializerOptions serializerOptions;
    private readonly EnvelopeSigner? signer;

    /// <summary>Creates a client over <paramref name="transport"/>.</summary>
    /// <param name="transport">Where envelopes go.</param>
    /// <param name="timeProvider">The clock of the enqueued-at header.</param>
    /// <param name="serializerOptions">How arguments are written; <see cref="TaskSerializer.DefaultOptions"/> if null.</param>
    /// <param name="signing">Keys to sign envelopes with (the first signs); null or empty to send them unsigned.</param>
    public TaskClient(ITaskTransport transport, TimeProvider? timeProvider = null, MessagePackSerializerOptions? serializerOptions = null, TaskSigningOptions? signing = null)
    {
        this.transport = transport ?? throw new ArgumentNullException(nameof(transport));
        time = timeProvider ?? TimeProvider.System;
        this.serializerOptions = serializerOptions ?? TaskSerializer.DefaultOptions;
        signer = EnvelopeSigner.Create(signing);
    }

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

        var messageId = TaskHeaders.NewMessageId();
        activity?.SetTag(TasksTelemetry.MessageIdTag, messageId);
        var buffer = RentBuffer();
        try
        {
            WriteEnvelope(buffer, task, arguments, messageId);
            if (buffer.WrittenCount > transport.MaxMessageBytes)
                throw new TaskMessageTooLargeException(task.Name, task.Queue, buffer.WrittenCount, transport.MaxMessageBytes);
            await SendAsync(task, messageId, buffer.WrittenMemory, options, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ReturnBuffer(buffer);
        }

        TasksTelemetry.Enqueued.Add(1, new KeyValuePair<string, object?>(TasksTelemetry.TaskNameTag, task.Name));
        return messageId;
    }

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
        var envelopes = new ArrayBufferWriter<byte>(ids.Length * 128);
        var ends = new int[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            var task = entries[i].Definition;
            var start = envelopes.WrittenCount;
            ids[i] = TaskHeaders.NewMessageId();
            entries[i].Write(envelopes, ids[i], this);
            ends[i] = envelopes.WrittenCount;
            if (ends[i] - start > transport.MaxMessageBytes)
                throw new TaskMessageTooLargeException(task.Name, task.Queue, ends[i] - start, transport.MaxMessageBytes);
        }

        var packer = new BatchPacker(this, envelopes.WrittenMemory, ends, ids, entries, options);
        await packer.SendAsync(cancellationToken).ConfigureAwait(false);
        return ids;
    }

    /// <summary>Sends the envelopes of a batch, queue by queue, in packs as large as a message may be.</summary>
    private sealed class BatchPacker(TaskClient client, ReadOnlyMemory<byte> envelopes, int[] ends, string[] ids, IReadOnlyList<TaskBatch.Entry> entries, TaskEnqueueOptions? options)
    {
        private readonly List<int> pack = new();
        private readonly ArrayBufferWriter<byte> packBuffer = new();
        private int sent;

        private ReadOnlyMemory<byte> Envelope(int i) => envelopes[(i == 0 ? 0 : ends[i - 1])..ends[i]];

        public async Task SendAsync(CancellationToken cancellationToken)
        {
            var room = client.transport.MaxMessageBytes - TaskPack.FixedOverhead;
            foreach (var queue in entries.Select(e => e.Definition.Queue).Distinct(StringComparer.Ordinal).ToArray())
            {
                var size = 0;
                for (var i = 0; i < entries.Count; i++)
                {
                    if (entries[i].Definition.Queue != queue) continue;
                    var needed = Envelope(i).Length + TaskPack.PerEnvelopeOverhead;
                    if (pack.Count > 0 && size + needed > room)
                    {
                        await FlushAsync(queue, cancellationToken).ConfigureAwait(false);
                        size = 0;
                    }

                    pack.Add(i);
                    size += needed;
                }

                await FlushAsync(queue, cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task FlushAsync(string queue, CancellationToken cancellationToken)
        {
            // A task alone travels as a plain envelope: a pack of one would only add bytes.
            string messageId;
            ReadOnlyMemory<byte> body;
            if (pack.Count == 1)
            {
                (messageId, body) = (ids[pack[0]], Envelope(pack[0]));
            }
            else
            {
                messageId = TaskHeaders.NewMessageId();
                packBuffer.ResetWrittenCount();
                TaskPack.Write(packBuffer, pack.Select(Envelope).ToArray(), messageId, client.time.GetUtcNow(), priorAttempts: 0);
                body = packBuffer.WrittenMemory;
            }

            try
            {
                await client.transport.SendAsync(queue, new OutgoingTaskMessage(messageId, body, options?.Delay ?? TimeSpan.Zero, options?.TimeToLive), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                var first = entries[pack[0]].Definition.Name;
                throw new TaskEnqueueException(first, queue, $"{pack.Count} tasks of the batch (the first '{first}', id {ids[pack[0]]}) were not enqueued on queue '{queue}'; {sent} of its {entries.Count} tasks were sent before: {ex.Message}", ex);
            }

            sent += pack.Count;
            foreach (var i in pack) TasksTelemetry.Enqueued.Add(1, new KeyValuePair<string, object?>(TasksTelemetry.TaskNameTag, entries[i].Definition.Name));
            pack.Clear();
        }
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

    internal void WriteEnvelope<TArguments>(ArrayBufferWriter<byte> buffer, TaskDefinition<TArguments> task, TArguments arguments, string messageId)
        where TArguments : class
    {
        try
        {
            TaskEnvelope.Write(buffer, task, arguments, messageId, time.GetUtcNow(), Activity.Current?.Id, serializerOptions, signer);
        }
        catch (Exception ex)
        {
            throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' was not enqueued: its arguments could not be written ({ex.Message}).", ex);
        }
    }

    private async ValueTask SendAsync<TArguments>(TaskDefinition<TArguments> task, string messageId, ReadOnlyMemory<byte> body, TaskEnqueueOptions? options, CancellationToken cancellationToken)
        where TArguments : class
    {
        try
        {
            await transport.SendAsync(
                task.Queue,
                new OutgoingTaskMessage(messageId, body, options?.Delay ?? TimeSpan.Zero, options?.TimeToLive),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Whatever the transport throws (an SDK's own exception, an AggregateException of its
            // retries), the caller catches one documented exception that names the task and the queue.
            throw new TaskEnqueueException(task.Name, task.Queue, $"Task '{task.Name}' was not enqueued on queue '{task.Queue}': {ex.Message}", ex);
        }
    }
}
