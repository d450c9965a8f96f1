using System;
using System.CommandLine;
using System.Linq;
using Tasks.Cli;

// The operator's view of Tasks on Azure Storage Queues, over the library's own API
// (ITaskQueueMonitor, ITaskDeadLetters): what a person would otherwise do in a storage explorer.
var root = new RootCommand("Tasks on Azure Storage: queue depths, peek, dead letters listed, requeued and purged; each task's record shown, listed, cancelled and deleted; batches; the workers.");
foreach (var option in Connection.Options) root.Options.Add(option);
root.Subcommands.Add(Commands.Queues());
root.Subcommands.Add(Commands.Peek());
root.Subcommands.Add(Commands.Pause());
root.Subcommands.Add(Commands.Resume());
root.Subcommands.Add(Commands.Limits());
root.Subcommands.Add(Commands.Dead());
root.Subcommands.Add(RecordCommands.Show());
root.Subcommands.Add(RecordCommands.List());
root.Subcommands.Add(RecordCommands.Watch());
root.Subcommands.Add(RecordCommands.Cancel());
root.Subcommands.Add(RecordCommands.Delete());
root.Subcommands.Add(RecordCommands.Batch());
root.Subcommands.Add(RecordCommands.Workers());

var parse = root.Parse(args);
if (parse.Errors.Count > 0 && !args.Any(a => a is "-h" or "--help" or "-?"))
{
    // An unknown word also makes "Required command was not provided": say only what was wrong.
    var errors = parse.Errors.Where(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)).ToArray() is { Length: > 0 } unrecognized ? unrecognized : parse.Errors.ToArray();
    foreach (var error in errors) Console.Error.WriteLine($"error: {error.Message}");
    Console.Error.WriteLine("Run 'tasks --help' for the commands and options.");
    return ExitCodes.Usage;
}

return await parse.InvokeAsync();
