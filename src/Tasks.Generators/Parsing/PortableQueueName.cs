namespace Tasks.Generators.Parsing;

/// <summary>
/// The compile-time rule for <c>[AsyncTask(Queue = ...)]</c>. It knows no transport: a name that
/// passes is valid on every queue service Tasks may carry (the common subset of Azure Storage
/// queues, Service Bus, SQS and RabbitMQ), with room left for a dead-letter suffix. Each
/// transport checks the full name it builds (with its prefix) against its own rules at startup.
/// </summary>
internal static class PortableQueueName
{
    /// <summary>The longest portable name: Azure Storage's 63 characters less a 7-character dead-letter suffix.</summary>
    public const int MaxLength = 56;

    /// <summary>Null if <paramref name="name"/> is portable, else what is wrong.</summary>
    public static string? Problem(string name)
    {
        if (name.Length < 3 || name.Length > MaxLength)
            return $"'{name}' must be 3 to {MaxLength} characters long to be a queue name on every transport, its dead-letter queue included";
        foreach (var c in name)
        {
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-'))
                return $"'{name}' may use only lowercase letters, digits and hyphens";
        }

        if (name[0] == '-' || name[name.Length - 1] == '-' || name.Contains("--"))
            return $"'{name}' must start and end with a letter or digit and have no double hyphens";
        return null;
    }
}
