using System.Linq;

namespace Tasks.Generators.Model;

/// <summary>Everything the emitter needs for one valid task: strings, bools and equatable arrays only.</summary>
/// <param name="Containing">The namespace and the chain of types that declare the method.</param>
/// <param name="MethodName">The method name, escaped as an identifier (e.g. <c>@class</c>).</param>
/// <param name="ClassName">The generated nested class, <c>{Method}Async</c>.</param>
/// <param name="WireName">The stable name written into messages.</param>
/// <param name="Queue">The queue name.</param>
/// <param name="MaxAttempts">Attempts before dead-letter.</param>
/// <param name="Policy">The task's own timeout, retry delay and concurrency limit.</param>
/// <param name="IsStatic">False for instance methods (resolved from DI by the worker).</param>
/// <param name="IsPublic">Whether the generated class is public (else internal).</param>
/// <param name="Parameters">The parameters after the CancellationToken, in order.</param>
/// <param name="DocSummary">The method's XML doc summary lines, or empty.</param>
/// <param name="Schedule">The <c>[Recurring]</c> schedule, or null.</param>
/// <param name="ArgumentTypes">The user's types, in the arguments, that travel by a generated formatter.</param>
/// <param name="RunFilters">The task's own run filters (<c>[TaskFilter]</c>), in order, as <c>global::</c> type names.</param>
/// <param name="Limits">The task's limits across workers (<c>[ConcurrencyLimit]</c>, <c>[RateLimit]</c>), in order.</param>
internal sealed record TaskModel(
    HierarchyInfo Containing,
    string MethodName,
    string ClassName,
    string WireName,
    string Queue,
    int MaxAttempts,
    TaskPolicyModel Policy,
    bool IsStatic,
    bool IsPublic,
    EquatableArray<ParameterModel> Parameters,
    EquatableArray<string> DocSummary,
    ScheduleModel? Schedule,
    EquatableArray<ArgumentTypeModel> ArgumentTypes,
    EquatableArray<string> RunFilters,
    EquatableArray<LimitModel> Limits)
{
    /// <summary><c>global::Ns.Outer.Inner.MethodAsync</c>: what the dispatch table refers to.</summary>
    public string FullyQualifiedClassName => $"{Containing.FullyQualifiedName}.{ClassName}";

    /// <summary>Unique and stable per task: <c>Ns.Outer.Inner.MethodAsync.g.cs</c>.</summary>
    public string HintName => $"{Containing.MetadataName}.{ClassName.TrimStart('@')}.g.cs";
}

/// <summary>What <c>[AsyncTask(Timeout, RetryDelay, MaxConcurrency, UniqueFor, PersonalData)]</c> set: ticks, or null/0/false for the defaults.</summary>
internal sealed record TaskPolicyModel(long? TimeoutTicks, long? RetryDelayTicks, int MaxConcurrency, long? UniqueForTicks = null, bool PersonalData = false)
{
    public bool IsDefault => TimeoutTicks is null && RetryDelayTicks is null && MaxConcurrency == 0 && UniqueForTicks is null && !PersonalData;
}

/// <summary>One <c>[ConcurrencyLimit]</c> or <c>[RateLimit]</c>, as checked by TASK018 and TASK019.</summary>
/// <param name="Kind"><c>Concurrency</c> or <c>Rate</c>, as <c>Tasks.TaskLimitKind</c> names them.</param>
/// <param name="Name">The limit's name: the attribute's Name, else the task's wire name.</param>
/// <param name="Limit">Runs at once, or starts per period.</param>
/// <param name="PeriodTicks">A rate's period.</param>
/// <param name="MaxWaitTicks">The longest wait, or null for the runtime's default.</param>
/// <param name="KeyParameter">The parameter that keys it, escaped as an identifier, or null.</param>
internal sealed record LimitModel(string Kind, string Name, int Limit, long? PeriodTicks, long? MaxWaitTicks, string? KeyParameter);

/// <summary>What <c>[Recurring(Cron, TimeZone = ...)]</c> set, as checked by TASK012.</summary>
internal sealed record ScheduleModel(string Cron, string TimeZone);

