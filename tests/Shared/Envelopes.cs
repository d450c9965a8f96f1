using System.Buffers;
using MessagePack;

namespace Tasks.Testing;

/// <summary>Hand-made message bodies, for tests of what a worker does with messages it did not write.</summary>
public static class Envelopes
{
    public delegate void Write(ref MessagePackWriter writer);

    public static byte[] Build(Write write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        write(ref writer);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }
}
