using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;

namespace Tasks.Cli;

/// <summary>Tables for people, JSON for scripts (<c>--json</c>).</summary>
internal sealed class Output(bool json)
{
    /// <summary>True with <c>--json</c>.</summary>
    public bool IsJson => json;

    // Every field, null or not, so a script finds the same keys in every object; text as it is, not \u-escaped.
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

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

    /// <summary>A sentence for people, <paramref name="value"/> as JSON for scripts.</summary>
    public void Sentence<T>(T value, string sentence) => Console.WriteLine(json ? JsonSerializer.Serialize(value, JsonOptions) : sentence);

    /// <summary>A sentence and the ids, one per line, for people; <c>{"verb": [ids]}</c> for scripts.</summary>
    public void Ids(string verb, string[] ids, string sentence)
    {
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string[]> { [verb] = ids }, JsonOptions));
            return;
        }

        Console.WriteLine(sentence);
        foreach (var id in ids) Console.WriteLine("  " + id);
    }

    public static string Short(string? text, int length)
    {
        var flat = (text ?? "").ReplaceLineEndings(" ");
        return flat.Length <= length ? flat : flat[..(length - 1)] + "…";
    }

    public static string Time(DateTimeOffset? time) => time?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture) ?? "";

    private static string Line(string[] cells, int[] widths)
        => string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd();
}
