using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis.Text;

namespace Tasks.Generators.Diagnostics.WireLock;

/// <summary>One entry of the lock file, and where it is.</summary>
/// <param name="Shape">The locked shape: a parameter or member has <see cref="WireMember.HasDefault"/> where the lock marks it <c>optional</c>.</param>
/// <param name="Header">The span of its <c>[wire name]</c> line, where a diagnostic about the entry points.</param>
/// <param name="Span">Its lines, from the header to its last line break.</param>
internal sealed record WireLockEntry(TaskWireShape Shape, TextSpan Header, TextSpan Span);

/// <summary>A line of the lock file that is not an entry, a comment or blank.</summary>
internal sealed record WireLockError(int Line, TextSpan Span, string Problem);

/// <summary>
/// <c>tasks.lock.txt</c>: the project's committed record of the wire shape of each task. Entries are
/// blocks, in wire-name order, so a change shows in a diff as the line that changed:
/// <code>
/// [shop.ship-order]
/// queue orders
/// parameters (Shop.Shipment shipment)
/// type Shop.Shipment (System.Guid OrderId, int Items, optional string Carrier, optional Shop.Speed Speed)
/// enum Shop.Speed (Standard = 0, Express = 1)
/// </code>
/// <c>optional</c> marks what was appended after messages without it were written: it must keep its default.
/// The code fixes write it; people read it in reviews. Lines starting with <c>#</c> are comments.
/// </summary>
internal sealed class WireLockFile
{
    public const string FileName = "tasks.lock.txt";
    public const string QueueKeyword = "queue";
    public const string ParametersKeyword = "parameters";
    public const string TypeKeyword = "type";
    public const string EnumKeyword = "enum";
    public const string OptionalKeyword = "optional";

    private const string Preamble =
        "# Tasks wire lock: the shape of the messages each task's queue may hold, checked at every build.\n" +
        "# Written by the code fixes of TASK013, TASK014 and TASK015; see docs/evolving-tasks.md before you change a task.\n";

    private WireLockFile(IReadOnlyList<WireLockEntry> entries, IReadOnlyList<WireLockError> errors)
    {
        Entries = entries;
        Errors = errors;
    }

    public IReadOnlyList<WireLockEntry> Entries { get; }

    public IReadOnlyList<WireLockError> Errors { get; }

    public static bool IsLockFile(string? path)
        => path is not null && string.Equals(System.IO.Path.GetFileName(path), FileName, StringComparison.OrdinalIgnoreCase);

    public static WireLockFile Parse(SourceText text)
    {
        var entries = new List<WireLockEntry>();
        var errors = new List<WireLockError>();
        string? wireName = null;
        TextSpan header = default;
        string? queue = null;
        List<WireMember>? parameters = null;
        var types = new List<WireType>();
        var end = 0;

        void Close()
        {
            if (wireName is null) return;
            if (queue is null || parameters is null)
                errors.Add(new WireLockError(text.Lines.GetLineFromPosition(header.Start).LineNumber + 1, header, $"the entry of '{wireName}' needs a '{QueueKeyword}' and a '{ParametersKeyword}' line"));
            else
                entries.Add(new WireLockEntry(new TaskWireShape(wireName, queue, parameters, types.ToList()), header, TextSpan.FromBounds(header.Start, end)));
            wireName = null;
            queue = null;
            parameters = null;
            types.Clear();
        }

        foreach (var line in text.Lines)
        {
            var content = line.ToString().Trim();
            if (content.Length == 0 || content.StartsWith("#", StringComparison.Ordinal)) continue;
            string? problem = null;
            if (content.StartsWith("[", StringComparison.Ordinal) && content.EndsWith("]", StringComparison.Ordinal) && content.Length > 2)
            {
                Close();
                wireName = content.Substring(1, content.Length - 2);
                header = line.Span;
                if (entries.Any(e => e.Shape.WireName == wireName)) problem = $"'{wireName}' has a second entry";
            }
            else if (wireName is null)
            {
                problem = "expected a '[wire name]' line to start an entry";
            }
            else if (Keyword(content, QueueKeyword) is { } queueName)
            {
                queue = queueName;
            }
            else if (Keyword(content, ParametersKeyword) is { } list)
            {
                parameters = Members(list, isEnum: false, out problem);
            }
            else if ((Keyword(content, TypeKeyword) ?? Keyword(content, EnumKeyword)) is { } type)
            {
                var isEnum = content.StartsWith(EnumKeyword, StringComparison.Ordinal);
                var open = TopLevelIndexOf(type, '(');
                var members = open > 0 ? Members(type.Substring(open), isEnum, out problem) : null;
                if (members is null) problem ??= isEnum ? "expected 'enum Name (Member = 0, ...)'" : "expected 'type Name (Type member, ...)'";
                else types.Add(new WireType(type.Substring(0, open).Trim(), members, IsEnum: isEnum));
            }
            else
            {
                problem = $"expected '{QueueKeyword}', '{ParametersKeyword}', '{TypeKeyword}' or '{EnumKeyword}'";
            }

            if (problem is not null) errors.Add(new WireLockError(line.LineNumber + 1, line.Span, problem));
            end = line.EndIncludingLineBreak;
        }

        Close();
        return new WireLockFile(entries, errors);
    }

