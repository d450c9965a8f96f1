using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Tasks;

/// <summary>
/// One received message from its receive to its settle: a pack goes to the <see cref="PackRunner"/>; a payload
/// reference has its envelope fetched first; an envelope is run by the <see cref="TaskRunner"/> and settled by the
/// <see cref="Settler"/>. The message's concurrency slot is given back when its task's work is done, before the settle.
/// </summary>
internal sealed class MessageHandler(PackRunner packs, PayloadFetcher payloads, TaskRunner runner, Settler settler, RunTracker tracker, ILogger logger)
{
    private readonly Stack<HandOff> handOffs = new();

    /// <summary>A message received in a slot of its own goes to the thread pool; the receive loop goes on receiving.</summary>
    public void HandOn(ReceivedTaskMessage message, QueueSlots slots)
    {
        tracker.Received();
        HandOff? handOff;
        lock (handOffs) handOffs.TryPop(out handOff);
        handOff ??= new HandOff(this);
        (handOff.Message, handOff.Slots) = (message, slots);
        ThreadPool.UnsafeQueueUserWorkItem(handOff, preferLocal: false);
    }

    /// <summary>A message on its way to the thread pool; one per slot in use, used again (a message handed on allocates nothing for it).</summary>
    private sealed class HandOff(MessageHandler handler) : IThreadPoolWorkItem
    {
        public ReceivedTaskMessage? Message { get; set; }

        public QueueSlots? Slots { get; set; }

        public void Execute()
        {
            var (message, slots) = (Message!, Slots!);
            (Message, Slots) = (null, null);
            lock (handler.handOffs) handler.handOffs.Push(this);
            _ = handler.RunInSlotAsync(message, slots);
        }
    }

    /// <summary>Handles a message received in a slot of its own: nothing awaits it.</summary>
    private async Task RunInSlotAsync(ReceivedTaskMessage message, QueueSlots slots)
    {
        try
        {
            await HandleAsync(message, slots, holdsSlot: true).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Nothing awaits this run: say what went wrong; the message comes back when its lease ends.
            WorkerLog.HandlingFailed(logger, ex, message.MessageId, message.Queue);
        }
        finally
        {
            tracker.Handled();
        }
    }

    /// <summary>
    /// Runs and settles one received message: a pack, a payload reference (its envelope fetched first)
    /// or an envelope. Releases the message's concurrency slot when its work is done, if it holds one.
    /// </summary>
    public async Task HandleAsync(ReceivedTaskMessage message, QueueSlots slots, bool holdsSlot)
    {
        if (TaskPack.IsPack(message.Body))
        {
            await packs.RunAsync(message, slots, holdsSlot).ConfigureAwait(false);
            return;
        }

        byte[]? fetched = null;
        try
        {
            TaskRunResult? result = null;
            try
            {
                // A payload that cannot be run settles the message without a run (a dead letter, a duplicate);
                // one the store failed to give leaves it to come back when its lease ends.
                var runs = true;
                if (TaskPayloadReference.IsReference(message.Body))
                {
                    (fetched, result) = await payloads.FetchAsync(message).ConfigureAwait(false);
                    runs = fetched is not null;
                }

                if (runs) result = await runner.ExecuteAsync(message).ConfigureAwait(false);
            }
            finally
            {
                if (holdsSlot) slots.Release();
            }

            // Settling is I/O, not the task's work: it runs outside the concurrency limit, so a slow
            // delete does not keep the next task waiting. No result: a stop abandoned the run.
            if (result is { } ended) await settler.SettleAsync(message, ended).ConfigureAwait(false);
        }
        finally
        {
            message.Envelope = message.Body;
            if (fetched is not null) System.Buffers.ArrayPool<byte>.Shared.Return(fetched);
        }
    }
}
