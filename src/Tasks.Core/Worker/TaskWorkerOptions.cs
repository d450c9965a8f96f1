using System;
using System.Collections.Generic;
using System.Linq;
using MessagePack;

namespace Tasks;

/// <summary>How a <see cref="TaskWorker"/> pulls and runs tasks. Every default is documented on its property.</summary>
public sealed class TaskWorkerOptions
{
    /// <summary>The queues to listen on. Empty (the default): every queue a registered task uses.</summary>
    public IList<string> Queues { get; } = new List<string>();

    /// <summary>The most tasks running at once in this worker. Default: 16.</summary>
    public int MaxConcurrency { get; set; } = 16;

    /// <summary>The most tasks of one queue running at once. Default: null, limited by <see cref="MaxConcurrency"/> only.</summary>
    public int? MaxConcurrencyPerQueue { get; set; }

    /// <summary>
    /// How the slots go to the queues when more than one has work waiting: first come (the default), by
    /// <see cref="QueueWeights"/>, or in the order of <see cref="Queues"/> (strict: a queue runs only while no queue
    /// before it has work). An empty queue takes no slot whatever its priority, and asks its queue no more often.
    /// </summary>
    public QueuePriority QueuePriority { get; set; }

    /// <summary>For <see cref="QueuePriority.Weighted"/>: each queue's weight (1 if not listed). With every queue busy, a queue of weight 3 beside one of weight 1 gets 3 of every 4 slots.</summary>
    public IDictionary<string, int> QueueWeights { get; } = new Dictionary<string, int>(StringComparer.Ordinal);

    /// <summary>How often this worker reads which queues are paused (<see cref="ITaskQueuePauses"/>): a pause or a resume takes effect within it. Default: 5 s.</summary>
    public TimeSpan PauseCheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The most messages asked for in one receive; a transport may return fewer (Azure returns at most 32). Default: 32.</summary>
    public int BatchSize { get; set; } = 32;

    /// <summary>How long a received message stays invisible to other workers; renewed at half of it while the task runs. Default: 30 s.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one run of a task may take before its token fires and the run counts as failed. Default: 10 minutes; null for none.</summary>
    public TimeSpan? TaskTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The delays between attempts of a failing task.</summary>
    public TaskRetryPolicy Retry { get; set; } = new();

