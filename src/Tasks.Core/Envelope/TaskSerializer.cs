using MessagePack;

namespace Tasks;

/// <summary>The MessagePack settings envelopes are written and read with.</summary>
public static class TaskSerializer
{
    /// <summary>
    /// The generated formatters, then the standard resolver (<see cref="TaskFormatterResolver"/>; never
    /// Typeless: no type name is ever read from a message), under <see cref="MessagePackSecurity.UntrustedData"/>,
    /// because queue messages are input from outside.
    /// </summary>
    public static MessagePackSerializerOptions DefaultOptions { get; } =
        MessagePackSerializerOptions.Standard
            .WithResolver(TaskFormatterResolver.Instance)
            .WithSecurity(MessagePackSecurity.UntrustedData);

    /// <summary>Why <paramref name="options"/> are unsafe for reading queue messages, or null if they are safe.</summary>
    internal static string? Unsafe(MessagePackSerializerOptions options)
    {
        var security = options.Security;
        var untrusted = MessagePackSecurity.UntrustedData;
        if (!security.HashCollisionResistant || security.MaximumObjectGraphDepth > untrusted.MaximumObjectGraphDepth)
            return $"its security is looser than MessagePackSecurity.UntrustedData (hash-collision resistant: {security.HashCollisionResistant}, depth limit: {security.MaximumObjectGraphDepth}, at most {untrusted.MaximumObjectGraphDepth})";
        if (options.Compression != MessagePackCompression.None)
            return "it decompresses LZ4, which lets a message declare how much memory to allocate";
        try
        {
            if (options.Resolver.GetFormatter<object>() is MessagePack.Formatters.TypelessFormatter)
                return "its resolver is Typeless, which creates whatever type a message names";
        }
        catch (FormatterNotRegisteredException)
        {
            // A resolver without a formatter for object cannot be Typeless.
        }

        return null;
    }
}
