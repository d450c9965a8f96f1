using MessagePack;

namespace Tasks.Core.Tests;

/// <summary>Wire format v1, byte by byte, as docs/wire-format.md describes it.</summary>
public sealed class EnvelopeTests
{
    private static readonly string EchoName = ScriptedTasks.EchoAsync.Definition.Name;

    [Fact]
    public async Task Envelope_is_version_name_argument_array_and_header_map()
    {
        await using var h = new Harness();
        var id = await ScriptedTasks.EchoAsync.Enqueue(h.Client, "hi", 7);

        var body = Assert.Single(h.Transport.Peek(ScriptedTasks.Queue)).Body;
        var reader = new MessagePackReader(body);
        Assert.Equal(4, reader.ReadArrayHeader());
        Assert.Equal(1, reader.ReadInt32());
        Assert.Equal("Tasks.Core.Tests.ScriptedTasks.Echo", reader.ReadString());
        Assert.Equal(2, reader.ReadArrayHeader());
        Assert.Equal("hi", reader.ReadString());
        Assert.Equal(7, reader.ReadInt32());
        Assert.Equal(2, reader.ReadMapHeader());
        Assert.Equal("id", reader.ReadString());
        Assert.Equal(id, reader.ReadString());
        Assert.Equal("enqueued-at", reader.ReadString());
        Assert.Equal(h.Time.GetUtcNow().ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture), reader.ReadString());
        Assert.Equal(22, id.Length);
        Assert.True(reader.End);
    }

    [Fact]
    public async Task Nil_headers_decode_to_no_headers_and_the_transport_id()
    {
        await using var h = new Harness();
        var headers = new List<IReadOnlyDictionary<string, string>>();
        var script = Scripts.Add((context, _) =>
        {
            headers.Add(context.Headers);
            Assert.Equal("transport-id", context.MessageId);
            return Task.CompletedTask;
        });
        h.Transport.SendRaw(ScriptedTasks.Queue, Envelopes.Build((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(4);
            w.Write(1);
            w.Write(ScriptedTasks.RunAsync.Definition.Name);
            w.WriteArrayHeader(1);
            w.Write(script);
            w.WriteNil();
        }), "transport-id");

        await h.Worker.RunOnceAsync();

        Assert.Empty(Assert.Single(headers));
        Assert.Equal(TaskOutcome.Completed, Assert.Single(h.Results).Outcome);
    }

    [Fact]
    public void Argument_missing_from_an_older_message_takes_the_parameter_default()
    {
        var body = Envelopes.Build((ref MessagePackWriter w) => { w.WriteArrayHeader(4); w.Write(1); w.Write(EchoName); w.WriteArrayHeader(1); w.Write("old"); w.WriteMapHeader(0); });

        var decoded = TaskEnvelope.Read(body, TaskRegistry.Default, TaskSerializer.DefaultOptions);

        var arguments = Assert.IsType<ScriptedTasks.EchoAsync.Arguments>(decoded.Arguments);
        Assert.Equal("old", arguments.text);
        Assert.Equal(42, arguments.number);
    }

    [Fact]
    public void Extra_trailing_argument_and_envelope_field_from_a_newer_writer_are_skipped()
    {
        var body = Envelopes.Build((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(5);
            w.Write(1);
            w.Write(EchoName);
            w.WriteArrayHeader(3);
            w.Write("new");
            w.Write(5);
            w.Write("a field this version does not know");
            w.WriteMapHeader(1);
            w.Write("id");
            w.Write("m-1");
            w.Write(true);
        });

        var decoded = TaskEnvelope.Read(body, TaskRegistry.Default, TaskSerializer.DefaultOptions);

        var arguments = Assert.IsType<ScriptedTasks.EchoAsync.Arguments>(decoded.Arguments);
        Assert.Equal(("new", 5), (arguments.text, arguments.number));
        Assert.Equal("m-1", decoded.ReadHeaders()["id"]);
    }
}
