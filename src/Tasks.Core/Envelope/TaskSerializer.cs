using MessagePack;
using MessagePack.Resolvers;

namespace Tasks;

/// <summary>The MessagePack settings envelopes are written and read with.</summary>
public static class TaskSerializer
{
    /// <summary>
    /// The standard resolver (never Typeless: no type name is ever read from a message) under
    /// <see cref="MessagePackSecurity.UntrustedData"/>, because queue messages are input from outside.
    /// </summary>
    public static MessagePackSerializerOptions DefaultOptions { get; } =
        MessagePackSerializerOptions.Standard
            .WithResolver(StandardResolver.Instance)
            .WithSecurity(MessagePackSecurity.UntrustedData);
}
