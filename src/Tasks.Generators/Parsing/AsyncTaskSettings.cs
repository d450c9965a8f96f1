using Microsoft.CodeAnalysis;

namespace Tasks.Generators.Parsing;

/// <summary>The values written in one <c>[AsyncTask(...)]</c>, with the runtime's defaults.</summary>
internal sealed class AsyncTaskSettings
{
    public string? ExplicitName { get; private set; }
    public string Queue { get; private set; } = AsyncTaskDefaults.Queue;
    public int MaxAttempts { get; private set; } = AsyncTaskDefaults.MaxAttempts;
    public string? Timeout { get; private set; }
    public string? RetryDelay { get; private set; }
    public int MaxConcurrency { get; private set; }
    public string? UniqueFor { get; private set; }
    public bool PersonalData { get; private set; }
    public AttributeData Attribute { get; }

    private AsyncTaskSettings(AttributeData attribute) => Attribute = attribute;

    public static AsyncTaskSettings Read(AttributeData attribute)
    {
        var settings = new AsyncTaskSettings(attribute);
        foreach (var argument in attribute.NamedArguments)
        {
            switch (argument.Key)
            {
                case "Name" when argument.Value.Value is string name:
                    settings.ExplicitName = name;
                    break;
                case "Queue" when argument.Value.Value is string queue:
                    settings.Queue = queue;
                    break;
                case "MaxAttempts" when argument.Value.Value is int maxAttempts:
                    settings.MaxAttempts = maxAttempts;
                    break;
                case "Timeout" when argument.Value.Value is string timeout:
                    settings.Timeout = timeout;
                    break;
                case "RetryDelay" when argument.Value.Value is string retryDelay:
                    settings.RetryDelay = retryDelay;
                    break;
                case "MaxConcurrency" when argument.Value.Value is int maxConcurrency:
                    settings.MaxConcurrency = maxConcurrency;
                    break;
                case "UniqueFor" when argument.Value.Value is string uniqueFor:
                    settings.UniqueFor = uniqueFor;
                    break;
                case "PersonalData" when argument.Value.Value is bool personalData:
                    settings.PersonalData = personalData;
                    break;
            }
        }

        return settings;
    }

    /// <summary>A duration setting in ticks, or null if unset or not a positive <c>TimeSpan</c> of at most 49 days, the longest a timer takes (TASK011 then says why).</summary>
    public static long? Ticks(string? value)
        => value is not null && value.Contains(":") && System.TimeSpan.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var span) && span > System.TimeSpan.Zero && span <= AsyncTaskDefaults.MaxDuration
            ? span.Ticks
            : null;

    /// <summary>The wire name: the explicit Name, else <c>Namespace.Outer.Inner.Method</c>.</summary>
    public string WireName(IMethodSymbol method)
        => ExplicitName ?? method.ContainingType.ToDisplayString(SymbolDisplayFormat.CSharpErrorMessageFormat
            .WithGenericsOptions(SymbolDisplayGenericsOptions.None)) + "." + method.Name;

    public static AttributeData? Find(IMethodSymbol method, INamedTypeSymbol? attributeType)
    {
        if (attributeType is null) return null;
        foreach (var attribute in method.GetAttributes())
        {
            if (SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, attributeType)) return attribute;
        }

        return null;
    }
}
