using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.ComponentModel;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MessagePack;

namespace Tasks;

/// <summary>
/// The member names of the argument types the generator writes formatters for, registered by
/// generated code, so a task's record shows its arguments as JSON objects
/// (<c>{"report":{"Title":"Q3","Figures":[120,80]}}</c>) where the wire has arrays. No reflection:
/// the names and member types come from the generator.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class TaskJsonShapes
{
    private static readonly ConcurrentDictionary<Type, (string[] Names, Type[] Types)> Shapes = new();

    /// <summary>Called by generated code: <paramref name="type"/> travels as an array of these members, in this order.</summary>
    public static void Register(Type type, string[] memberNames, Type[] memberTypes)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(memberNames);
        ArgumentNullException.ThrowIfNull(memberTypes);
        Shapes[type] = (memberNames, memberTypes);
    }

    /// <summary>
    /// Writes the MessagePack value at <paramref name="reader"/> as JSON: an object for a registered type,
    /// its elements in turn for arrays, lists and dictionaries of them, MessagePack's own conversion for
    /// everything else (and for a value that does not have the shape its type says).
    /// </summary>
    internal static void WriteJson(ref MessagePackReader reader, ReadOnlyMemory<byte> source, Type? type, StringBuilder json, int depth = 0)
    {
        type = type is null ? null : Nullable.GetUnderlyingType(type) ?? type;
        if (depth < 32 && type is not null && !reader.IsNil)
        {
            // MessagePack keeps a DateTimeOffset as [UTC time, offset in minutes]: a person reads it as one time.
            if (type == typeof(DateTimeOffset) && reader.NextMessagePackType == MessagePackType.Array)
            {
                var time = TaskSerializer.DefaultOptions.Resolver.GetFormatterWithVerify<DateTimeOffset>().Deserialize(ref reader, TaskSerializer.DefaultOptions);
                json.Append('"').Append(time.ToString("O", CultureInfo.InvariantCulture)).Append('"');
                return;
            }

            if (Shapes.TryGetValue(type, out var shape) && reader.NextMessagePackType == MessagePackType.Array)
            {
                var count = reader.ReadArrayHeader();
                json.Append('{');
                for (var i = 0; i < count; i++)
                {
                    if (i > 0) json.Append(',');
                    AppendName(json, i < shape.Names.Length ? shape.Names[i] : "member" + i.ToString(CultureInfo.InvariantCulture));
                    WriteJson(ref reader, source, i < shape.Types.Length ? shape.Types[i] : null, json, depth + 1);
                }

                json.Append('}');
                return;
            }

            if (ElementType(type) is { } element && type != typeof(byte[]) && reader.NextMessagePackType == MessagePackType.Array)
            {
                var count = reader.ReadArrayHeader();
                json.Append('[');
                for (var i = 0; i < count; i++)
                {
                    if (i > 0) json.Append(',');
                    WriteJson(ref reader, source, element, json, depth + 1);
                }

                json.Append(']');
                return;
            }

            if (ValueType(type) is { } value && reader.NextMessagePackType == MessagePackType.Map)
            {
                var count = reader.ReadMapHeader();
                json.Append('{');
                for (var i = 0; i < count; i++)
                {
                    if (i > 0) json.Append(',');
                    var key = reader.NextMessagePackType == MessagePackType.String ? reader.ReadString() : Raw(ref reader, source).Trim('"');
                    AppendName(json, key ?? "null");
                    WriteJson(ref reader, source, value, json, depth + 1);
                }

                json.Append('}');
                return;
            }
        }

        json.Append(Raw(ref reader, source));
    }

    private static void AppendName(StringBuilder json, string name) => json.Append('"').Append(JsonEncodedText.Encode(name).Value).Append("\":");

    /// <summary>The next value as MessagePack's own JSON, the reader moved past it.</summary>
    private static string Raw(ref MessagePackReader reader, ReadOnlyMemory<byte> source)
    {
        var start = (int)reader.Consumed;
        reader.Skip();
        return MessagePackSerializer.ConvertToJson(source[start..(int)reader.Consumed], TaskSerializer.DefaultOptions);
    }

    /// <summary>The element type of an array or a one-argument collection (List, HashSet, IEnumerable, ...).</summary>
    private static Type? ElementType(Type type)
        => type.IsArray ? type.GetElementType()
        : type.IsGenericType && type.GetGenericArguments() is [var element] && typeof(System.Collections.IEnumerable).IsAssignableFrom(type) ? element
        : null;

    /// <summary>The value type of a dictionary.</summary>
    private static Type? ValueType(Type type)
        => type.IsGenericType && type.GetGenericArguments() is [_, var value] && typeof(System.Collections.IEnumerable).IsAssignableFrom(type) ? value : null;
}
