using System.Buffers;
using MessagePack;

namespace Tasks.Core.Tests;

public sealed class BadMessageTests
{
    private static readonly string RunName = ScriptedTasks.RunAsync.Definition.Name;

    [Fact]
    public async Task Every_bad_message_is_dead_lettered_with_its_reason_while_good_ones_run()
    {
        await using var h = new Harness();
        var ran = 0;
        var good = Scripts.Add((_, _) =>
        {
            Interlocked.Increment(ref ran);
            return Task.CompletedTask;
        });
        var cases = new Dictionary<string, (byte[] Body, string Reason)>
        {
            ["random"] = ([0xC1, 0x07, 0xFF, 0x00, 0x13], "not a task envelope"),
            ["not-an-array"] = (Envelopes.Build((ref MessagePackWriter w) => w.Write("hello")), "not a task envelope"),
            ["version"] = (Envelopes.Build((ref MessagePackWriter w) => { w.WriteArrayHeader(4); w.Write(2); w.Write(RunName); w.WriteArrayHeader(1); w.Write("x"); w.WriteMapHeader(0); }), "format version 2"),
            ["unknown"] = (Envelopes.Build((ref MessagePackWriter w) => { w.WriteArrayHeader(4); w.Write(1); w.Write("Nobody.Knows.This"); w.WriteArrayHeader(0); w.WriteMapHeader(0); }), "No task named 'Nobody.Knows.This'"),
            ["wrong-types"] = (Envelopes.Build((ref MessagePackWriter w) => { w.WriteArrayHeader(4); w.Write(1); w.Write(RunName); w.WriteArrayHeader(1); w.Write(3.5); w.WriteMapHeader(0); }), $"Could not decode the arguments of '{RunName}'"),
        };
        var valid = Envelopes.Build((ref MessagePackWriter w) => { w.WriteArrayHeader(4); w.Write(1); w.Write(RunName); w.WriteArrayHeader(1); w.Write(good); w.WriteMapHeader(0); });
        cases["truncated"] = (valid[..^4], $"Could not decode the arguments of '{RunName}'");
        cases["trailing-bytes"] = ([.. valid, 0x01], "bytes after its end");
        var choose = ScriptedTasks.ChooseAsync.Definition.Name;
        cases["constructor-throws"] = (Envelopes.Build((ref MessagePackWriter w) => { w.WriteArrayHeader(4); w.Write(1); w.Write(choose); w.WriteArrayHeader(1); w.WriteArrayHeader(1); w.Write(-1); w.WriteMapHeader(0); }), "-1 is negative");

        cases["missing-argument"] = (Envelopes.Build((ref MessagePackWriter w) => { w.WriteArrayHeader(4); w.Write(1); w.Write(RunName); w.WriteArrayHeader(0); w.WriteMapHeader(0); }), "the task needs 1 without a default value (scriptId)");
        foreach (var (header, reason) in HostileHeaders(good))
            cases["headers-" + header.Name] = (header.Body, reason);

        foreach (var (id, (body, _)) in cases) h.Transport.SendRaw(ScriptedTasks.Queue, body, id);
        await ScriptedTasks.RunAsync.Enqueue(h.Client, good);
        h.Transport.SendRaw(ScriptedTasks.Queue, valid, "hand-made-valid");

        var handled = 0;
        while (await h.Worker.RunOnceAsync() is var n and > 0) handled += n;

        Assert.Equal(cases.Count + 2, handled);
        Assert.Equal(2, ran);
        Assert.Empty(h.Transport.Peek(ScriptedTasks.Queue));
        var dead = h.Transport.DeadLetters.ToDictionary(d => d.MessageId);
        Assert.Equal(cases.Count, dead.Count);
        foreach (var (id, (body, reason)) in cases)
        {
            Assert.Contains(reason, dead[id].Reason.Reason);
            Assert.Equal(body, dead[id].Body.ToArray());
            Assert.Equal(typeof(TaskEnvelopeException).FullName, dead[id].Reason.ExceptionType);
        }
    }

    [Fact]
    public async Task A_message_of_a_task_this_worker_does_not_know_is_dead_lettered_under_the_id_Enqueue_returned()
    {
        // A task renamed or deleted while its messages waited: its dead letter is found by the id the producer kept.
        await using var h = new Harness();
        var body = Envelopes.Build((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(4);
            w.Write(1);
            w.Write("Shop.Orders.ShipRenamed");
            w.WriteArrayHeader(1);
            w.Write("an argument");
            w.WriteMapHeader(1);
            w.Write(TaskHeaders.MessageId);
            w.Write("id-from-enqueue");
        });
        h.Transport.SendRaw(ScriptedTasks.Queue, body, "transport-id");

        await h.Worker.RunOnceAsync();

        var dead = Assert.Single(await h.Transport.ListDeadLettersAsync(ScriptedTasks.Queue, new DeadLetterFilter { MessageId = "id-from-enqueue" }));
        Assert.Equal("Shop.Orders.ShipRenamed", dead.TaskName);
        Assert.Contains("No task named 'Shop.Orders.ShipRenamed'", dead.Reason);
        Assert.Equal(body, Assert.Single(h.Transport.DeadLetters).Body.ToArray());
    }

