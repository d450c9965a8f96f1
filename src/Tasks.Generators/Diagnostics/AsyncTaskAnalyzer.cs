using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Tasks.Generators.Diagnostics.WireLock;
using Tasks.Generators.Parsing;

namespace Tasks.Generators.Diagnostics;

/// <summary>
/// Reports every rule an <c>[AsyncTask]</c> method breaks, while you type. It runs the generator's
/// own validator, so what the analyzer accepts is exactly what the generator emits.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class AsyncTaskAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.FirstParameterNotCancellationToken,
        DiagnosticDescriptors.ReturnTypeNotTask,
        DiagnosticDescriptors.ParamsParameter,
        DiagnosticDescriptors.ByRefParameter,
        DiagnosticDescriptors.Generic,
        DiagnosticDescriptors.ContainingTypeNotPartial,
        DiagnosticDescriptors.UnsupportedParameterType,
        DiagnosticDescriptors.DuplicateWireName,
        DiagnosticDescriptors.NotReachable,
        DiagnosticDescriptors.GeneratedNameConflict,
        DiagnosticDescriptors.InvalidAttributeValue,
        DiagnosticDescriptors.InvalidSchedule,
        DiagnosticDescriptors.WireShapeBroken,
        DiagnosticDescriptors.WireShapeNotLocked,
        DiagnosticDescriptors.WireLockEntryWithoutTask,
        DiagnosticDescriptors.WireLockUnreadable,
        DiagnosticDescriptors.InvalidTaskFilter,
        DiagnosticDescriptors.InvalidLimitKey,
        DiagnosticDescriptors.InvalidLimit);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(static start =>
        {
            var known = KnownTypes.Create(start.Compilation);
            if (known.AsyncTaskAttribute is null) return;
            var byWireName = new ConcurrentDictionary<string, ConcurrentBag<IMethodSymbol>>();
            var wireLock = WireLockCheck.Load(start.Options, start.CancellationToken);
            var namedLimits = new ConcurrentBag<(string Name, string Numbers, Location? Location, string Method)>();

            start.RegisterSymbolAction(
                symbolContext =>
                {
                    var method = (IMethodSymbol)symbolContext.Symbol;
                    if (AsyncTaskSettings.Find(method, known.AsyncTaskAttribute) is not { } attribute)
                    {
                        void Report(DiagnosticDescriptor descriptor, Location? location, object?[] args) => symbolContext.ReportDiagnostic(Diagnostic.Create(descriptor, location, args));
                        RecurringSettings.Read(method, known)?.Validate(method, isTask: false, Report);
                        TaskFilterSettings.ValidateWithoutTask(method, known, Report);
                        TaskLimitSettings.ValidateWithoutTask(method, known, Report);
                        return;
                    }

                    var settings = AsyncTaskSettings.Read(attribute);
                    if (TaskMethodValidator.Validate(method, settings, known, symbolContext.ReportDiagnostic, symbolContext.CancellationToken))
                        wireLock?.Check(method, settings, known, symbolContext.ReportDiagnostic, symbolContext.CancellationToken);
                    byWireName.GetOrAdd(settings.WireName(method), _ => new ConcurrentBag<IMethodSymbol>()).Add(method);
                    foreach (var named in TaskLimitSettings.Named(method, known)) namedLimits.Add(named);
                },
                SymbolKind.Method);

            start.RegisterCompilationEndAction(end =>
            {
                wireLock?.ReportEntriesWithoutTask(byWireName.Keys.ToList(), end.ReportDiagnostic);

                // Tasks that share a named limit share its places: they must agree on how many.
                foreach (var limit in namedLimits.GroupBy(l => l.Name).Where(g => g.Select(l => l.Numbers).Distinct().Count() > 1))
                {
                    var all = string.Join("; ", limit.OrderBy(l => l.Method, System.StringComparer.Ordinal).Select(l => $"'{l.Method}': {l.Numbers}"));
                    foreach (var declared in limit)
                        end.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.InvalidLimit, declared.Location, $"'{limit.Key.Substring(limit.Key.IndexOf(':') + 1)}'", declared.Method, $"shares its name with limits that allow another number ({all}); tasks that name one limit share its places, so declare the same numbers on each"));
                }
                foreach (var pair in byWireName)
                {
                    if (pair.Value.Count < 2) continue;
                    var methods = pair.Value
                        .OrderBy(m => m.Locations.FirstOrDefault()?.SourceTree?.FilePath, System.StringComparer.Ordinal)
                        .ThenBy(m => m.Locations.FirstOrDefault()?.SourceSpan.Start ?? 0)
                        .ToArray();
                    foreach (var method in methods)
                    {
                        var other = methods.First(m => !SymbolEqualityComparer.Default.Equals(m, method));
                        end.ReportDiagnostic(Diagnostic.Create(
                            DiagnosticDescriptors.DuplicateWireName,
                            method.Locations.FirstOrDefault(),
                            method.ToDisplayString(),
                            pair.Key,
                            other.ToDisplayString()));
                    }
                }
            });
        });
    }
}
