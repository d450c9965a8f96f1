using System.Runtime.CompilerServices;
using System.Text;
using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;
using Microsoft.CodeAnalysis;
using Tasks.Generators.Emitting;

namespace Tasks.Tests.Infrastructure;

/// <summary>
/// Verify-style snapshots of generated sources: one <c>{Class}.{Method}#{Hint}.verified.cs</c> per
/// source under Snapshots/. A mismatch writes <c>*.received.cs</c> beside it and fails with a diff.
/// Accept changes with <c>TASKS_ACCEPT_SNAPSHOTS=1</c> (never when <c>CI=true</c>).
/// </summary>
internal static class Snapshot
{
    public static void Verify(GeneratorDriverRunResult result, [CallerFilePath] string testFile = "", [CallerMemberName] string testName = "")
    {
        var directory = Path.Combine(Path.GetDirectoryName(testFile)!, "Snapshots");
        Directory.CreateDirectory(directory);
        var prefix = $"{Path.GetFileNameWithoutExtension(testFile)}.{testName}";
        var accept = Environment.GetEnvironmentVariable("TASKS_ACCEPT_SNAPSHOTS") == "1"
            && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

        var expectedFiles = new List<(string Path, string Content)>();
        foreach (var source in result.Results.SelectMany(r => r.GeneratedSources).OrderBy(s => s.HintName, StringComparer.Ordinal))
        {
            var hint = Path.GetFileNameWithoutExtension(source.HintName);
            var content = $"//HintName: {source.HintName}\n" + Normalize(source.SourceText.ToString());
            expectedFiles.Add((Path.Combine(directory, $"{prefix}#{hint}.verified.cs"), content));
        }

        var diagnostics = result.Diagnostics;
        if (!diagnostics.IsEmpty)
            expectedFiles.Add((Path.Combine(directory, $"{prefix}.verified.txt"), string.Join("\n", diagnostics.Select(d => d.ToString())) + "\n"));

        var failures = new StringBuilder();
        foreach (var (path, content) in expectedFiles)
        {
            var received = ReceivedPath(path);
            var verified = File.Exists(path) ? Normalize(File.ReadAllText(path)) : null;
            if (verified == content)
            {
                if (File.Exists(received)) File.Delete(received);
                continue;
            }

            if (accept)
            {
                File.WriteAllText(path, content);
                continue;
            }

            File.WriteAllText(received, content);
            failures.AppendLine(verified is null
                ? $"No verified snapshot {Path.GetFileName(path)}; wrote {Path.GetFileName(received)}."
                : $"Snapshot {Path.GetFileName(path)} differs (received file written):\n{Diff(verified, content)}");
        }

        var produced = expectedFiles.Select(f => f.Path).ToHashSet();
        foreach (var stale in Directory.EnumerateFiles(directory, prefix + "*.verified.*").Where(f => !produced.Contains(f)))
        {
            if (accept) File.Delete(stale);
            else failures.AppendLine($"Snapshot {Path.GetFileName(stale)} has no matching generated output.");
        }

        if (failures.Length > 0) Assert.Fail(failures.ToString());
    }

    private static string ReceivedPath(string verifiedPath) => verifiedPath.Replace(".verified.", ".received.");

    private static string Normalize(string text)
        => text.Replace("\r\n", "\n").Replace('\r', '\n').Replace(GeneratedCode.Version, "%VERSION%");

    private static string Diff(string expected, string actual)
    {
        var diff = InlineDiffBuilder.Diff(expected, actual);
        var output = new StringBuilder();
        foreach (var line in diff.Lines)
        {
            var marker = line.Type switch { ChangeType.Inserted => "+ ", ChangeType.Deleted => "- ", _ => null };
            if (marker is not null) output.Append(marker).AppendLine(line.Text);
        }

        return output.ToString();
    }
}