    [Fact]
    public async Task Malformed_headers_are_dead_lettered_on_the_first_delivery_even_with_tracing_on()
    {
        // Tracing reads the traceparent header: with a listener, a bad header once failed outside the guarded decode, five times.
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == TasksTelemetry.Name,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        await using var h = new Harness();
        var ran = 0;
        var script = Scripts.Add((context, _) =>
        {
            Assert.NotNull(context.Headers);
            Interlocked.Increment(ref ran);
            return Task.CompletedTask;
        });
        var hostile = HostileHeaders(script).ToArray();
        foreach (var ((name, body), _) in hostile) h.Transport.SendRaw(ScriptedTasks.Queue, body, name);

        while (await h.Worker.RunOnceAsync() > 0)
        {
        }

        Assert.Equal(0, ran);
        Assert.All(h.Results, r => Assert.Equal((TaskOutcome.DeadLettered, 1), (r.Outcome, r.Attempt)));
        foreach (var ((name, _), reason) in hostile)
            Assert.Contains(reason, Assert.Single(h.Transport.DeadLetters, d => d.MessageId == name).Reason.Reason);
    }

    /// <summary>Envelopes whose arguments are fine and whose header map is not a map of strings.</summary>
    private static IEnumerable<((string Name, byte[] Body) Header, string Reason)> HostileHeaders(string scriptId)
    {
        byte[] With(Envelopes.Write headers) => Envelopes.Build((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(4);
            w.Write(1);
            w.Write(RunName);
            w.WriteArrayHeader(1);
            w.Write(scriptId);
            headers(ref w);
        });

        var headersOf = $"the headers of the task envelope for '{RunName}'";
        yield return (("value-not-string", With((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write("traceparent"); w.Write(42); })), "has a MessagePack Integer as its value");
        yield return (("name-not-string", With((ref MessagePackWriter w) => { w.WriteMapHeader(1); w.Write(7); w.Write("x"); })), "has a MessagePack Integer as its name");
        yield return (("deep-nesting", With((ref MessagePackWriter w) =>
        {
            w.WriteMapHeader(1);
            w.Write("traceparent");
            for (var i = 0; i < 2_000; i++) w.WriteArrayHeader(1);
            w.WriteNil();
        })), "has a MessagePack Array as its value");
        yield return (("forged-length", With((ref MessagePackWriter w) => w.WriteMapHeader(1_000_000))), "Could not decode " + headersOf);
        yield return (("not-a-map", With((ref MessagePackWriter w) => w.Write("id=1"))), "are a MessagePack String, not a map of strings");
        yield return (("an-id-of-no-length", With((ref MessagePackWriter w) => { w.WriteMapHeader(2); w.Write("id"); w.Write(""); w.Write("traceparent"); w.Write(true); })), "has a MessagePack Boolean as its value");
    }

    [Theory]
    [InlineData("trusted", "looser than MessagePackSecurity.UntrustedData")]
    [InlineData("deeper", "depth limit: 10000")]
    [InlineData("typeless", "its resolver is Typeless")]
    [InlineData("lz4", "decompresses LZ4")]
    public void A_worker_refuses_serializer_options_that_would_trust_a_message(string kind, string reason)
    {
        var options = new TaskWorkerOptions
        {
            SerializerOptions = kind switch
            {
                "trusted" => TaskSerializer.DefaultOptions.WithSecurity(MessagePackSecurity.TrustedData),
                "deeper" => TaskSerializer.DefaultOptions.WithSecurity(MessagePackSecurity.UntrustedData.WithMaximumObjectGraphDepth(10_000)),
                "typeless" => MessagePack.Resolvers.TypelessContractlessStandardResolver.Options.WithSecurity(MessagePackSecurity.UntrustedData),
                _ => TaskSerializer.DefaultOptions.WithCompression(MessagePackCompression.Lz4BlockArray),
            },
        };

        var error = Assert.Throws<ArgumentException>(() => new TaskWorker(new InMemoryTransport(), options));

        Assert.Contains(reason, error.Message);
        Assert.Contains("TaskSerializer.DefaultOptions", error.Message);
    }

    [Fact]
    public async Task Instance_task_without_a_service_provider_is_dead_lettered_with_how_to_fix_it()
    {
        await using var h = new Harness(o =>
        {
            o.Queues.Clear();
            o.Queues.Add("instances");
        });
        await GreeterTasks.GreetAsync.Enqueue(h.Client, "Ada");

        Assert.Equal(1, await h.Worker.RunOnceAsync());

        var dead = Assert.Single(h.Transport.DeadLetters);
        Assert.Contains("has no IServiceProvider", dead.Reason.Reason);
        Assert.Contains("AddAsyncTaskWorker", dead.Reason.Reason);
    }

    [Fact]
    public async Task An_argument_larger_than_MaxEnvelopeBytes_fails_at_enqueue_with_size_and_limit_and_sends_and_stores_nothing()
    {
        await using var h = new Harness(maxEnvelopeBytes: 1024 * 1024);
        var huge = new string('x', 1024 * 1024);

        var error = await Assert.ThrowsAsync<TaskMessageTooLargeException>(async () => await ScriptedTasks.EchoAsync.Enqueue(h.Client, huge));

        Assert.Equal(1024 * 1024, error.Limit);
        Assert.True(error.Size > 1024 * 1024);
        Assert.Contains($"{error.Size:N0} bytes", error.Message);
        Assert.Contains("at most 1,048,576", error.Message);
        Assert.Contains("MaxEnvelopeBytes", error.Message); // the setting to raise
        Assert.Contains("Tasks.Core.Tests.ScriptedTasks.Echo", error.Message);
        Assert.Empty(h.Transport.Peek(ScriptedTasks.Queue));
        Assert.Empty(h.Transport.PayloadNames);
    }


}
