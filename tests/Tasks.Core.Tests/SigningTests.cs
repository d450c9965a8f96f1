using Microsoft.Extensions.DependencyInjection;
using MessagePack;

namespace Tasks.Core.Tests;

/// <summary>HMAC-SHA256 signed envelopes: whoever can write to a queue cannot make a worker run a task.</summary>
public sealed class SigningTests
{
    private static readonly TaskSigningKey Current = new() { Id = "2026-11", Secret = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray()) };
    private static readonly TaskSigningKey Previous = new() { Id = "2026-10", Secret = Convert.ToBase64String(Enumerable.Range(100, 32).Select(i => (byte)i).ToArray()) };

    [Fact]
    public async Task A_signed_envelope_runs_and_readers_that_do_not_sign_still_read_it()
    {
        await using var h = new Harness(o => Keys(o.Signing, required: true, Current));
        var ran = 0;
        var script = Scripts.Add((_, _) => Task.FromResult(Interlocked.Increment(ref ran)));
        var client = new TaskClient(h.Transport, h.Time, signing: Keys(new TaskSigningOptions(), required: false, Current));

        await ScriptedTasks.RunAsync.Enqueue(client, script);
        var body = Assert.Single(h.Transport.Peek(ScriptedTasks.Queue)).Body;
        await h.Worker.RunOnceAsync();

        Assert.Equal(1, ran);
        Assert.Equal(ScriptedTasks.RunAsync.Definition, TaskEnvelope.Read(body, TaskRegistry.Default, TaskSerializer.DefaultOptions).Definition);
    }

    [Fact]
    public async Task Unsigned_forged_and_stale_key_envelopes_are_dead_lettered_and_never_run_when_signing_is_required()
    {
        await using var h = new Harness(o => Keys(o.Signing, required: true, Current));
        var ran = 0;
        var script = Scripts.Add((_, _) => Task.FromResult(Interlocked.Increment(ref ran)));
        var unsigned = new TaskClient(h.Transport, h.Time);
        var stale = new TaskClient(h.Transport, h.Time, signing: Keys(new TaskSigningOptions(), required: false, Previous));
        var signer = new TaskClient(h.Transport, h.Time, signing: Keys(new TaskSigningOptions(), required: false, Current));

        var unsignedId = await ScriptedTasks.RunAsync.Enqueue(unsigned, script);
        var staleId = await ScriptedTasks.RunAsync.Enqueue(stale, script);
        var forgedId = await ScriptedTasks.RunAsync.Enqueue(signer, script);
        var original = h.Transport.Peek(ScriptedTasks.Queue).Single(m => m.MessageId == forgedId);
        // A second copy whose argument is changed: the signature no longer matches.
        var forged = original.Body.ToArray();
        var at = forged.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(script));
        forged[at] ^= 0x01;
        h.Transport.SendRaw(ScriptedTasks.Queue, forged, "forged");
        while (await h.Worker.RunOnceAsync() > 0)
        {
        }

        Assert.Equal(1, ran); // only the genuine one
        var reasons = h.Transport.DeadLetters.ToDictionary(d => d.MessageId, d => d.Reason.Reason);
        Assert.Contains("not signed, and this worker requires signed envelopes", reasons[unsignedId]);
        Assert.Contains("signed with key '2026-10', which this worker does not accept", reasons[staleId]);
        Assert.Contains("signature does not match (signed with key '2026-11')", reasons["forged"]);
        Assert.DoesNotContain(reasons.Values, r => r.Contains(Current.Secret) || r.Contains(Previous.Secret));
    }

    [Fact]
    public async Task A_forged_envelope_never_reaches_an_argument_constructor()
    {
        await using var h = new Harness(o => Keys(o.Signing, required: true, Current));
        var body = Envelopes.Build((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(5);
            w.Write(1);
            w.Write(ScriptedTasks.ChooseAsync.Definition.Name);
            w.WriteArrayHeader(1);
            w.WriteArrayHeader(1);
            w.Write(-1); // Picky's constructor throws on this: the signature must be checked first
            w.WriteMapHeader(0);
            w.WriteArrayHeader(2);
            w.Write(Current.Id);
            w.Write(new byte[32]);
        });
        h.Transport.SendRaw(ScriptedTasks.Queue, body, "forged");

        await h.Worker.RunOnceAsync();

        Assert.Contains("signature does not match", Assert.Single(h.Transport.DeadLetters).Reason.Reason);
    }

    [Fact]
    public async Task Keys_rotate_new_envelopes_sign_with_the_first_key_and_old_ones_still_run()
    {
        await using var h = new Harness(o => Keys(o.Signing, required: true, Current, Previous));
        var ran = 0;
        var script = Scripts.Add((_, _) => Task.FromResult(Interlocked.Increment(ref ran)));
        var before = new TaskClient(h.Transport, h.Time, signing: Keys(new TaskSigningOptions(), required: false, Previous));
        var after = new TaskClient(h.Transport, h.Time, signing: Keys(new TaskSigningOptions(), required: false, Current, Previous));

        await ScriptedTasks.RunAsync.Enqueue(before, script);
        await ScriptedTasks.RunAsync.Enqueue(after, script);
        var keyIds = h.Transport.Peek(ScriptedTasks.Queue).Select(m => System.Text.Encoding.UTF8.GetString(m.Body.Span).Contains("2026-11")).ToArray();
        await h.Worker.RunOnceAsync();

        Assert.Equal(2, ran);
        Assert.Equal([false, true], keyIds);
    }

    [Fact]
    public async Task Without_required_signing_a_worker_with_keys_still_runs_unsigned_envelopes_for_a_rollout()
    {
        await using var h = new Harness(o => Keys(o.Signing, required: false, Current));
        var ran = 0;
        var script = Scripts.Add((_, _) => Task.FromResult(Interlocked.Increment(ref ran)));

        await ScriptedTasks.RunAsync.Enqueue(h.Client, script);
        await h.Worker.RunOnceAsync();

        Assert.Equal(1, ran);
    }

    [Fact]
    public async Task Signing_asked_for_with_no_key_configured_fails_the_host_instead_of_sending_unsigned()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Services.AddAsyncTasks().UseInMemoryTransport().UseSigning(_ => { }); // a configuration section that is not there binds nothing

        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<ArgumentException>(() => host.StartAsync());

        Assert.Contains("no signing key is configured", error.Message);
    }

    [Theory]
    [InlineData("", "c2hvcnQ=", "has no Id")]
    [InlineData("weak", "c2hvcnQ=", "secret of signing key 'weak' is not base64 of at least 32 bytes")]
    [InlineData("typo", "not base64 at all!", "secret of signing key 'typo' is not base64")]
    public void A_malformed_key_is_refused_at_start_without_its_secret(string id, string secret, string reason)
    {
        var options = new TaskWorkerOptions();
        options.Signing.Keys.Add(new TaskSigningKey { Id = id, Secret = secret });

        var error = Assert.Throws<ArgumentException>(() => new TaskWorker(new InMemoryTransport(), options));

        Assert.Contains(reason, error.Message);
        Assert.DoesNotContain(secret, error.ToString());
    }

    private static TaskSigningOptions Keys(TaskSigningOptions options, bool required, params TaskSigningKey[] keys)
    {
        options.Required = required;
        foreach (var key in keys) options.Keys.Add(key);
        return options;
    }
}
