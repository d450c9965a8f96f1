using System.Diagnostics;
using System.Text;

namespace Tasks.Testing;

/// <summary>A program run as a user would run it, its output kept for assertions and for the failure message.</summary>
internal sealed class ChildProcess : IDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();

    private ChildProcess(Process process) => this.process = process;

    public string Output
    {
        get { lock (output) return output.ToString(); }
    }

    public Task WaitForExitAsync(TimeSpan timeout) => process.WaitForExitAsync().WaitAsync(timeout);

    public int ExitCode => process.ExitCode;

    /// <summary>Sends a signal (KILL, TERM, STOP, CONT, ...) as an operator or the kernel would; nothing if the process has ended.</summary>
    public async Task SignalAsync(string signal)
    {
        if (!process.HasExited) await RunAsync("kill", ["-" + signal, process.Id.ToString()], Environment.CurrentDirectory, TimeSpan.FromSeconds(10));
    }

    public static ChildProcess Start(string fileName, IEnumerable<string> arguments, string workingDirectory, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;

        // Child builds and apps must not inherit the test host's MSBuild and runtime settings.
        foreach (var name in new[] { "MSBuildSDKsPath", "MSBuildExtensionsPath", "MSBUILD_EXE_PATH", "DOTNET_HOST_PATH", "VSTEST_HOST_DEBUG" })
            start.Environment.Remove(name);
        var child = new ChildProcess(new Process { StartInfo = start });
        child.process.OutputDataReceived += (_, e) => child.Append(e.Data);
        child.process.ErrorDataReceived += (_, e) => child.Append(e.Data);
        child.process.Start();
        child.process.BeginOutputReadLine();
        child.process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Runs a command to its end; fails with its output if it fails or overruns.</summary>
    public static async Task<string> RunAsync(string fileName, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        using var child = Start(fileName, arguments, workingDirectory, environment);
        try
        {
            await child.process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"`{fileName} {string.Join(' ', arguments)}` ran longer than {timeout}:\n{child.Output}");
        }

        child.process.WaitForExit(); // drains the output
        if (child.process.ExitCode != 0)
            throw new InvalidOperationException($"`{fileName} {string.Join(' ', arguments)}` exited with {child.process.ExitCode}:\n{child.Output}");
        return child.Output;
    }

    /// <summary>Waits until the output satisfies <paramref name="condition"/>; fails with the output if the process exits or time runs out.</summary>
    public async Task WaitForOutputAsync(Func<string, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition(Output))
        {
            if (process.HasExited) throw new InvalidOperationException($"The process exited with {process.ExitCode} before {what}:\n{Output}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out after {timeout} waiting for {what}:\n{Output}");
            await Task.Delay(100);
        }
    }

    public void Dispose()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.WaitForExit();
        process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (output) output.AppendLine(line);
    }
}
