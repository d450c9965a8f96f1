namespace Tasks.Generators;

/// <summary>Names of the pipeline steps, so incrementality tests can find them.</summary>
internal static class TrackingNames
{
    public const string TaskModels = nameof(TaskModels);
    public const string ValidTasks = nameof(ValidTasks);
    public const string DispatchEntries = nameof(DispatchEntries);
    public const string DispatchTable = nameof(DispatchTable);
    public const string ReferencedTaskAssemblies = nameof(ReferencedTaskAssemblies);
    public const string AssemblyNamespace = nameof(AssemblyNamespace);
    public const string Registration = nameof(Registration);
    public const string ArgumentTypes = nameof(ArgumentTypes);
    public const string ArgumentFormatters = nameof(ArgumentFormatters);
}
