using System;

namespace Tasks.Azure;

/// <summary>
/// Azure Storage's queue naming rules, applied at startup to the names this transport builds
/// (prefix + task queue, and its dead-letter queue). The analyzer checks a stricter,
/// transport-neutral rule at compile time; this catches what only the host knows: the prefix.
/// </summary>
internal static class AzureQueueNames
{
    /// <summary>Azure's longest queue name.</summary>
    private const int MaxLength = 63;

    /// <summary>Appended to a queue's name to name its dead-letter queue.</summary>
    public const string PoisonSuffix = "-poison";

    /// <summary>Null if <paramref name="name"/> and its poison queue's name are valid Azure queue names, else what is wrong.</summary>
    public static string? Problem(string name)
    {
        var longest = MaxLength - PoisonSuffix.Length;
        if (name.Length < 3 || name.Length > longest)
            return $"'{name}' must be 3 to {longest} characters long (Azure allows {MaxLength}, and the '{PoisonSuffix}' queue needs the rest)";
        foreach (var c in name)
        {
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-'))
                return $"'{name}' may use only lowercase letters, digits and hyphens";
        }

        if (name[0] == '-' || name[^1] == '-' || name.Contains("--", StringComparison.Ordinal))
            return $"'{name}' must start and end with a letter or digit and have no double hyphens";
        return null;
    }
}
