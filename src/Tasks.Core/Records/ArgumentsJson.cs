using System;
using System.Text;
using MessagePack;

namespace Tasks;

/// <summary>
/// A task's arguments as a record shows them: a JSON object of parameter names (from the generated
/// definition) and values, your types as objects of their members (<see cref="TaskJsonShapes"/>), the
/// rest by MessagePack's own conversion; no reflection. Or a note that says why they are not kept.
/// </summary>
internal static class ArgumentsJson
{
    public static (string? Json, string? Note) Of(TaskDefinition task, ReadOnlyMemory<byte> arguments, TaskRecordOptions options)
    {
        if (task.HasPersonalData) return (null, "Not recorded: the task carries personal data ([AsyncTask(PersonalData = true)]).");
        if (!options.RecordArguments) return (null, "Not recorded: TaskRecordOptions.RecordArguments is off.");
        try
        {
            var reader = new MessagePackReader(arguments);
            var count = reader.ReadArrayHeader();
            var json = new StringBuilder("{");
            for (var i = 0; i < count; i++)
            {
                if (i > 0) json.Append(',');
                var name = i < task.ParameterNames.Count ? task.ParameterNames[i] : "arg" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                json.Append('"').Append(System.Text.Json.JsonEncodedText.Encode(name).Value).Append("\":");
                TaskJsonShapes.WriteJson(ref reader, arguments, i < task.ParameterTypes.Count ? task.ParameterTypes[i] : null, json);
                if (json.Length > options.MaxArgumentsJsonChars)
                    return (null, $"Not recorded: the arguments' JSON is longer than {options.MaxArgumentsJsonChars:N0} characters (TaskRecordOptions.MaxArgumentsJsonChars).");
            }

            return (json.Append('}').ToString(), null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return (null, $"Not recorded: the arguments could not be converted to JSON ({ex.Message}).");
        }
    }
}
