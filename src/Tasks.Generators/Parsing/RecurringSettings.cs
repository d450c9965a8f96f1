using System;
using System.Linq;
using System.Runtime.InteropServices;
using Cronos;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Tasks.Generators.Parsing;

/// <summary>The values written in one <c>[Recurring(...)]</c>, and the TASK012 rules they must keep.</summary>
internal sealed class RecurringSettings
{
    public const string AttributeName = "Tasks.RecurringAttribute";

    private RecurringSettings(AttributeData attribute, string? cron, string timeZone)
    {
        Attribute = attribute;
        Cron = cron;
        TimeZone = timeZone;
    }

    public AttributeData Attribute { get; }
    public string? Cron { get; }
    public string TimeZone { get; }

    public static RecurringSettings? Read(IMethodSymbol method, KnownTypes known)
    {
        if (known.RecurringAttribute is null) return null;
        var attribute = method.GetAttributes().FirstOrDefault(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, known.RecurringAttribute));
        if (attribute is null) return null;
        var cron = attribute.ConstructorArguments.Length == 1 ? attribute.ConstructorArguments[0].Value as string : null;
        var timeZone = attribute.NamedArguments.FirstOrDefault(a => a.Key == "TimeZone").Value.Value as string ?? CronSchedules.DefaultTimeZone;
        return new RecurringSettings(attribute, cron, timeZone);
    }

    /// <summary>Reports each TASK012 rule the schedule breaks at the argument that breaks it.</summary>
    public void Validate(IMethodSymbol method, bool isTask, Action<DiagnosticDescriptor, Location?, object?[]> fail)
    {
        var syntax = Attribute.ApplicationSyntaxReference?.GetSyntax() as AttributeSyntax;
        var arguments = syntax?.ArgumentList?.Arguments;
        var whole = syntax?.GetLocation();
        void Fail(Location? location, string problem) => fail(DiagnosticDescriptors.InvalidSchedule, location ?? whole, new object?[] { method.Name, problem });

        if (!isTask)
            Fail(whole, "a schedule enqueues a task, so the method needs [AsyncTask] as well");
        if (method.Parameters.Length > 1)
            Fail(whole, $"a recurring task takes only the CancellationToken, and '{method.Name}' takes {string.Join(", ", method.Parameters.Skip(1).Select(p => p.Name))} as well; resolve what it needs from services (an instance method's constructor) instead");

        if (Cron is null)
        {
            Fail(arguments?.FirstOrDefault()?.GetLocation(), "the cron expression is missing; write one such as \"0 7 * * *\" (07:00 every day)");
        }
        else
        {
            try
            {
                CronSchedules.Parse(Cron);
            }
            catch (CronFormatException ex)
            {
                Fail(arguments?.FirstOrDefault(a => a.NameEquals is null)?.GetLocation(), $"\"{Cron}\" is not a cron expression ({ex.Message.TrimEnd('.')}); write five fields (minute hour day-of-month month day-of-week, e.g. \"0 7 * * *\"), six with seconds first, or a macro such as \"@daily\"");
            }
        }

        // The compiler's own runtime knows IANA ids on .NET, but .NET Framework (Visual Studio's
        // in-process build) knows only Windows ids: there an IANA-shaped id is left to the worker's start.
        if (!CronSchedules.TryFindTimeZone(TimeZone, out _) && !(TimeZone.Contains("/") && RuntimeInformation.FrameworkDescription.StartsWith(".NET Framework", StringComparison.Ordinal)))
            Fail(arguments?.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == "TimeZone")?.GetLocation(), $"the time zone \"{TimeZone}\" is not known; use an IANA id such as \"Europe/Paris\" or \"UTC\"");
    }
}