/// <summary>One task argument.</summary>
/// <param name="Name">The parameter name, escaped as an identifier.</param>
/// <param name="Type">The fully qualified type with <c>global::</c> and nullable annotations.</param>
/// <param name="DefaultValue">The C# literal of the default value, or null if it has none.</param>
/// <param name="RuntimeType">The type as <c>typeof</c> takes it: <c>global::</c>, no nullable reference annotation.</param>
internal sealed record ParameterModel(string Name, string Type, string? DefaultValue, string RuntimeType);

/// <summary>A containing type: its declaration keyword(s), name and whether it is static.</summary>
internal sealed record TypeDeclarationInfo(string Keyword, string Name, bool IsStatic);

/// <summary>The namespace and the types, outermost first, that the generated class is nested in.</summary>
internal sealed record HierarchyInfo(string Namespace, EquatableArray<TypeDeclarationInfo> Types)
{
    public string FullyQualifiedName
        => "global::" + (Namespace.Length == 0 ? "" : Namespace + ".") + string.Join(".", Types.Select(t => t.Name));

    public string MetadataName
        => (Namespace.Length == 0 ? "" : Namespace + ".") + string.Join("+", Types.Select(t => t.Name.TrimStart('@')));
}

/// <summary>One row of the dispatch table.</summary>
internal sealed record DispatchEntry(string WireName, string FullyQualifiedClassName);

/// <summary>What the assembly's registration file needs.</summary>
/// <param name="Namespace">The assembly's own <c>Tasks.Generated.{AssemblyName}</c> namespace.</param>
/// <param name="Entries">This assembly's tasks, ordered by wire name; empty in a host that only references task assemblies.</param>
/// <param name="ReferencedTables">The fully qualified dispatch tables of the referenced task assemblies.</param>
internal sealed record TaskRegistrationModel(string Namespace, EquatableArray<DispatchEntry> Entries, EquatableArray<string> ReferencedTables);

/// <summary>
/// A type inside a task's arguments whose formatter the assembly registers: a record, class or struct of
/// the user's, by a formatter the generator writes; or a collection, array or enum, by MessagePack's own
/// formatter class for it (<paramref name="KnownFormatter"/>), named here so that nothing is created by
/// reflection at run time (a native AOT worker cannot).
/// </summary>
/// <param name="Type">The fully qualified type, <c>global::</c> and no nullable annotation.</param>
/// <param name="IsValueType">True for a struct: no nil on the wire.</param>
/// <param name="Members">What travels, in wire order: the constructor's parameters in their order, then the settable members in declaration order (base type first).</param>
/// <param name="ConstructorArity">How many of <paramref name="Members"/> are passed to the constructor.</param>
/// <param name="KnownFormatter">MessagePack's formatter class for the type (e.g. <c>global::MessagePack.Formatters.ListFormatter&lt;int&gt;</c>), or null for a user type.</param>
internal sealed record ArgumentTypeModel(string Type, bool IsValueType, EquatableArray<MemberModel> Members, int ConstructorArity, string? KnownFormatter = null);

/// <summary>One member of an <see cref="ArgumentTypeModel"/>.</summary>
/// <param name="Name">The member name, escaped as an identifier.</param>
/// <param name="Type">The fully qualified type with nullable annotations.</param>
/// <param name="DefaultValue">For a constructor parameter with a default value, its C# literal: what a message written before the member existed gets.</param>
/// <param name="RuntimeType">The type as <c>typeof</c> takes it: <c>global::</c>, no nullable reference annotation.</param>
internal sealed record MemberModel(string Name, string Type, string? DefaultValue, string RuntimeType);

/// <summary>What the assembly's argument formatters file needs.</summary>
/// <param name="Namespace">The assembly's own <c>Tasks.Generated.{AssemblyName}</c> namespace.</param>
/// <param name="Types">Every argument type of the assembly's tasks that travels by a generated formatter, ordered by name.</param>
internal sealed record ArgumentFormattersModel(string Namespace, EquatableArray<ArgumentTypeModel> Types);
