using System;
using System.Collections.Generic;

namespace Tasks;

/// <summary>
/// HMAC-SHA256 signing of envelopes, so that whoever can write to a queue cannot make a worker run
/// a task: the producer signs with the first key, the worker accepts any key of the list (rotate by
/// putting a new key first, and removing the old one once no message signed with it remains).
/// Bindable from configuration: <c>"Tasks:Signing": { "Required": true, "Keys": [ { "Id": "2026-11", "Secret": "&lt;base64&gt;" } ] }</c>.
/// </summary>
public sealed class TaskSigningOptions
{
    /// <summary>The keys, newest first: enqueues sign with the first; workers accept each. Empty: envelopes are not signed.</summary>
    public IList<TaskSigningKey> Keys { get; } = new List<TaskSigningKey>();

    /// <summary>
    /// Whether a worker refuses envelopes without a valid signature (unsigned, forged, or signed with a key
    /// it no longer has): they are dead-lettered and their methods never run. Default: false, so that a
    /// rollout can first sign everywhere, then require.
    /// </summary>
    public bool Required { get; set; }

    /// <summary>Set by <c>UseSigning</c>: signing was asked for, so finding no key is a configuration fault, not "off".</summary>
    internal bool Requested { get; set; }
}

/// <summary>A signing key. Its secret never appears in logs, exceptions or dead letters; its id does.</summary>
public sealed class TaskSigningKey
{
    /// <summary>A name for the key, written beside each signature so the worker knows which key to check with.</summary>
    public string Id { get; set; } = "";

    /// <summary>The secret: base64 of at least 32 random bytes (e.g. <c>openssl rand -base64 32</c>).</summary>
    public string Secret { get; set; } = "";

    /// <summary>The key's id only: a key printed by accident must not leak.</summary>
    public override string ToString() => $"signing key '{Id}'";
}
