using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Tasks.Azure;
using Tasks.Transports;

namespace Tasks.Cli;

/// <summary>The commands: each a thin layer over the library's operator API.</summary>
internal static class Commands
{
    private static readonly Argument<string> Queue = new("queue") { Description = "The task queue, as in [AsyncTask(Queue = ...)] (without the prefix)." };

    public static Command Queues()
    {
        var names = new Argument<string[]>("queues") { Description = "The task queues to show. Default: every queue under the prefix.", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("queues", "Messages waiting (including delayed and leased) and dead letters, per queue, and whether it is paused.") { names };
        command.SetAction((parse, ct) => Connection.RunAsync(parse, async (transport, output) =>
        {
            var given = parse.GetValue(names) ?? [];
            if (given.FirstOrDefault(n => n.StartsWith('-')) is { } unknown) throw new UsageException($"unknown option '{unknown}'. Run 'tasks queues --help'.");
            var queues = given.Length > 0 ? given : (await transport.ListQueuesAsync(ct)).ToArray();
            var paused = (await transport.ListPausedAsync(ct)).ToDictionary(p => p.Queue, p => p.Since, StringComparer.Ordinal);
            var depths = new QueueState[queues.Length];
            for (var i = 0; i < queues.Length; i++)
            {
                var depth = await transport.GetDepthAsync(queues[i], ct);
                depths[i] = new QueueState(depth.Queue, depth.Exists, depth.Messages, depth.DeadLetters, paused.TryGetValue(depth.Queue, out var since) ? since : null);
            }

            var prefix = Connection.QueuePrefix(parse);
            output.Write(depths, ["QUEUE", "MESSAGES", "DEAD LETTERS", "PAUSED"],
                depths.Select(d => d.Exists ? new[] { d.Queue, Count(d.Messages), Count(d.DeadLetters), d.PausedSince is { } at ? "since " + Output.Time(at) : "" } : [d.Queue, "(no such queue)", "", ""]),
                "No task queues" + (prefix.Length > 0 ? $" with the prefix '{prefix}'." : "."));
            return depths.Any(d => !d.Exists) ? ExitCodes.NotFound : ExitCodes.Success;
        }));
        return command;
    }

    public static Command Pause()
    {
        var command = new Command("pause", "Pauses a queue: every worker stops receiving from it within its PauseCheckInterval (5 s by default); its messages wait untouched.") { Queue };
        command.SetAction((parse, ct) => Connection.RunAsync(parse, async (transport, output) =>
        {
            var queue = parse.GetValue(Queue)!;
            await RequireQueueAsync(transport, queue, ct);
            await transport.PauseAsync(queue, ct);
            output.Sentence(new { queue, paused = true }, $"Queue '{queue}' is paused: every worker stops receiving from it within 5 s (its PauseCheckInterval); its messages wait untouched. 'tasks resume {queue}' restarts it.");
            return ExitCodes.Success;
        }));
        return command;
    }

    public static Command Resume()
    {
        var command = new Command("resume", "Resumes a paused queue: every worker receives from it again within its PauseCheckInterval.") { Queue };
        command.SetAction((parse, ct) => Connection.RunAsync(parse, async (transport, output) =>
        {
            var queue = parse.GetValue(Queue)!;
            var wasPaused = (await transport.ListPausedAsync(ct)).Any(p => p.Queue == queue);
            await transport.ResumeAsync(queue, ct);
            output.Sentence(new { queue, paused = false, wasPaused }, wasPaused ? $"Queue '{queue}' is resumed: every worker receives from it again within 5 s." : $"Queue '{queue}' was not paused; nothing changed.");
            return ExitCodes.Success;
        }));
        return command;
    }

    public static Command Limits()
    {
        var command = new Command("limits", "Each limit across workers ([ConcurrencyLimit], [RateLimit]) in use: its places held, by which task on which worker, and the tasks that wait.");
        command.SetAction((parse, ct) => Connection.RunAsync(parse, async (transport, output) =>
        {
            var limits = await ((ITaskLimitStore)transport).ListAsync(DateTimeOffset.UtcNow, ct);
            output.Write(limits.Select(Shapes.Of).ToArray(), ["LIMIT", "KEY", "KIND", "HELD", "HOLDERS", "WAITING", "WAITING SINCE"],
                limits.Select(l => new[]
                {
                    l.Scope.Name, l.Scope.Key.Length == 0 ? "-" : l.Scope.Key, l.Scope.Kind == TaskLimitKind.Rate ? "rate" : "concurrency",
                    $"{l.Held.Count}/{l.Scope.Limit}", Output.Short(string.Join(", ", l.Held.Select(p => l.Scope.Kind == TaskLimitKind.Rate ? p.Holder.TaskId : $"{p.Holder.TaskId} on {p.Holder.Worker}")), 60),
                    Count(l.Waiters.Count), l.Waiters.Count == 0 ? "" : Output.Time(l.Waiters.Min(w => w.Since)),
                }),
                "No limit has a place held or a task waiting.");
            return ExitCodes.Success;
        }));
        return command;
    }

    public static Command Peek()
    {
        var count = new Option<string?>("--count", "-n") { Description = "How many messages, 1 to 32 (a bulk enqueue's message lists each of its tasks). Default: 32." };
        var command = new Command("peek", "The tasks of the next visible messages of a queue, decoded to JSON, without taking them.") { Queue, count };
        command.SetAction((parse, ct) => Connection.RunAsync(parse, async (transport, output) =>
        {
            var howMany = parse.GetValue(count) is { } text
                ? int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 32 ? n : throw new UsageException($"--count must be a whole number from 1 to 32, not '{text}'.")
                : 32;
            var queue = parse.GetValue(Queue)!;
            await RequireQueueAsync(transport, queue, ct);
            var messages = await transport.PeekAsync(queue, howMany, ct);
            output.Write(messages.Select(Shapes.Of).ToArray(), ["MESSAGE ID", "TASK", "DEQUEUED", "ENQUEUED AT", "ARGUMENTS"],
                messages.Select(m => new[]
                {
                    m.Envelope.MessageId ?? m.TransportMessageId, Shapes.TaskLabel(m.Envelope), Count(m.DequeueCount),
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
        dead.Subcommands.Add(DeadAct("requeue", "Sends dead letters back to their queue, each with its message id; its attempts start afresh.", "requeued", "Requeued",
            (transport, queue, filter, ct) => transport.RequeueDeadLettersAsync(queue, filter, ct)));
        dead.Subcommands.Add(DeadAct("purge", "Deletes dead letters: those the filters pick, or all of them with --all.", "deleted", "Deleted",
            (transport, queue, filter, ct) => transport.DeleteDeadLettersAsync(queue, filter, ct)));
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
            var chosen = filter.Read(parse);
            await RequireQueueAsync(transport, queue, ct);
            var letters = await transport.ListDeadLettersAsync(queue, chosen, ct);
            if (letters.Count == 0 && chosen?.MessageId is { } id) return NoSuchDeadLetter(id, queue);
            output.Write(letters.Select(Shapes.Of).ToArray(), ["MESSAGE ID", "TASK", "ATTEMPT", "DEAD-LETTERED AT", "REASON"],
                letters.Select(l => new[] { l.MessageId, l.TaskName ?? "(unreadable)", Count(l.Attempt), Output.Time(l.DeadLetteredAt), Output.Short(l.Reason, 100) }),
                $"No dead letters in '{queue}'.");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command DeadShow()
    {
        var id = new Argument<string?>("message-id") { Description = "The dead letter's message id (the one Enqueue returned); or --id.", Arity = ArgumentArity.ZeroOrOne };
        var idOption = new Option<string?>("--id") { Description = "The dead letter's message id, as requeue and purge take it." };
        var command = new Command("show", "One dead letter, whole: reason, exception and arguments.") { Queue, id, idOption };
        command.SetAction((parse, ct) => Connection.RunAsync(parse, async (transport, output) =>
        {
            var queue = parse.GetValue(Queue)!;
            var messageId = parse.GetValue(id) ?? parse.GetValue(idOption) ?? throw new UsageException("say which dead letter: tasks dead show <queue> <message id>, or --id <message id>.");
            await RequireQueueAsync(transport, queue, ct);
            var letter = (await transport.ListDeadLettersAsync(queue, new DeadLetterFilter { MessageId = messageId }, ct)).FirstOrDefault();
            if (letter is null) return NoSuchDeadLetter(messageId, queue);
            output.Write(Shapes.Of(letter), ["FIELD", "VALUE"],
            [
                ["message id", letter.MessageId], ["task", letter.TaskName ?? "(unreadable)"], ["attempt", Count(letter.Attempt)],
                ["enqueued at", Output.Time(letter.EnqueuedAt)], ["dead-lettered at", Output.Time(letter.DeadLetteredAt)],
                ["reason", letter.Reason], ["exception", $"{letter.ExceptionType}: {letter.ExceptionMessage}".Trim(':', ' ')],
                ["arguments", letter.ArgumentsJson ?? letter.ArgumentsNote ?? "(cannot be read)"],
            ], "");
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>requeue and purge: the same filters, --all to mean every one, and the ids of those it acted on.</summary>
    private static Command DeadAct(string name, string description, string verb, string past, Func<AzureQueueTransport, string, DeadLetterFilter?, CancellationToken, ValueTask<IReadOnlyList<TaskDeadLetter>>> act)
    {
        var filter = new FilterOptions();
        var all = new Option<bool>("--all") { Description = $"Every dead letter of the queue." };
        var command = new Command(name, description) { Queue, all };
        filter.AddTo(command);
        command.SetAction((parse, ct) => Connection.RunAsync(parse, async (transport, output) =>
        {
            var chosen = filter.Read(parse);
            if ((chosen is null) == !parse.GetValue(all))
                throw new UsageException($"say which dead letters to {name} (--id, --task, --reason, --from, --to), or --all, not both.");
            var queue = parse.GetValue(Queue)!;
            await RequireQueueAsync(transport, queue, ct);
            var done = await act(transport, queue, chosen, ct);
            if (done.Count == 0 && chosen?.MessageId is { } id) return NoSuchDeadLetter(id, queue);
            if (done.Count > 0) await RecordCommands.TellRecordsAsync(parse, name, done, ct);
            output.Ids(verb, done.Select(l => l.MessageId).ToArray(), $"{past} {done.Count} dead letter(s) of '{queue}'" + (done.Count > 0 ? ":" : "."));
            return ExitCodes.Success;
        }));
        return command;
    }

    private static async Task RequireQueueAsync(AzureQueueTransport transport, string queue, CancellationToken cancellationToken)
    {
        if (!(await transport.GetDepthAsync(queue, cancellationToken)).Exists)
            throw new NotFoundException($"there is no queue '{queue}' (no task was ever sent to it; check --prefix).");
    }

    private static int NoSuchDeadLetter(string id, string queue)
    {
        Console.Error.WriteLine($"error: no dead letter '{id}' in '{queue}'.");
        return ExitCodes.NotFound;
    }

    private static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>The options that pick dead letters.</summary>
    private sealed class FilterOptions
    {
        private readonly Option<string?> id = new("--id") { Description = "Only the dead letter with this message id." };
        private readonly Option<string?> task = new("--task") { Description = "Only dead letters of this task (its wire name)." };
        private readonly Option<string?> reason = new("--reason") { Description = "Only dead letters whose reason contains this text." };
        private readonly Option<string?> from = new("--from") { Description = "Only those dead-lettered at or after this time (ISO 8601, e.g. 2026-11-23T07:00:00Z)." };
        private readonly Option<string?> to = new("--to") { Description = "Only those dead-lettered before this time (ISO 8601)." };

        public void AddTo(Command command)
        {
            foreach (var option in new Option[] { id, task, reason, from, to }) command.Options.Add(option);
        }

        /// <summary>The filter given, or null if none was.</summary>
        public DeadLetterFilter? Read(ParseResult parse)
        {
            var (start, end) = (Time(parse, from), Time(parse, to));
            if (start >= end) throw new UsageException($"--from ({Output.Time(start)}) must come before --to ({Output.Time(end)}).");
            var filter = new DeadLetterFilter { MessageId = parse.GetValue(id), TaskName = parse.GetValue(task), ReasonContains = parse.GetValue(reason), From = start, To = end };
            return filter is { MessageId: null, TaskName: null, ReasonContains: null, From: null, To: null } ? null : filter;
        }

        private static DateTimeOffset? Time(ParseResult parse, Option<string?> option)
            => parse.GetValue(option) is not { } text ? null
            : DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) ? time
            : throw new UsageException($"{option.Name} must be a time in ISO 8601, such as 2026-11-23T07:00:00Z, not '{text}'.");
    }
}

/// <summary>A wrong command line: exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>A queue or dead letter that does not exist: exit code 3.</summary>
internal sealed class NotFoundException(string message) : Exception(message);

/// <summary>A queue as <c>tasks queues</c> shows it.</summary>
internal sealed record QueueState(string Queue, bool Exists, long Messages, long DeadLetters, DateTimeOffset? PausedSince);
