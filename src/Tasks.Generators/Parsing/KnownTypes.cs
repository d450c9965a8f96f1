using Microsoft.CodeAnalysis;

namespace Tasks.Generators.Parsing;

/// <summary>The symbols the rules compare against, resolved once per compilation.</summary>
internal sealed class KnownTypes
{
    public const string AsyncTaskAttributeName = "Tasks.AsyncTaskAttribute";

    private KnownTypes(Compilation compilation)
    {
        AsyncTaskAttribute = compilation.GetTypeByMetadataName(AsyncTaskAttributeName);
        RecurringAttribute = compilation.GetTypeByMetadataName(RecurringSettings.AttributeName);
        CancellationToken = compilation.GetTypeByMetadataName("System.Threading.CancellationToken");
        Task = compilation.GetTypeByMetadataName("System.Threading.Tasks.Task");
        Stream = compilation.GetTypeByMetadataName("System.IO.Stream");
        MessagePackObjectAttribute = compilation.GetTypeByMetadataName("MessagePack.MessagePackObjectAttribute");
        UnionAttribute = compilation.GetTypeByMetadataName("MessagePack.UnionAttribute");
        MessagePackFormatterAttribute = compilation.GetTypeByMetadataName("MessagePack.MessagePackFormatterAttribute");
        GeneratedCodeAttribute = compilation.GetTypeByMetadataName("System.CodeDom.Compiler.GeneratedCodeAttribute");
        TaskFilterAttribute = compilation.GetTypeByMetadataName(TaskFilterSettings.AttributeName);
        RunFilter = compilation.GetTypeByMetadataName(TaskFilterSettings.RunFilterName);
        ConcurrencyLimitAttribute = compilation.GetTypeByMetadataName(TaskLimitSettings.ConcurrencyAttributeName);
        RateLimitAttribute = compilation.GetTypeByMetadataName(TaskLimitSettings.RateAttributeName);
    }

    public INamedTypeSymbol? AsyncTaskAttribute { get; }
    public INamedTypeSymbol? RecurringAttribute { get; }
    public INamedTypeSymbol? CancellationToken { get; }
    public INamedTypeSymbol? Task { get; }
    public INamedTypeSymbol? Stream { get; }
    public INamedTypeSymbol? MessagePackObjectAttribute { get; }
    public INamedTypeSymbol? UnionAttribute { get; }
    public INamedTypeSymbol? MessagePackFormatterAttribute { get; }
    public INamedTypeSymbol? GeneratedCodeAttribute { get; }
    public INamedTypeSymbol? TaskFilterAttribute { get; }
    public INamedTypeSymbol? RunFilter { get; }
    public INamedTypeSymbol? ConcurrencyLimitAttribute { get; }
    public INamedTypeSymbol? RateLimitAttribute { get; }

    // The transform runs once per [AsyncTask] method: resolve the types once per compilation, not once per method.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Compilation, KnownTypes> PerCompilation = new();

    public static KnownTypes Create(Compilation compilation) => PerCompilation.GetValue(compilation, static c => new KnownTypes(c));
}
