using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tasks.Cli;

/// <summary>Tables for people, JSON for scripts (<c>--json</c>).</summary>
internal sealed class Output(bool json)
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public bool IsJson => json;

    /// <summary>Writes <paramref name="value"/> as JSON, or the table <paramref name="rows"/> make of it.</summary>
    public void Write<T>(T value, string[] headers, IEnumerable<string[]> rows, string empty)
    {
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(value, JsonOptions));
            return;
        }

        var table = rows.ToList();
        if (table.Count == 0)
        {
            Console.WriteLine(empty);
            return;
        }

        var widths = headers.Select((h, i) => table.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        Console.WriteLine(Line(headers, widths));
        foreach (var row in table) Console.WriteLine(Line(row, widths));
    }

    /// <summary>A sentence for people, or <c>{"name": count}</c> for scripts.</summary>
    public void Count(string name, int count, string sentence)
        => Console.WriteLine(json ? JsonSerializer.Serialize(new Dictionary<string, int> { [name] = count }, JsonOptions) : sentence);

    public static string Short(string? text, int length)
    {
        var flat = (text ?? "").ReplaceLineEndings(" ");
        return flat.Length <= length ? flat : flat[..(length - 1)] + "…";
    }

    public static string Time(DateTimeOffset? time) => time?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture) ?? "";

    private static string Line(string[] cells, int[] widths)
        => string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd();
}
