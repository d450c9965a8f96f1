using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;

namespace Tasks;

/// <summary>
/// The dispatch table: wire name to <see cref="TaskDefinition"/>. Each assembly with tasks
/// registers its own definitions into <see cref="Default"/> from a generated module initializer.
/// </summary>
public sealed class TaskRegistry
{
    private readonly object gate = new();
    private readonly List<string> conflicts = new();

    // Read on every message without a lock; replaced whole (copy on write) by the rare Register.
    private volatile Lookup lookup = new(new Dictionary<string, TaskDefinition>(StringComparer.Ordinal));

    /// <summary>The registry that generated code fills and workers read by default.</summary>
    public static TaskRegistry Default { get; } = new();

    /// <summary>Adds definitions. A wire name already taken by another task is recorded as a conflict and reported by <see cref="ThrowIfInvalid"/>.</summary>
    public void Register(params TaskDefinition[] definitions)
    {
        ArgumentNullException.ThrowIfNull(definitions);
        lock (gate)
        {
            var byName = new Dictionary<string, TaskDefinition>(lookup.ByName, StringComparer.Ordinal);
            foreach (var definition in definitions)
            {
                if (!byName.TryGetValue(definition.Name, out var existing))
                {
                    byName.Add(definition.Name, definition);
                }
                else if (!ReferenceEquals(existing, definition))
                {
                    // Throwing from a module initializer would surface as a TypeInitializationException far
                    // from the cause, so the conflict is kept and reported when a worker starts.
                    conflicts.Add(
                        $"The task wire name '{definition.Name}' is declared twice: by {Describe(existing)} and by {Describe(definition)}. " +
                        "Give one of them a distinct [AsyncTask(Name = \"...\")].");
                }
            }

            lookup = new Lookup(byName);
        }
    }

    /// <summary>Finds the task for a wire name.</summary>
    public bool TryGet(string name, out TaskDefinition definition) => lookup.ByName.TryGetValue(name, out definition!);

    /// <summary>Finds the task for a UTF-8 wire name as it lies in a message, without allocating a string.</summary>
    public bool TryGet(ReadOnlySpan<byte> utf8Name, out TaskDefinition definition)
    {
        var table = lookup;

        // A queue mostly carries one task after another of the same kind: the last one found is compared first.
        if (table.LastFound is { } last && utf8Name.SequenceEqual(last.Name))
        {
            definition = last.Definition;
            return true;
        }

        if (table.ByUtf8Hash.TryGetValue(Lookup.Hash(utf8Name), out var candidates))
        {
            foreach (var candidate in candidates)
            {
                if (utf8Name.SequenceEqual(candidate.Name))
                {
                    table.LastFound = candidate; // a reference written whole: a racing reader sees this one or the one before
                    definition = candidate.Definition;
                    return true;
                }
            }
        }

        definition = null!;
        return false;
    }

    /// <summary>Every registered task, ordered by wire name.</summary>
    public IReadOnlyList<TaskDefinition> Definitions => lookup.ByName.Values.OrderBy(d => d.Name, StringComparer.Ordinal).ToArray();

    /// <summary>Throws if two assemblies declared the same wire name.</summary>
    /// <exception cref="InvalidOperationException">One or more wire names are declared twice.</exception>
    public void ThrowIfInvalid()
    {
        lock (gate)
        {
            if (conflicts.Count > 0)
            {
                throw new InvalidOperationException(string.Join(Environment.NewLine, conflicts));
            }
        }
    }

    /// <summary>
    /// Runs the module initializer of an assembly whose tasks this process must execute but whose
    /// code it may not have touched yet (a module initializer runs only when its module is first used).
    /// </summary>
    public static void EnsureRegistered(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        RuntimeHelpers.RunModuleConstructor(assembly.ManifestModule.ModuleHandle);
    }

    private static string Describe(TaskDefinition definition)
        => $"{definition.DeclaringType.FullName}.{definition.MethodName} in {definition.DeclaringType.Assembly.GetName().Name}";

    private sealed class Lookup
    {
        public Lookup(Dictionary<string, TaskDefinition> byName)
        {
            ByName = byName;
            ByUtf8Hash = byName.Values
                .Select(d => new Entry(Encoding.UTF8.GetBytes(d.Name), d))
                .GroupBy(e => Hash(e.Name))
                .ToDictionary(g => g.Key, g => g.ToArray());
        }

        public Dictionary<string, TaskDefinition> ByName { get; }

        public Dictionary<int, Entry[]> ByUtf8Hash { get; }

        public Entry? LastFound { get; set; }

        /// <summary>
        /// The length and the first and last 8 bytes: cheap on the hot path (one per message), and wire names that share
        /// both ends are told apart by the candidates' bytes. Only ever compared within this process.
        /// </summary>
        public static int Hash(ReadOnlySpan<byte> utf8)
        {
            if (utf8.Length < sizeof(ulong))
            {
                var small = (uint)utf8.Length;
                foreach (var b in utf8) small = (small * 31) ^ b;
                return (int)small;
            }

            var first = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(utf8);
            var last = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(utf8[^sizeof(ulong)..]);
            var mixed = (first * 0x9E3779B97F4A7C15UL) ^ (last + (ulong)utf8.Length) * 0xC2B2AE3D27D4EB4FUL;
            return (int)(mixed ^ (mixed >> 32));
        }

        public sealed record Entry(byte[] Name, TaskDefinition Definition);
    }
}
