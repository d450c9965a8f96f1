using System;
using System.Diagnostics.CodeAnalysis;

namespace Tasks;

/// <summary>
/// Runs a filter around this task's runs only (<see cref="ITaskRunFilter"/>), after the filters registered for every
/// task, in the order of the attributes. The generator checks the type and writes how to make it: resolved from the
/// run's DI scope if it is registered there, else made with its public constructor (its parameters from DI), so it
/// works under Native AOT.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class TaskFilterAttribute : Attribute
{
    /// <param name="filterType">A class that implements <see cref="ITaskRunFilter"/>.</param>
    public TaskFilterAttribute([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] Type filterType) => FilterType = filterType;

    /// <summary>The filter's type.</summary>
    [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)]
    public Type FilterType { get; }
}
