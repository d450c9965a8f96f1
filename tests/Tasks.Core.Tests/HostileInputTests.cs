using System.Collections.Concurrent;
using System.Text;
using CsCheck;
using MessagePack;

namespace Tasks.Core.Tests;

/// <summary>
/// Property-based hostile input: 100,000 random and mutated envelopes (bit flips, truncation,
/// forged lengths, deep nesting, wrong types, unknown names, forged signatures) through the decoder
/// and the worker. Each one runs or is dead-lettered with a reason; nothing else happens — no other
/// exception, no hang, no stack overflow, no allocation that follows a forged length.
/// </summary>
[Trait("Category", "Fault")]
public sealed class HostileInputTests
{
    private const int Count = 100_000;

    private static readonly TaskSigningOptions Keys = new()
    {
        Keys = { new TaskSigningKey { Id = "k", Secret = Convert.ToBase64String(new byte[32]) } },
    };

    private static readonly byte[][] Valid = ValidEnvelopes();

    [Fact]
    public void The_decoder_reads_or_refuses_every_hostile_envelope_with_a_reason_and_bounded_allocation()
    {
        var signer = EnvelopeSigner.Create(Keys)!;
        var required = EnvelopeSigner.Create(new TaskSigningOptions { Required = true, Keys = { Keys.Keys[0] } })!;
        var outcomes = new ConcurrentDictionary<string, int>();
        long worstAllocation = 0;
        string? worstCase = null;

        Hostile.Sample(body =>
        {
            foreach (var check in new[] { null, signer, required })
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                string outcome;
                try
                {
                    var decoded = TaskEnvelope.Read(body, TaskRegistry.Default, TaskSerializer.DefaultOptions, check);
                    _ = decoded.ReadHeaders(); // what TaskContext.Headers does: never throws once decoded
                    outcome = "decoded";
                }
                catch (TaskEnvelopeException ex)
                {
                    Assert.False(string.IsNullOrWhiteSpace(ex.Message));
                    outcome = ex.Message.Split(':')[0];
                }

                var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                Assert.True(allocated <= AllocationBound(body), $"{allocated:N0} bytes allocated for a {body.Length}-byte message ({outcome}): {Convert.ToHexString(body.AsSpan(0, Math.Min(body.Length, 64)))}");
                if (allocated > Interlocked.Read(ref worstAllocation))
                {
                    Interlocked.Exchange(ref worstAllocation, allocated);
                    worstCase = $"{allocated:N0} B for {body.Length} B ({outcome})";
                }

                outcomes.AddOrUpdate(outcome.Length > 60 ? outcome[..60] : outcome, 1, (_, n) => n + 1);
            }
        }, iter: Count, seed: "0N0XIzNsQ0O2", threads: 1);