    /// <summary>The lock text with <paramref name="entry"/> recorded: in place of the task's entry, or in wire-name order.</summary>
    public static string WithEntry(string text, string wireName, string entry)
    {
        // A lock checked out with CRLF line ends (git on Windows) keeps them.
        var newLine = text.Contains("\r\n") ? "\r\n" : "\n";
        entry = entry.Replace("\n", newLine);
        var existing = Parse(SourceText.From(text)).Entries;
        if (existing.FirstOrDefault(e => e.Shape.WireName == wireName) is { } current)
            return text.Substring(0, current.Span.Start) + entry + text.Substring(current.Span.End);

        if (existing.FirstOrDefault(e => string.CompareOrdinal(e.Shape.WireName, wireName) > 0) is { } next)
            return text.Substring(0, next.Span.Start) + entry + newLine + text.Substring(next.Span.Start);

        var builder = new StringBuilder(text.Length == 0 ? Preamble : text);
        if (builder.Length > 0 && builder[builder.Length - 1] != '\n') builder.Append(newLine);
        return builder.Append(newLine).Append(entry).ToString();
    }

    /// <summary>The lock text without the task's entry, nor the blank line after it.</summary>
    public static string WithoutEntry(string text, string wireName)
    {
        if (Parse(SourceText.From(text)).Entries.FirstOrDefault(e => e.Shape.WireName == wireName) is not { } entry) return text;
        var end = entry.Span.End;
        if (end < text.Length && text[end] == '\n') end++;
        else if (end + 1 < text.Length && text[end] == '\r' && text[end + 1] == '\n') end += 2;
        return text.Substring(0, entry.Span.Start) + text.Substring(end);
    }

    private static string? Keyword(string line, string keyword)
        => line.StartsWith(keyword + " ", StringComparison.Ordinal) ? line.Substring(keyword.Length + 1).Trim() : null;

    /// <summary>
    /// "(System.Guid id, Dictionary&lt;string, int&gt; counts)" → its members; commas inside brackets belong to a type.
    /// For an enum, "(Eur = 0, Usd = 1)": each value is kept as the member's type.
    /// </summary>
    private static List<WireMember>? Members(string list, bool isEnum, out string? problem)
    {
        problem = null;
        if (!list.StartsWith("(", StringComparison.Ordinal) || !list.EndsWith(")", StringComparison.Ordinal))
        {
            problem = "expected a list in parentheses: (Type name, ...)";
            return null;
        }

        var inner = list.Substring(1, list.Length - 2).Trim();
        var members = new List<WireMember>();
        if (inner.Length == 0) return members;
        var depth = 0;
        var start = 0;
        for (var i = 0; i <= inner.Length; i++)
        {
            var c = i < inner.Length ? inner[i] : ',';
            if (c is '<' or '(' or '[') depth++;
            else if (c is '>' or ')' or ']') depth--;
            else if (c == ',' && depth == 0)
            {
                var member = inner.Substring(start, i - start).Trim();
                var split = isEnum ? member.IndexOf(" = ", StringComparison.Ordinal) : member.LastIndexOf(' ');
                if (split <= 0)
                {
                    problem = $"'{member}' is not '{(isEnum ? "Name = value" : "Type name")}'";
                    return null;
                }

                var optional = !isEnum && member.StartsWith(OptionalKeyword + " ", StringComparison.Ordinal);
                var type = member.Substring(optional ? OptionalKeyword.Length + 1 : 0, split - (optional ? OptionalKeyword.Length + 1 : 0)).Trim();
                members.Add(isEnum
                    ? new WireMember(member.Substring(split + 3).Trim(), member.Substring(0, split).Trim())
                    : new WireMember(type, member.Substring(split + 1), optional));
                start = i + 1;
            }
        }

        return members;
    }

    private static int TopLevelIndexOf(string text, char wanted)
    {
        var depth = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == wanted && depth == 0) return i;
            if (text[i] == '<') depth++;
            else if (text[i] == '>') depth--;
        }

        return -1;
    }
}
