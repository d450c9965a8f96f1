using Microsoft.CodeAnalysis;

namespace Tasks.Generators;

/// <summary>
/// The one catalogue of Tasks diagnostics. IDs never change once shipped; each has a help page
/// under docs/diagnostics/ and is listed in AnalyzerReleases.*.md.
/// </summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "Tasks";
    private const string HelpRoot = "https://github.com/tasks-dotnet/tasks/blob/main/docs/diagnostics/";

    /// <summary>The worker passes its token as the first argument, so the first parameter must receive it.</summary>
    public static readonly DiagnosticDescriptor FirstParameterNotCancellationToken = Create(
        "TASK001",
        "Task method must take a CancellationToken first",
        "Task method '{0}' must take a CancellationToken as its first parameter, to receive the worker's shutdown and timeout signal");

    /// <summary>The worker awaits the method to know when the task finished.</summary>
    public static readonly DiagnosticDescriptor ReturnTypeNotTask = Create(
        "TASK002",
        "Task method must return Task",
        "Task method '{0}' returns '{1}'; it must return System.Threading.Tasks.Task so the worker can await it (results are not kept)");

    /// <summary>A params array has no place on the wire.</summary>
    public static readonly DiagnosticDescriptor ParamsParameter = Create(
        "TASK003",
        "Task method cannot have a params parameter",
        "Parameter '{0}' of task method '{1}' is 'params'; remove 'params' and pass an array");

    /// <summary>By-reference arguments cannot travel through a queue.</summary>
    public static readonly DiagnosticDescriptor ByRefParameter = Create(
        "TASK004",
        "Task method cannot have ref, out or in parameters",
        "Parameter '{0}' of task method '{1}' is '{2}'; arguments are copied into a queue message, so pass it by value");

    /// <summary>The wire carries no type arguments.</summary>
    public static readonly DiagnosticDescriptor Generic = Create(
        "TASK005",
        "Task method cannot be generic or in a generic type",
        "Task method '{0}' {1}; a message carries no type arguments, so use concrete types");

    /// <summary>The generator adds a nested class to the declaring types.</summary>
    public static readonly DiagnosticDescriptor ContainingTypeNotPartial = Create(
        "TASK006",
        "Type declaring a task must be partial",
        "Type '{0}' must be declared 'partial' so the generator can add '{1}' to it");

    /// <summary>Every argument is written with MessagePack.</summary>
    public static readonly DiagnosticDescriptor UnsupportedParameterType = Create(
        "TASK007",
        "Task parameter type cannot be serialized",
        "Parameter '{0}' of task method '{1}' has type '{2}', which cannot travel in a task message: {3}");

    /// <summary>The wire name selects the method on the worker.</summary>
    public static readonly DiagnosticDescriptor DuplicateWireName = new(
        "TASK008",
        "Two tasks have the same wire name",
        "Task method '{0}' has the wire name '{1}', which '{2}' has too; give one of them a distinct [AsyncTask(Name = \"...\")]",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        helpLinkUri: HelpRoot + "TASK008.md",
        customTags: WellKnownDiagnosticTags.CompilationEnd);

    /// <summary>The generated dispatch table lives outside the type and must reach it.</summary>
    public static readonly DiagnosticDescriptor NotReachable = Create(
        "TASK009",
        "Task method is not reachable from generated code",
        "Task method '{0}' cannot be registered: {1}; make it internal or public");

    /// <summary>The generated class needs a name no other member of the type uses.</summary>
    public static readonly DiagnosticDescriptor GeneratedNameConflict = Create(
        "TASK010",
        "Generated task class name is already taken",
        "The generated class '{0}' for task method '{1}' would clash with {2}; rename the method, or for overloads set a Name whose last segment differs");

    /// <summary>Attribute values are checked where they are written, not when the first message fails.</summary>
    public static readonly DiagnosticDescriptor InvalidAttributeValue = Create(
        "TASK011",
        "Invalid [AsyncTask] setting",
        "[AsyncTask] on '{0}' has an invalid {1}: {2}");

    /// <summary>A schedule is read where it is written, not when the first occurrence is due.</summary>
    public static readonly DiagnosticDescriptor InvalidSchedule = Create(
        "TASK012",
        "Invalid [Recurring] schedule",
        "[Recurring] on '{0}' is invalid: {1}");

    /// <summary>Messages in a queue were written by the code of yesterday: a task must still read them.</summary>
    public static readonly DiagnosticDescriptor WireShapeBroken = Create(
        "TASK013",
        "Task no longer reads the messages its wire lock entry describes",
        "Task '{0}' {1}; {2}");

    /// <summary>A task the lock does not record, or records behind a compatible change, is not yet guarded.</summary>
    public static readonly DiagnosticDescriptor WireShapeNotLocked = new(
        "TASK014",
        "Task's wire shape is not recorded in the wire lock",
        "Task '{0}' {1}; record it in tasks.lock.txt (code fix), so that later changes are checked against it",
        Category,
        DiagnosticSeverity.Info,
        isEnabledByDefault: true,
        helpLinkUri: HelpRoot + "TASK014.md");

    /// <summary>A lock entry whose task is gone stands for messages no worker will run.</summary>
    public static readonly DiagnosticDescriptor WireLockEntryWithoutTask = new(
        "TASK015",
        "Wire lock entry has no task",
        "tasks.lock.txt has an entry for '{0}', but no task has that wire name: its messages still in queue '{1}' will be dead-lettered; if you renamed the method, give it [AsyncTask(Name = \"{0}\")]; to retire the task, let its queue drain first, then remove the entry (code fix)",
        Category,
        DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        helpLinkUri: HelpRoot + "TASK015.md",
        customTags: WellKnownDiagnosticTags.CompilationEnd);

    /// <summary>A lock that cannot be read guards nothing: say so rather than pass every change.</summary>
    public static readonly DiagnosticDescriptor WireLockUnreadable = new(
        "TASK016",
        "Wire lock file cannot be read",
        "tasks.lock.txt line {0} cannot be read: {1}",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        helpLinkUri: HelpRoot + "TASK016.md",
        customTags: WellKnownDiagnosticTags.CompilationEnd);

    /// <summary>A filter the worker could not make or run would fail every run of the task: say so where it is named.</summary>
    public static readonly DiagnosticDescriptor InvalidTaskFilter = Create(
        "TASK017",
        "Task filter type cannot run as a run filter",
        "Task '{0}' names filter '{1}', but {2}");

    /// <summary>A limit keyed by something that is not an argument would key nothing, or every run alike: said where it is written.</summary>
    public static readonly DiagnosticDescriptor InvalidLimitKey = Create(
        "TASK018",
        "Limit key is not a parameter that can key it",
        "{0} on '{1}' is keyed by '{2}', but {3}");

    /// <summary>A limit that cannot be kept as written would fail or mislead every run: said where it is written.</summary>
    public static readonly DiagnosticDescriptor InvalidLimit = Create(
        "TASK019",
        "Invalid task limit",
        "{0} on '{1}' {2}");

    private static DiagnosticDescriptor Create(string id, string title, string message)
        => new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: HelpRoot + id + ".md");
}