        Assert.True(outcomes.GetValueOrDefault("decoded") > Count / 20, Describe(outcomes));
        Assert.True(outcomes.Count > 10, Describe(outcomes));
        Console.WriteLine($"hostile input, decoder: {Count:N0} envelopes x 3 signing modes; worst allocation {worstCase}; outcomes:\n{Describe(outcomes)}");
    }

    [Fact]
    public async Task The_worker_runs_or_dead_letters_every_hostile_message_with_a_reason_and_nothing_else()
    {
        var transport = new InMemoryTransport(maxMessageBytes: int.MaxValue);
        var options = new TaskWorkerOptions { MinPollingInterval = TimeSpan.FromMilliseconds(1) };
        options.Queues.Add(HostileInputTests.QueueName);
        options.Signing.Keys.Add(Keys.Keys[0]);
        var results = new ConcurrentBag<TaskRunResult>();
        var logs = new FailureLog();
        await using var worker = new TaskWorker(transport, options, logger: logs);
        worker.TaskRan += results.Add;
        var sent = 0;
        Hostile.Sample(body =>
        {
            transport.SendRaw(QueueName, body, $"m{sent}");
            sent++;
        }, iter: Count, seed: "0N0XIzNsQ0O2", threads: 1);

        while (await worker.RunOnceAsync().WaitAsync(TimeSpan.FromSeconds(30)) > 0)
        {
        }

        Assert.Equal(Count, results.Count);
        Assert.All(results, r => Assert.True(
            r.Outcome == TaskOutcome.Completed || (r.Outcome == TaskOutcome.DeadLettered && !string.IsNullOrWhiteSpace(r.Reason)),
            $"{r.MessageId}: {r.Outcome} {r.Reason} {r.Exception}"));
        Assert.Empty(logs.Unexpected);
        Assert.Empty(transport.Peek(QueueName));
        Console.WriteLine($"hostile input, worker: {Count:N0} messages, {results.Count(r => r.Outcome == TaskOutcome.Completed):N0} ran, {results.Count(r => r.Outcome == TaskOutcome.DeadLettered):N0} dead-lettered with a reason, 0 other");
    }

    private const string QueueName = HostileInputTasks.Queue;

    /// <summary>The arguments a message may really carry, a few times over, plus the decoder's own fixed costs.</summary>
    private static long AllocationBound(byte[] body) => 64L * body.Length + 64 * 1024;

    private static Gen<byte[]> Hostile { get; } = Gen.Select(Gen.Int[0, Valid.Length - 1], Gen.Int[0, 11], Gen.Int, Gen.Byte.Array[1, 24], (index, kind, position, noise) =>
    {
        var body = Valid[index];
        var at = (int)((uint)position % (uint)body.Length);
        return kind switch
        {
            0 => body,
            1 => Flip(body, at, 1 << (position & 7)),
            2 => body[..at],
            3 => [.. body[..at], .. noise, .. body[at..]],
            4 => [.. body[..at], .. ForgedLength(noise[0]), .. body[at..]],
            5 => [.. body[..at], .. Enumerable.Repeat((byte)0x91, 1 + (position & 0xFFFF)), 0xC0, .. body[at..]],
            6 => Replace(body, at, noise[0]),
            7 => UnknownName(body, noise),
            8 => ForgedSignature(body, noise),
            9 => noise,
            10 => [0x95, .. body[1..], 0x92, 0xA1, (byte)'k', 0xC4, 0x20, .. new byte[32]],
            _ => [.. body, .. noise],
        };
    });

    private static byte[] Flip(byte[] body, int at, int bit)
    {
        var copy = body.ToArray();
        copy[at] ^= (byte)bit;
        return copy;
    }

    private static byte[] Replace(byte[] body, int at, byte value)
    {
        var copy = body.ToArray();
        copy[at] = value;
        return copy;
    }

    /// <summary>A container or string header that claims up to 4 GiB of content the message does not have.</summary>
    private static byte[] ForgedLength(byte kind) => (kind % 6) switch
    {
        0 => [0xDD, 0xFF, 0xFF, 0xFF, 0xFF], // array32
        1 => [0xDF, 0x7F, 0xFF, 0xFF, 0xFF], // map32
        2 => [0xDB, 0xFF, 0xFF, 0xFF, 0xF0], // str32
        3 => [0xC6, 0x7F, 0xFF, 0xFF, 0xFF], // bin32
        4 => [0xDC, 0xFF, 0xFF],             // array16
        _ => [0xC9, 0x7F, 0xFF, 0xFF, 0xFF, 0x01], // ext32
    };

    private static byte[] UnknownName(byte[] body, byte[] noise)
    {
        var name = Encoding.UTF8.GetString(noise.Select(b => (byte)('a' + b % 26)).ToArray());
        var reader = new MessagePackReader(body);
        reader.ReadArrayHeader();
        reader.ReadInt32();
        var nameStart = (int)reader.Consumed;
        reader.Skip();
        var nameEnd = (int)reader.Consumed;
        return Envelopes.Build((ref MessagePackWriter w) =>
        {
            w.WriteRaw(body.AsSpan(0, nameStart));
            w.Write(name);
            w.WriteRaw(body.AsSpan(nameEnd));
        });
    }

    private static byte[] ForgedSignature(byte[] body, byte[] noise)
    {
        var signed = Sign(body);
        var copy = signed.ToArray();
        copy[^(1 + noise[0] % 32)] ^= (byte)(1 + noise[^1] % 255);
        return copy;
    }

    private static byte[] Sign(byte[] body)
    {
        var mac = new byte[EnvelopeSigner.MacLength];
        var keyId = EnvelopeSigner.Create(Keys)!.Sign(body.AsSpan(1), mac);
        return Envelopes.Build((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(5);
            w.WriteRaw(body.AsSpan(1));
            w.WriteArrayHeader(2);
            w.Write(keyId);
            w.Write(mac);
        });
    }

    private static byte[][] ValidEnvelopes()
    {
        var transport = new InMemoryTransport(maxMessageBytes: int.MaxValue);
        var client = new TaskClient(transport);
        var signing = new TaskClient(transport, signing: Keys);
        var calls = new List<Func<ITaskClient, ValueTask<string>>>
        {
            c => HostileInputTasks.EverythingAsync.Enqueue(c, Guid.NewGuid(), "text", 5, 12.5m, DateTimeOffset.UnixEpoch, [1, 2, 3], ["a", "b"], new() { ["x"] = 1, ["y"] = null }, new Address("Main", 7), new Circle(2)),
            c => HostileInputTasks.EverythingAsync.Enqueue(c, Guid.Empty, "", null, 0m, DateTimeOffset.MaxValue, new byte[300], [], [], new Address("", null), new Square(1), Color.Blue),
            c => HostileInputTasks.ChooseAsync.Enqueue(c, new Picky(3)),
            c => HostileInputTasks.DefaultsAsync.Enqueue(c, "text", 3),
        };
        foreach (var call in calls)
        {
            call(client).AsTask().GetAwaiter().GetResult();
            call(signing).AsTask().GetAwaiter().GetResult();
        }

        return transport.Peek(HostileInputTasks.Queue).Select(m => m.Body.ToArray()).ToArray();
    }

    /// <summary>The most common outcomes, printable (mutated wire names hold any byte).</summary>
    private static string Describe(ConcurrentDictionary<string, int> outcomes)
        => string.Join("\n", outcomes.OrderByDescending(o => o.Value).Take(12)
            .Select(o => $"  {o.Value,7:N0}  {new string(o.Key.Select(c => char.IsControl(c) || c == '\uFFFD' ? '?' : c).ToArray())}"))
           + $"\n  ({outcomes.Count} kinds of outcome in all)";

    /// <summary>Keeps what the worker logs about failures it did not expect (a crash of the handling, not a dead letter).</summary>
    private sealed class FailureLog : Microsoft.Extensions.Logging.ILogger<TaskWorker>
    {
        public ConcurrentQueue<string> Unexpected { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var message = formatter(state, exception);
            if (message.Contains("failed unexpectedly") || message.Contains("Could not settle")) Unexpected.Enqueue(message + " " + exception);
        }
    }
}