    /// <summary>
    /// How often the worker sweeps the payload store for payloads no message can need (see
    /// <see cref="PayloadOrphanGrace"/>); one worker at a time sweeps. Zero turns the sweep off. Default: 10 minutes.
    /// </summary>
    public TimeSpan PayloadSweepInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long past its message's expiry a payload is kept before the sweep deletes it (a dead letter's
    /// payload is kept until the dead letter is purged). Default: 1 hour.
    /// </summary>
    public TimeSpan PayloadOrphanGrace { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The first wait after an empty receive; the wait doubles up to <see cref="MaxPollingInterval"/>. Default: 100 ms.</summary>
    public TimeSpan MinPollingInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait between receives of an idle queue. Default: 2 s.</summary>
    public TimeSpan MaxPollingInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>On stop, how long running tasks may finish before their token fires and they are released. Default: 10 s.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// On stop, how long a task may take to honour its fired token before the worker abandons it:
    /// its message is made visible again (another worker runs it) and the stop returns, so a stop
    /// never takes longer than <see cref="DrainTimeout"/> plus this. Default: 5 s.
    /// </summary>
    public TimeSpan StopGrace { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How often a host reads each queue's depth for the <c>tasks.queue.depth</c> gauge, only while
    /// a meter listener (OpenTelemetry's <c>AddTasksInstrumentation</c>) subscribes to it. Each
    /// reading costs the transport one or two calls per queue. Default: 30 s.
    /// </summary>
    public TimeSpan QueueDepthInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The MessagePack settings arguments are read with. Default: <see cref="TaskSerializer.DefaultOptions"/>.
    /// A worker refuses settings that would trust a message: security looser than
    /// <see cref="MessagePackSecurity.UntrustedData"/>, a Typeless resolver, or compression.
    /// </summary>
    public MessagePackSerializerOptions SerializerOptions { get; set; } = TaskSerializer.DefaultOptions;

    /// <summary>
    /// HMAC-SHA256 envelope signing: with keys, this worker checks signatures (and its host's client
    /// signs); with <see cref="TaskSigningOptions.Required"/>, unsigned or forged envelopes are
    /// dead-lettered and never run. Default: no keys, nothing signed or checked.
    /// </summary>
    public TaskSigningOptions Signing { get; } = new();

    internal void Validate()
    {
        if (MaxConcurrency < 1) throw new ArgumentOutOfRangeException(nameof(MaxConcurrency), MaxConcurrency, "At least one task must be able to run.");
        if (MaxConcurrencyPerQueue is < 1) throw new ArgumentOutOfRangeException(nameof(MaxConcurrencyPerQueue), MaxConcurrencyPerQueue, "At least one task per queue must be able to run.");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "A batch holds at least one message.");
        if (LeaseDuration < TimeSpan.FromSeconds(1)) throw new ArgumentOutOfRangeException(nameof(LeaseDuration), LeaseDuration, "A lease lasts at least 1 second.");
        if (PayloadSweepInterval < TimeSpan.Zero || PayloadOrphanGrace < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(PayloadSweepInterval), "TaskWorkerOptions.PayloadSweepInterval and PayloadOrphanGrace must not be negative.");
        if (MinPollingInterval <= TimeSpan.Zero || MaxPollingInterval < MinPollingInterval)
            throw new ArgumentOutOfRangeException(nameof(MinPollingInterval), "Polling intervals must be positive, with the minimum not above the maximum.");
        if (QueueWeights.FirstOrDefault(w => w.Value < 1) is { Key: { } light } weight)
            throw new ArgumentOutOfRangeException(nameof(QueueWeights), weight.Value, $"Queue '{light}' has weight {weight.Value}; a weight is 1 or more.");
        if (QueuePriority == QueuePriority.Strict && Queues.Count == 0)
            throw new ArgumentException("QueuePriority.Strict takes the queues in the order of TaskWorkerOptions.Queues: list them, the first first.", nameof(QueuePriority));
        if (PauseCheckInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(PauseCheckInterval), PauseCheckInterval, "Paused queues are read at a positive interval.");
        if (QueueDepthInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(QueueDepthInterval), QueueDepthInterval, "The queue depth is read at a positive interval.");
        foreach (var (name, value) in new[] { (nameof(DrainTimeout), DrainTimeout), (nameof(StopGrace), StopGrace), (nameof(LeaseDuration), LeaseDuration), (nameof(TaskTimeout), TaskTimeout ?? TimeSpan.Zero) })
        {
            // Negative (as Timeout.InfiniteTimeSpan is) or longer than a timer takes would throw mid-run.
            if (value < TimeSpan.Zero || value > AsyncTaskDefaults.MaxDuration)
                throw new ArgumentOutOfRangeException(name, value, $"{name} must be between 0 and {AsyncTaskDefaults.MaxDuration.Days} days (use null for no TaskTimeout).");
        }

        if (TaskTimeout == TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(TaskTimeout), TaskTimeout, "A zero TaskTimeout would cancel every task at once; use null for none.");
        if (SerializerOptions is null) throw new ArgumentNullException(nameof(SerializerOptions));
        if (TaskSerializer.Unsafe(SerializerOptions) is { } problem)
            throw new ArgumentException($"TaskWorkerOptions.SerializerOptions would trust what a queue message says: {problem}. Queue messages are input from outside; start from TaskSerializer.DefaultOptions (e.g. TaskSerializer.DefaultOptions.WithResolver(...)).", nameof(SerializerOptions));
    }
}

/// <summary>Exponential backoff with jitter: attempt n waits <c>BaseDelay * 2^(n-1)</c>, capped at <c>MaxDelay</c>, spread by ±<c>Jitter</c>.</summary>
public sealed class TaskRetryPolicy
{
    /// <summary>The wait after the first failure. Default: 2 s.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The longest wait. Default: 10 minutes.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The fraction by which a delay is spread at random either way, so failed tasks don't retry in lockstep. Default: 0.2.</summary>
    public double Jitter { get; set; } = 0.2;

    /// <summary>The delay after the failure of attempt <paramref name="attempt"/> (1-based).</summary>
    public TimeSpan GetDelay(int attempt, Random? random = null) => GetDelay(attempt, BaseDelay, random);

    /// <summary>The delay after the failure of attempt <paramref name="attempt"/>, from a task's own <paramref name="baseDelay"/>.</summary>
    internal TimeSpan GetDelay(int attempt, TimeSpan baseDelay, Random? random = null)
    {
        var exponent = Math.Clamp(attempt - 1, 0, 30);
        var ticks = Math.Min(baseDelay.Ticks * Math.Pow(2, exponent), MaxDelay.Ticks);
        if (Jitter > 0)
            ticks *= 1 + Jitter * (2 * (random ?? Random.Shared).NextDouble() - 1);
        return TimeSpan.FromTicks((long)Math.Min(ticks, MaxDelay.Ticks));
    }
}

/// <summary>How a worker's slots go to its queues when more than one has work waiting (<see cref="TaskWorkerOptions.QueuePriority"/>).</summary>
public enum QueuePriority
{
    /// <summary>First come, first served.</summary>
    None,

    /// <summary>By <see cref="TaskWorkerOptions.QueueWeights"/>: shares in proportion, none starved.</summary>
    Weighted,

    /// <summary>In the order of <see cref="TaskWorkerOptions.Queues"/>: a queue gets a slot only while no queue before it has work.</summary>
    Strict,
}
