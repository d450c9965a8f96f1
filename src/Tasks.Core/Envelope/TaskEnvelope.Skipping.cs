using System;
using System.Buffers;
using MessagePack;

namespace Tasks;

/// <summary>The parts of reading that must not trust a length or a depth: the signature check and skipping.</summary>
public static partial class TaskEnvelope
{
    /// <summary>
    /// Why the signature of <paramref name="body"/> is not acceptable, or null. Runs before the
    /// arguments are decoded, so a forged message never reaches an argument type's constructor.
    /// </summary>
    internal static string? CheckSignature(ReadOnlyMemory<byte> body, EnvelopeSigner signer)
    {
        try
        {
            var reader = new MessagePackReader(body);
            if (reader.NextMessagePackType != MessagePackType.Array) return null; // not an envelope: the decode says why
            var length = reader.ReadArrayHeader();
            var signedStart = (int)reader.Consumed;
            for (var i = 0; i < Math.Min(length, 4); i++) SkipBounded(ref reader, TaskSerializer.DefaultOptions);
            var signedEnd = (int)reader.Consumed;
            if (length < 5)
                return signer.Required ? "The envelope is not signed, and this worker requires signed envelopes (TaskSigningOptions.Required)." : null;
            if (reader.NextMessagePackType != MessagePackType.Array || reader.ReadArrayHeader() != 2
                || !reader.TryReadStringSpan(out var keyId) || reader.NextMessagePackType != MessagePackType.Binary)
                return "Its signature is malformed: a signature is [key id, 32-byte HMAC-SHA256].";
            var mac = reader.ReadBytes() ?? default;
            return signer.Verify(keyId, mac.IsSingleSegment ? mac.FirstSpan : mac.ToArray(), body.Span[signedStart..signedEnd]);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return $"Its signature could not be read: {Flatten(ex)}";
        }
    }

    /// <summary>
    /// Skips one value without recursion, at most as deep as <paramref name="options"/> allow: a hostile
    /// message nested tens of thousands deep must not overflow the stack (MessagePackReader.Skip recurses).
    /// Generated formatters call it for arguments a newer version of a task appended.
    /// </summary>
    [System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
    public static void SkipBounded(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        // Items left to skip at each open level; UntrustedData's 500 levels fit on the stack, so a skip allocates nothing.
        var maxDepth = Math.Max(1, options.Security.MaximumObjectGraphDepth);
        Span<long> open = maxDepth <= 512 ? stackalloc long[maxDepth + 1] : new long[Math.Min(maxDepth, 1 << 16) + 1];
        var depth = 0;
        open[0] = 1;
        while (depth >= 0)
        {
            if (open[depth] == 0)
            {
                depth--;
                continue;
            }

            open[depth]--;
            long items = reader.NextMessagePackType switch
            {
                MessagePackType.Array => reader.ReadArrayHeader(),
                MessagePackType.Map => 2L * reader.ReadMapHeader(),
                _ => Scalar(ref reader),
            };
            if (items == 0) continue;
            if (depth + 1 >= open.Length)
                throw new InsufficientExecutionStackException($"The value is nested more than {open.Length - 1} deep.");
            open[++depth] = items;
        }

        static long Scalar(ref MessagePackReader reader)
        {
            reader.Skip(); // not a container: no recursion
            return 0;
        }
    }
}
