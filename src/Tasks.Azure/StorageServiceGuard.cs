using System;
using System.IO;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;

namespace Tasks.Azure;

/// <summary>
/// One storage service as this process sees it (an account's queues, its blobs or its tables): a
/// deadline on every call, the SDK's retries included, and a circuit. A call that finds the service
/// silent (no answer by its deadline, or no connection) opens the circuit; while it is open, calls
/// fail at once, and a probe in the background asks the service every <see cref="ProbeInterval"/>
/// whether it is back; any answer closes it. So a hung service costs the first callers one deadline
/// each and every later caller nothing, where the SDK alone holds each call for its network timeout
/// times its tries (two minutes).
/// </summary>
/// <remarks>
/// A call given up at its deadline may still be applied: the service has its bytes and may act on
/// them when it wakes. The callers say what that means for each call (docs/reliability.md).
/// </remarks>
internal sealed class StorageServiceGuard
{
    // Set on the probe's own call, so it goes through while every other call fails at once.
    private static readonly AsyncLocal<bool> Probing = new();
    // Set on the probe sent right after the service answered again: how long it takes is how the service answers now.
    private static readonly AsyncLocal<bool> Measuring = new();
    private readonly TimeProvider time;
    private long openedAt = -1; // a timestamp; -1 while the circuit is closed
    private long lastAnswer; // a timestamp: the last time the service answered any call
    private long closedAt; // a timestamp: when the circuit last closed; 0 while it never opened
    private long typicalTicks; // a moving average of how long answered calls took (timestamp ticks)
    private int probeLoop;

