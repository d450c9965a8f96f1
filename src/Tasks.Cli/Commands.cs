using System;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using System.Threading.Tasks;

namespace Tasks.Cli;

/// <summary>The commands: each a thin layer over the library's operator API.</summary>
internal static class Commands
{
    private static readonly Argument<string> Queue = new("queue") { Description = "The task queue, as in [AsyncTask(Queue = ...)] (without the prefix)." };

    public static Command Queues()
    {
        var names = new Argument<string[]>("queues") { Description = "The task queues to show. Default: every queue under the prefix.", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("queues", "Messages waiting (including delayed and leased) and dead letters, per queue.") { names };
        command.SetAction((parse, ct) => Connection.RunAsync(parse, async (transport, output) =>
        {
            var queues = parse.GetValue(names) is { Length: > 0 } given ? given : (await transport.ListQueuesAsync(ct)).ToArray();
            var depths = new TaskQueueDepth[queues.Length];
            for (var i = 0; i < queues.Length; i++) depths[i] = await transport.GetDepthAsync(queues[i], ct);
            output.Write(depths, ["QUEUE", "MESSAGES", "DEAD LETTERS"],
                depths.Select(d => new[] { d.Queue, d.Exists ? Count(d.Messages) : "(no such queue)", Count(d.DeadLetters) }),
                "No task queues" + (parse.GetValue(Connection.Prefix) is { Length: > 0 } prefix ? $" with the prefix '{prefix}'." : "."));
            return depths.Any(d => !d.Exists) ? ExitCodes.NotFound : ExitCodes.Success;
        }));
        return command;
    }

    public static Command Peek()
    {
        var count = new Option<int>("--count", "-n") { Description = "How many messages (1 to 32).", DefaultValueFactory = _ => 32 };
        var command = new Command("peek", "The next messages of a queue, decoded to JSON, without taking them.") { Queue, count };
        command.SetAction((parse, ct) => Connection.RunAsync(parse, async (transport, output) =>
        {
            var queue = parse.GetValue(Queue)!;
            if (!(await transport.GetDepthAsync(queue, ct)).Exists) return NoSuchQueue(queue);
            var messages = await transport.PeekAsync(queue, parse.GetValue(count), ct);
            output.Write(messages, ["MESSAGE ID", "TASK", "DEQUEUED", "ENQUEUED AT", "ARGUMENTS"],
                messages.Select(m => new[]
                {
                    m.Envelope.MessageId ?? m.TransportMessageId, m.Envelope.TaskName ?? "(a pack of tasks)", Count(m.DequeueCount),
                    Output.Time(m.Envelope.EnqueuedAt ?? m.InsertedOn), Output.Short(m.Envelope.ArgumentsJson ?? m.Envelope.Problem, 80),
                }),
                $"No visible messages in '{queue}'.");
            return ExitCodes.Success;
        }));
        return command;
    }

    public static Command Dead()
    {
        var dead = new Command("dead", "Dead letters: list, show, requeue, purge.");
        dead.Subcommands.Add(DeadList());
        dead.Subcommands.Add(DeadShow());
        dead.Subcommands.Add(DeadRequeue());
        dead.Subcommands.Add(DeadPurge());
        return dead;
    }

    private static Command DeadList()
    {
        var filter = new FilterOptions();
        var command = new Command("list", "The dead letters of a queue, oldest first.") { Queue };
        filter.AddTo(command);
        command.SetAction((parse, ct) => Connection.RunAsync(parse, async (transport, output) =>
        {
            var queue = parse.GetValue(Queue)!;
            var letters = await transport.ListDeadLettersAsync(queue, filter.Read(parse), ct);
            output.Write(letters, ["MESSAGE ID", "TASK", "ATTEMPT", "DEAD-LETTERED AT", "REASON"],
                letters.Select(l => new[] { l.MessageId, l.TaskName ?? "", Count(l.Attempt), Output.Time(l.DeadLetteredAt), Output.Short(l.Reason, 100) }),
                $"No dead letters in '{queue}'.");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command DeadShow()
    {
        var id = new Argument<string>("message-id") { Description = "The dead letter's message id (the one Enqueue returned)." };
        var command = new Command("show", "One dead letter, whole: reason, exception and arguments.") { Queue, id };
        command.SetAction((parse, ct) => Connection.RunAsync(parse, async (transport, output) =>
        {
            var queue = parse.GetValue(Queue)!;
            var letter = (await transport.ListDeadLettersAsync(queue, new DeadLetterFilter { MessageId = parse.GetValue(id) }, ct)).FirstOrDefault();
            if (letter is null)
            {
                Console.Error.WriteLine($"error: no dead letter '{parse.GetValue(id)}' in '{queue}'.");
                return ExitCodes.NotFound;
            }

            output.Write(letter, ["FIELD", "VALUE"],
            [
                ["message id", letter.MessageId], ["task", letter.TaskName ?? ""], ["attempt", Count(letter.Attempt)],
                ["enqueued at", Output.Time(letter.EnqueuedAt)], ["dead-lettered at", Output.Time(letter.DeadLetteredAt)],
                ["reason", letter.Reason], ["exception", $"{letter.ExceptionType}: {letter.ExceptionMessage}".Trim(':', ' ')],
                ["arguments", letter.ArgumentsJson ?? "(cannot be read)"],
            ], "");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command DeadRequeue()
    {
        var filter = new FilterOptions();
        var all = new Option<bool>("--all") { Description = "Requeue every dead letter of the queue." };
        var command = new Command("requeue", "Sends dead letters back to their queue, each with its message id; its attempts start afresh.") { Queue, all };
        filter.AddTo(command);
        command.SetAction((parse, ct) => Connection.RunAsync(parse, async (transport, output) =>
        {
            var chosen = filter.Read(parse);
            if (chosen is null && !parse.GetValue(all))
            {
                Console.Error.WriteLine("error: say which dead letters to requeue (--id, --task, --reason, --from, --to), or --all.");
                return ExitCodes.Usage;
            }

            var requeued = await transport.RequeueDeadLettersAsync(parse.GetValue(Queue)!, chosen, ct);
            output.Count("requeued", requeued, $"Requeued {requeued} dead letter(s) to '{parse.GetValue(Queue)}'.");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command DeadPurge()
    {
        var filter = new FilterOptions();
        var command = new Command("purge", "Deletes dead letters: those the filters pick, or all of them.") { Queue };
        filter.AddTo(command);
        command.SetAction((parse, ct) => Connection.RunAsync(parse, async (transport, output) =>
        {
            var deleted = await transport.DeleteDeadLettersAsync(parse.GetValue(Queue)!, filter.Read(parse), ct);
            output.Count("deleted", deleted, $"Deleted {deleted} dead letter(s) of '{parse.GetValue(Queue)}'.");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static int NoSuchQueue(string queue)
    {
        Console.Error.WriteLine($"error: there is no queue '{queue}' (no task was ever sent to it; check --prefix).");
        return ExitCodes.NotFound;
    }

    private static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>The options that pick dead letters.</summary>
    private sealed class FilterOptions
    {
        private readonly Option<string?> id = new("--id") { Description = "Only the dead letter with this message id." };
        private readonly Option<string?> task = new("--task") { Description = "Only dead letters of this task (its wire name)." };
        private readonly Option<string?> reason = new("--reason") { Description = "Only dead letters whose reason contains this text." };
        private readonly Option<DateTimeOffset?> from = new("--from") { Description = "Only those dead-lettered at or after this time (ISO 8601)." };
        private readonly Option<DateTimeOffset?> to = new("--to") { Description = "Only those dead-lettered before this time (ISO 8601)." };

        public void AddTo(Command command)
        {
            foreach (var option in new Option[] { id, task, reason, from, to }) command.Options.Add(option);
        }

        /// <summary>The filter given, or null if none was.</summary>
        public DeadLetterFilter? Read(ParseResult parse)
        {
            var filter = new DeadLetterFilter { MessageId = parse.GetValue(id), TaskName = parse.GetValue(task), ReasonContains = parse.GetValue(reason), From = parse.GetValue(from), To = parse.GetValue(to) };
            return filter is { MessageId: null, TaskName: null, ReasonContains: null, From: null, To: null } ? null : filter;
        }
    }
}
