using System;
using System.Buffers;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>
/// Envelopes that travel in the payload store: fetched into pooled memory, under the message's lease, and checked
/// before the task runs; deleted once it has succeeded; swept when no message can need them any more.
/// </summary>
internal sealed class PayloadFetcher(
    ITaskTransport transport,
    TaskWorkerOptions options,
    EnvelopeSigner? signer,
    LeaseKeeper leases,
    RunRecorder recorder,
    FlowCoordinator flows,
    RedeliveryCheck? redelivery,
    CancellationToken stopping,
    ILogger logger,
    TimeProvider time)
{
    // What the transport can do, resolved once.
    private readonly ITaskPayloadStore? payloads = transport as ITaskPayloadStore;

    private Task sweep = Task.CompletedTask;

    /// <summary>
    /// Reads the reference <paramref name="message"/> carries and fetches its envelope into a pooled
    /// buffer (returned, for the caller to give back), pointing <see cref="ReceivedTaskMessage.Envelope"/> at it.
    /// Or the result that settles the message without a run: a bad reference, a missing or changed payload
    /// (dead letters with the reason), a second copy of a continuation whose payload its first run deleted
    /// (skipped). Neither if the store failed.
    /// </summary>
    public async Task<(byte[]? Buffer, TaskRunResult? Result)> FetchAsync(ReceivedTaskMessage message)
    {
        TaskPayloadReference reference;
        try
        {
            reference = TaskPayloadReference.Read(message.Body, signer);
        }
        catch (TaskEnvelopeException ex)
        {
            return (null, recorder.DeadLettered(message, null, ex.Message, ex, null));
        }

        message.Payload = reference;
        message.MessageId = reference.MessageId ?? message.MessageId;
        if (payloads is not { } store)
            return (null, recorder.DeadLettered(message, reference.TaskName, $"The message refers to payload '{reference.Blob}' in a payload store, and this worker's transport ({transport.Describe()}) has none.", null, null));

        // A length no enqueue could have written (a forged or broken message) must not size a buffer.
        if (reference.Length > store.MaxEnvelopeBytes)
            return (null, recorder.DeadLettered(message, reference.TaskName, $"The message refers to a payload of {reference.Length:N0} bytes, more than the transport's MaxEnvelopeBytes ({store.MaxEnvelopeBytes:N0}): it was not fetched.", null, null));

        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(1, reference.Length));
        long? length;
        // The message's lease is renewed while the payload comes: a slow or hung blob service must not let the
        // message come back and run on another worker meanwhile.
        var hold = leases.Hold(message, time.GetTimestamp());
        try
        {
            length = await store.ReadPayloadAsync(reference.Blob, buffer.AsMemory(0, (int)reference.Length), stopping).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (ex is not OperationCanceledException) WorkerLog.PayloadFailed(logger, ex, reference.Blob, message.MessageId, message.Queue);
            return (null, null);
        }
        finally
        {
            await hold.DisposeAsync().ConfigureAwait(false);
        }

        var problem = length is null
            ? $"The payload blob '{reference.Blob}' of this message is missing (deleted, or never stored): the task was not run."
            : reference.Check(length.Value, buffer.AsSpan(0, (int)reference.Length));
        if (problem is null)
        {
            message.Envelope = buffer.AsMemory(0, (int)reference.Length);
            return (buffer, null);
        }

        ArrayPool<byte>.Shared.Return(buffer);

        // The first copy of a continuation released twice ran, and deleted the payload: this copy is the duplicate.
        if (length is null && reference.Parent is not null && await flows.ClaimRunAsync(message).ConfigureAwait(false) is RunClaim.Copy)
        {
            WorkerLog.SkippedDuplicate(logger, reference.TaskName ?? "(unknown)", message.MessageId);
            return (null, TaskRunResult.Of(message, reference.TaskName, TaskOutcome.Skipped));
        }

        // A copy of a task that ran and deleted its payload (its delete of the message failed): not a dead letter.
        if (length is null && redelivery is not null && await redelivery.EndedEarlierAsync(message, reference.TaskName ?? "(unknown)").ConfigureAwait(false))
            return (null, TaskRunResult.Of(message, reference.TaskName, TaskOutcome.Skipped));

        return (null, recorder.DeadLettered(message, reference.TaskName, problem, null, null));
    }

    /// <summary>After a task's message is deleted: its payload is not needed any more. A failure leaves it to the sweep.</summary>
    public async Task DeleteAsync(ReceivedTaskMessage message)
    {
        if (message.Payload is not { } reference || payloads is not { } store) return;
        try
        {
            await store.DeletePayloadAsync(reference.Blob, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            WorkerLog.PayloadFailed(logger, ex, reference.Blob, message.MessageId, message.Queue);
        }
    }

    /// <summary>Sweeps the payload store now and then until the worker stops (every <see cref="TaskWorkerOptions.PayloadSweepInterval"/>).</summary>
    public void StartSweep()
    {
        if (payloads is { } store && options.PayloadSweepInterval > TimeSpan.Zero)
            sweep = Task.Run(() => SweepLoopAsync(store), CancellationToken.None);
    }

    /// <summary>Completes once the sweep has stopped.</summary>
    public Task Sweeping => sweep;

    private async Task SweepLoopAsync(ITaskPayloadStore store)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.PayloadSweepInterval, time, stopping).ConfigureAwait(false);
                var deleted = await store.SweepPayloadsAsync(options.PayloadOrphanGrace, stopping).ConfigureAwait(false);
                if (deleted == 0) continue;
                WorkerLog.PayloadsSwept(logger, deleted, options.PayloadOrphanGrace);
                TasksTelemetry.PayloadOrphansDeleted.Add(deleted);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                WorkerLog.PayloadFailed(logger, ex, "(sweep)", "(none)", "(all)");
            }
        }
    }
}