    public StorageServiceGuard(string service, TimeSpan deadline, TimeSpan probeInterval, TimeProvider? timeProvider = null)
    {
        Service = service;
        Deadline = deadline;
        ProbeInterval = probeInterval;
        time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>What errors call the service ("Azure Table service at http://..."): named once its client knows its endpoint.</summary>
    public string Service { get; set; }

    /// <summary>The longest one call may take, its retries included, while the service answers as fast as it usually does.</summary>
    public TimeSpan Deadline { get; }

    /// <summary>The most a call may be given, on a service that answers that slowly: six times <see cref="Deadline"/>.</summary>
    public TimeSpan LongestDeadline => Deadline * 6;

    /// <summary>
    /// The deadline of the next call: <see cref="Deadline"/>, or four times the typical answered call when the service is
    /// that slow overall (a busy account, not a hung one), at most six times <see cref="Deadline"/>. A hung service
    /// answers nothing, so its typical call stays what it was and the deadline stays short.
    /// </summary>
    public TimeSpan CurrentDeadline
    {
        get
        {
            var slow = TimeSpan.FromSeconds(4.0 * Interlocked.Read(ref typicalTicks) / time.TimestampFrequency);
            return slow <= Deadline ? Deadline : slow < LongestDeadline ? slow : LongestDeadline;
        }
    }

    /// <summary>How often a silent service is asked, in the background, whether it is back.</summary>
    public TimeSpan ProbeInterval { get; }

    /// <summary>A cheap call on the service (its properties): any answer, even an error status, closes the circuit.</summary>
    public Func<CancellationToken, Task>? Probe { get; set; }

    /// <summary>Whether the service was found silent and has not answered since.</summary>
    public bool IsOpen => Volatile.Read(ref openedAt) >= 0;

    /// <summary>Whether the service is silent now, or was within <paramref name="window"/> before it answered again.</summary>
    public bool SilentWithin(TimeSpan window)
        => IsOpen || (Interlocked.Read(ref closedAt) is var closed and not 0 && time.GetElapsedTime(closed) < window);

    /// <summary>Puts the guard in the pipeline of a client: the deadline around the whole call, the circuit before each try.</summary>
    public void AddTo(ClientOptions options)
    {
        // A try never waits much longer than the whole call may, so a call given up does not keep a socket busy for long.
        options.Retry.NetworkTimeout = LongestDeadline;
        options.AddPolicy(new DeadlinePolicy(this), HttpPipelinePosition.PerCall);
        options.AddPolicy(new CircuitPolicy(this), HttpPipelinePosition.PerRetry);
    }

    /// <summary>Before a call: throws at once while the circuit is open (the probe alone goes through).</summary>
    private void Enter()
    {
        if (IsOpen && !Probing.Value && Probe is not null) throw Silent(); // without a probe, nothing would close it
    }

    private void Answered(long started)
    {
        var now = time.GetTimestamp();
        Interlocked.Exchange(ref lastAnswer, now);
        var took = now - started;
        var typical = Interlocked.Read(ref typicalTicks);
        // The measuring probe's answer is how the service answers now (a busy one slowly): the deadline follows it at
        // once. The probe that found it back is left out: sent into the silence, it took as long as the silence lasted.
        if (typical == 0 || Measuring.Value) Interlocked.Exchange(ref typicalTicks, took);
        else if (!Probing.Value) Interlocked.Exchange(ref typicalTicks, typical + (took - typical) / 8);
        if (Interlocked.Exchange(ref openedAt, -1) >= 0) Interlocked.Exchange(ref closedAt, now);
    }

    /// <summary>Whether the service answered a call within the last <paramref name="window"/>.</summary>
    private bool AnsweredWithin(TimeSpan window) => time.GetElapsedTime(Interlocked.Read(ref lastAnswer)) < window;

    /// <summary>A call of <paramref name="started"/> got no answer: the service is silent if no other call got one since it began (else it is slow, not hung).</summary>
    private void NoAnswer(long started)
    {
        if (Interlocked.Read(ref lastAnswer) < started) FoundSilent(started);
    }

    /// <summary>Opens the circuit; the service has been silent since <paramref name="since"/>, when the call that found it so began.</summary>
    private void FoundSilent(long since)
    {
        Interlocked.CompareExchange(ref openedAt, since, -1);
        if (Probe is not null && Interlocked.CompareExchange(ref probeLoop, 1, 0) == 0) _ = Task.Run(ProbeLoopAsync);
    }

    /// <summary>
    /// While the circuit is open: the probe, every <see cref="ProbeInterval"/>, each within the longest deadline; its answer
    /// closes the circuit, and a second probe then measures how long the service takes to answer now (see <see cref="Answered"/>).
    /// </summary>
    private async Task ProbeLoopAsync()
    {
        try
        {
            while (IsOpen)
            {
                await Task.Delay(ProbeInterval, time).ConfigureAwait(false);
                Probing.Value = true;
                await ProbeOnceAsync().ConfigureAwait(false);
                if (IsOpen) continue;
                Measuring.Value = true;
                await ProbeOnceAsync().ConfigureAwait(false);
                Measuring.Value = false;
            }
        }
        finally
        {
            Volatile.Write(ref probeLoop, 0);
            if (IsOpen && Interlocked.CompareExchange(ref probeLoop, 1, 0) == 0) _ = Task.Run(ProbeLoopAsync); // opened again as this loop ended
        }
    }

    private async Task ProbeOnceAsync()
    {
        try
        {
            await Probe!(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // An error status closed the circuit all the same (see DeadlinePolicy); silence keeps it open.
        }
    }

    private StorageServiceSilentException Silent()
        => new(Service, $"did not answer for {time.GetElapsedTime(Volatile.Read(ref openedAt)).TotalSeconds:N0} s now: calls fail at once while it is silent, and it is asked every {ProbeInterval.TotalSeconds:N0} s whether it is back.");

    private enum News { Answered, Silent, None }

    /// <summary>What a failed call says of the service: it answered (an error status), it was silent, or nothing (the caller gave up, the circuit refused).</summary>
    private static News NewsOf(Exception exception, CancellationToken callerToken) => exception switch
    {
        AggregateException { InnerExceptions.Count: > 0 } aggregate => NewsOf(aggregate.InnerExceptions[^1], callerToken), // the SDK's tries: the last one tells
        StorageServiceSilentException => News.None,
        OperationCanceledException => callerToken.IsCancellationRequested ? News.None : News.Silent, // else the SDK's network timeout
        RequestFailedException { Status: 0 } or HttpRequestException or IOException or TimeoutException => News.Silent,
        _ => News.Answered,
    };

    /// <summary>The whole call, retries included, within the deadline; its outcome tells the circuit.</summary>
    private sealed class DeadlinePolicy(StorageServiceGuard guard) : HttpPipelinePolicy
    {
        public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            guard.Enter();
            // The caller's token, taken before the pipeline links the network timeout into the message's.
            var callerToken = message.CancellationToken;
            var started = guard.time.GetTimestamp();
            // The probe waits as long as any call may: a busy service that answers slowly is then told from a hung one.
            var deadline = Probing.Value ? guard.LongestDeadline : guard.CurrentDeadline;
            var call = ProcessNextAsync(message, pipeline).AsTask();
            try
            {
                // A service that goes on answering other calls is slow, not hung (a pause of its own, a burst): this
                // call waits on, a step at a time, while it does, up to the longest deadline.
                var answered = await AnsweredWithinAsync(call, deadline, callerToken).ConfigureAwait(false);
                var step = guard.Deadline / 5;
                for (; !answered && deadline < guard.LongestDeadline && guard.AnsweredWithin(step); deadline += step)
                    answered = await AnsweredWithinAsync(call, step, callerToken).ConfigureAwait(false);

                if (!answered)
                {
                    guard.NoAnswer(started);
                    _ = call.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                    throw new StorageServiceSilentException(guard.Service, $"did not answer within {deadline.TotalSeconds:N0} s.");
                }
            }
            catch (Exception ex)
            {
                switch (NewsOf(ex, callerToken))
                {
                    case News.Silent: guard.NoAnswer(started); break;
                    case News.Answered: guard.Answered(started); break;
                }

                throw;
            }

            guard.Answered(started);
        }

        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            guard.Enter();
            ProcessNext(message, pipeline);
        }

        private async Task<bool> AnsweredWithinAsync(Task call, TimeSpan wait, CancellationToken callerToken)
        {
            try
            {
                await call.WaitAsync(wait, guard.time, callerToken).ConfigureAwait(false);
                return true;
            }
            catch (TimeoutException) when (!call.IsCompleted)
            {
                return false;
            }
        }
    }

    /// <summary>Before each retry: a call retrying while the service is found silent gives up at once (its first try is the deadline policy's to allow).</summary>
    private sealed class CircuitPolicy(StorageServiceGuard guard) : HttpPipelinePolicy
    {
        public override ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            Check(message);
            return ProcessNextAsync(message, pipeline);
        }

        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            Check(message);
            ProcessNext(message, pipeline);
        }

        private void Check(HttpMessage message)
        {
            if (message.TryGetProperty(typeof(CircuitPolicy), out _) && guard.IsOpen) throw guard.Silent();
            message.SetProperty(typeof(CircuitPolicy), true);
        }
    }
}

/// <summary>A storage service did not answer in time, or has been silent since an earlier call found it so: nothing was done, or may be done later.</summary>
internal sealed class StorageServiceSilentException(string service, string problem) : Exception($"{service} {problem}")
{
    /// <summary>What happened, without the service's name (the callers that name it already).</summary>
    public string Problem => problem;
}
