namespace Tasks;

/// <summary>
/// Azure Storage queue naming rules, compiled into both the analyzer (TASK011, at compile time)
/// and the Azure transport (at startup, where a prefix is added).
/// </summary>
internal static class QueueNameRules
{
    /// <summary>Azure's longest queue name.</summary>
    public const int MaxLength = 63;

    /// <summary>Appended to a queue's name to name its dead-letter queue.</summary>
    public const string PoisonSuffix = "-poison";

    /// <summary>The longest task queue name: its poison queue must fit too.</summary>
    public const int MaxTaskQueueLength = MaxLength - 7;

    /// <summary>Null if <paramref name="name"/> is a valid queue name of at most <paramref name="maxLength"/> characters, else what is wrong.</summary>
    public static string? Problem(string name, int maxLength = MaxTaskQueueLength)
    {
        if (name.Length < 3 || name.Length > maxLength)
            return $"'{name}' must be 3 to {maxLength} characters long (Azure allows 63, and the '{PoisonSuffix}' queue needs the rest)";
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
