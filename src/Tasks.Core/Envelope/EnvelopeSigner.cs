using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;
using System.Text;

namespace Tasks;

/// <summary>
/// Signs and checks envelopes with HMAC-SHA256. The signature is a fifth element of the v1 envelope
/// array, <c>[key id, 32-byte MAC]</c>, over the bytes of the four elements before it; readers that
/// do not sign skip it, as v1 readers skip every trailing element.
/// </summary>
internal sealed class EnvelopeSigner
{
    public const int MacLength = 32;
    private readonly (string Id, byte[] IdUtf8, byte[] Secret)[] keys;

    private EnvelopeSigner((string Id, byte[] IdUtf8, byte[] Secret)[] keys, bool required)
    {
        this.keys = keys;
        Required = required;
    }

    public bool Required { get; }

    /// <summary>Null when there is nothing to sign with and nothing to require; otherwise it has at least one key.</summary>
    /// <exception cref="ArgumentException">A key is malformed (said without its secret).</exception>
    public static EnvelopeSigner? Create(TaskSigningOptions? options)
    {
        if (options is null || (options.Keys.Count == 0 && !options.Required && !options.Requested)) return null;
        if (options.Keys.Count == 0)
            throw new ArgumentException(
                "Signing is on (UseSigning, or TaskSigningOptions.Required), but no signing key is configured: add one to TaskSigningOptions.Keys, " +
                "or check that the configuration section bound to it exists (e.g. Tasks:Signing:Keys:0:Id and Tasks:Signing:Keys:0:Secret).", nameof(options));
        var keys = new List<(string, byte[], byte[])>();
        foreach (var key in options.Keys)
        {
            if (string.IsNullOrWhiteSpace(key.Id))
                throw new ArgumentException("A signing key has no Id: give each key a name (e.g. the month it was made).", nameof(options));
            if (keys.Any(k => k.Item1 == key.Id))
                throw new ArgumentException($"Two signing keys are named '{key.Id}': ids must be unique.", nameof(options));
            var secret = new byte[Math.Max(0, key.Secret.Length)];
            if (!Convert.TryFromBase64String(key.Secret, secret, out var length) || length < 32)
                throw new ArgumentException($"The secret of signing key '{key.Id}' is not base64 of at least 32 bytes (e.g. openssl rand -base64 32).", nameof(options));
            keys.Add((key.Id, Encoding.UTF8.GetBytes(key.Id), secret[..length]));
        }

        return new EnvelopeSigner(keys.ToArray(), options.Required);
    }

    /// <summary>What the start logs say of signing: key ids only; a client only signs, a worker also checks.</summary>
    public static string Describe(TaskSigningOptions? options, bool checks)
        => options is null || options.Keys.Count == 0
            ? "off"
            : checks
                ? $"{(options.Required ? "required" : "checked when present")}, signing with key '{options.Keys[0].Id}', accepting {string.Join(", ", options.Keys.Select(k => $"'{k.Id}'"))}"
                : $"signing with key '{options.Keys[0].Id}'";

    /// <summary>Writes the MAC of <paramref name="signed"/> with the newest key into <paramref name="mac"/>; returns that key's id.</summary>
    public string Sign(ReadOnlySpan<byte> signed, Span<byte> mac)
    {
        HMACSHA256.HashData(keys[0].Secret, signed, mac);
        return keys[0].Id;
    }

    /// <summary>Null if <paramref name="mac"/> is <paramref name="keyId"/>'s MAC of <paramref name="signed"/>; else why not.</summary>
    public string? Verify(ReadOnlySpan<byte> keyId, ReadOnlySpan<byte> mac, ReadOnlySpan<byte> signed)
    {
        foreach (var key in keys)
        {
            if (!keyId.SequenceEqual(key.IdUtf8)) continue;
            Span<byte> expected = stackalloc byte[MacLength];
            HMACSHA256.HashData(key.Secret, signed, expected);
            return mac.Length == MacLength && CryptographicOperations.FixedTimeEquals(mac, expected)
                ? null
                : $"Its signature does not match (signed with key '{Printable(keyId)}'): the message was changed or forged.";
        }

        return $"It is signed with key '{Printable(keyId)}', which this worker does not accept (an unknown key, or one rotated out).";
    }

    private static string Printable(ReadOnlySpan<byte> keyId)
    {
        var text = Encoding.UTF8.GetString(keyId);
        return text.Length > 64 ? text[..64] + "…" : text;
    }
}
