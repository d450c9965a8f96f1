using System.Collections.Generic;
using System.Linq;

namespace Tasks.Generators.Diagnostics.WireLock;

/// <summary>Where in the task method a change is reported.</summary>
internal enum WireChangeSite
{
    /// <summary>The <c>Queue</c> of <c>[AsyncTask]</c>.</summary>
    Queue,

    /// <summary>The parameter at <see cref="WireChange.Parameter"/>.</summary>
    Parameter,

    /// <summary>The parameter list: a parameter is gone.</summary>
    ParameterList,
}

/// <summary>One difference between a task's locked shape and its shape now.</summary>
/// <param name="Breaking">True if a message written by the locked shape would not read, or read wrong.</param>
/// <param name="Description">What changed, completing "Task 'x' ...".</param>
/// <param name="Advice">For a breaking change, how to make it safely.</param>
/// <param name="Site">Where to report it.</param>
/// <param name="Parameter">For <see cref="WireChangeSite.Parameter"/>, the parameter's index after the token.</param>
internal sealed record WireChange(bool Breaking, string Description, WireChangeSite Site, int Parameter = 0, string Advice = "")
{
    public const string Restore = "restore it and append the change instead, or give the new shape a new wire name; update tasks.lock.txt (the IDE's code fix, or delete its block and record it again) only once no message of the old shape can be queued";
}

/// <summary>
/// Whether messages written by a locked shape still read with the shape the code has now. They do if the
/// queue is the same and each parameter list and member list starts with the locked one, place by place
/// (same name and type, or the same type made nullable); what follows must have a default, because an
/// older message has no value for it.
/// </summary>
internal static class WireShapeComparison
{
    public static IReadOnlyList<WireChange> Compare(TaskWireShape locked, TaskWireShape current)
    {
        var changes = new List<WireChange>();
        if (locked.Queue != current.Queue)
        {
            changes.Add(new WireChange(true, $"moved from queue '{locked.Queue}' to '{current.Queue}', so the messages in '{locked.Queue}' would wait for a worker that no longer reads it", WireChangeSite.Queue,
                Advice: $"keep Queue = \"{locked.Queue}\" while its messages may wait, or add the task on the new queue under a new wire name"));
        }

        CompareMembers(locked.Parameters, current.Parameters, "parameter", "", changes,
            index => index < current.Parameters.Count ? (WireChangeSite.Parameter, index) : (WireChangeSite.ParameterList, 0));

        foreach (var lockedType in locked.Types)
        {
            if (current.Types.FirstOrDefault(t => t.Name == lockedType.Name) is not { } type) continue; // no longer carried: its parameter or member changed, and that is reported
            if (type.IsEnum) CompareEnumValues(lockedType, type, changes);
            else CompareMembers(lockedType.Members, type.Members, "member", $" of '{type.Name}'", changes, _ => (WireChangeSite.Parameter, type.Parameter));
        }

        return changes;
    }

    private static void CompareMembers(
        IReadOnlyList<WireMember> locked,
        IReadOnlyList<WireMember> current,
        string noun,
        string owner,
        List<WireChange> changes,
        System.Func<int, (WireChangeSite Site, int Parameter)> site)
    {
        for (var i = 0; i < locked.Count; i++)
        {
            var (where, parameter) = site(i);
            if (i >= current.Count)
            {
                changes.Add(new WireChange(true, $"lost {noun} {i + 1}{owner}, '{locked[i]}', which queued messages carry", where, parameter, WireChange.Restore));
            }
            else if (current[i].Name != locked[i].Name || !Reads(locked[i].Type, current[i].Type))
            {
                changes.Add(new WireChange(true, $"has '{current[i]}' as {noun} {i + 1}{owner}, where queued messages carry '{locked[i]}'", where, parameter, WireChange.Restore));
            }
            else if (locked[i].HasDefault && !current[i].HasDefault)
            {
                changes.Add(new WireChange(true, $"dropped the default value of {noun} '{current[i]}'{owner}, which messages written before it was appended do not carry", where, parameter, "keep its default value"));
            }
            else if (current[i].Type != locked[i].Type)
            {
                changes.Add(new WireChange(false, $"made {noun} {i + 1}{owner} nullable ('{current[i]}')", where, parameter));
            }
        }

        for (var i = locked.Count; i < current.Count; i++)
        {
            var (where, parameter) = site(i);
            changes.Add(current[i].HasDefault
                ? new WireChange(false, $"appended {noun} '{current[i]}'{owner}", where, parameter)
                : new WireChange(true, $"appended {noun} '{current[i]}'{owner} without a default value, so a queued message has no value for it", where, parameter, "give it a default value"));
        }
    }

    /// <summary>An enum travels as its number: each number a queued message may carry must keep its name. New names are compatible.</summary>
    private static void CompareEnumValues(WireType locked, WireType current, List<WireChange> changes)
    {
        foreach (var value in locked.Members)
        {
            var now = current.Members.FirstOrDefault(m => m.Name == value.Name);
            if (now?.Type == value.Type) continue;
            var description = now is null
                ? $"lost '{value.Name} = {value.Type}' of enum '{current.Name}', so a queued {value.Type} would read as no name"
                : $"has '{now.Name} = {now.Type}' in enum '{current.Name}', where queued messages carry '{value.Name}' as {value.Type}";
            changes.Add(new WireChange(true, description, WireChangeSite.Parameter, current.Parameter,
                $"give the enum's names explicit values that keep the locked numbers ({value.Name} = {value.Type})"));
        }

        foreach (var value in current.Members.Where(m => locked.Members.All(l => l.Name != m.Name)))
            changes.Add(new WireChange(false, $"added '{value.Name} = {value.Type}' to enum '{current.Name}'", WireChangeSite.Parameter, current.Parameter));
    }

    /// <summary>A value written as <paramref name="locked"/> reads as <paramref name="current"/>: the same type, or it made nullable.</summary>
    private static bool Reads(string locked, string current) => current == locked || current == locked + "?";
}
