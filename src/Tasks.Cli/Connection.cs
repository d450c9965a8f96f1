using System;
using System.CommandLine;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Tasks.Azure;
using Tasks.Transports;

namespace Tasks.Cli;

/// <summary>What every command needs: where the queues are, and how to answer.</summary>
internal static class Connection
{
    public const string ConnectionStringVariable = "TASKS_AZURE_CONNECTION_STRING";

    public static readonly Option<string?> ConnectionString = new("--connection-string", "-c")
    {
        Description = $"The storage connection string. Default: the {ConnectionStringVariable} environment variable.",
        Recursive = true,
    };

    public const string PrefixVariable = "TASKS_QUEUE_PREFIX";

    // A string, parsed here: System.CommandLine's own error would echo the value, a SAS signature included.
    public static readonly Option<string?> ServiceUri = new("--service-uri")
    {
        Description = "The queue service URI (https://<account>.queue.core.windows.net), signed in with DefaultAzureCredential, or a SAS URI.",
        Recursive = true,
    };

    public static readonly Option<string?> Prefix = new("--prefix")
    {
        Description = $"The queue prefix the apps use (AzureQueueOptions.QueuePrefix). Default: the {PrefixVariable} environment variable.",
        Recursive = true,
    };

    public const string ShardAccountsVariable = "TASKS_AZURE_SHARD_ACCOUNTS";

    public static readonly Option<string[]> ShardAccounts = new("--shard-account")
    {
        Description = $"Another storage account holding shards of sharded queues (AzureQueueOptions.ShardAccounts), in their order; repeat for each. Default: the {ShardAccountsVariable} environment variable, entries separated by '|'.",
        Recursive = true,
        AllowMultipleArgumentsPerToken = false,
    };

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Write JSON to standard output, for scripts.",
        Recursive = true,
    };

    public static Option[] Options => [ConnectionString, ServiceUri, Prefix, ShardAccounts, Json];

    /// <summary>
    /// Runs <paramref name="body"/> with a transport; a fault becomes one line on standard error and
    /// an exit code, never a stack trace, and never a secret (the transport's messages name the
    /// endpoint, not the key).
    /// </summary>
    public static async Task<int> RunAsync(ParseResult parse, Func<AzureQueueTransport, Output, Task<int>> body)
    {
        var output = new Output(parse.GetValue(Json));
        try
        {
            return await body(Connect(parse), output).ConfigureAwait(false);
        }
        catch (UsageException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return ExitCodes.Usage;
        }
        catch (NotFoundException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return ExitCodes.NotFound;
        }
        catch (TaskTransportException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return ExitCodes.Service;
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException)
        {
            Console.Error.WriteLine($"error: {Describe(ex)}");
            return ExitCodes.Usage;
        }
    }

    /// <summary>The queue prefix given, or the environment's.</summary>
    public static string QueuePrefix(ParseResult parse) => parse.GetValue(Prefix) ?? Environment.GetEnvironmentVariable(PrefixVariable) ?? "";

    /// <summary>An error in the CLI's words: the option a user sets, not the .NET one, and no parameter suffix.</summary>
    private static string Describe(Exception ex)
    {
        var message = ex is ArgumentException { ParamName: { } name } ? ex.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : ex.Message;
        return message.Replace("AzureQueueOptions.ConnectionString", "The connection string (--connection-string or " + ConnectionStringVariable + ")", StringComparison.Ordinal);
    }

    /// <summary>Runs <paramref name="body"/> with the task records of the account (its table service), as <see cref="RunAsync"/> does.</summary>
    public static Task<int> RunRecordsAsync(ParseResult parse, Func<AzureTableTaskRecordStore, Output, Task<int>> body)
        => RunAsync(parse, (_, output) => body(Records(parse), output));

    /// <summary>The task records of the account the options name.</summary>
    public static AzureTableTaskRecordStore Records(ParseResult parse) => new(AccountOptions(parse));

    private static AzureQueueTransport Connect(ParseResult parse) => new(AccountOptions(parse), new WarningsToStandardError());

    private static AzureQueueOptions AccountOptions(ParseResult parse)
    {
        var connectionString = parse.GetValue(ConnectionString) ?? Environment.GetEnvironmentVariable(ConnectionStringVariable);
        Uri? serviceUri = null;
        if (parse.GetValue(ServiceUri) is { } uri && !Uri.TryCreate(uri, UriKind.Absolute, out serviceUri))
            throw new InvalidOperationException("--service-uri must be an absolute URI, such as https://<account>.queue.core.windows.net.");
        if (string.IsNullOrWhiteSpace(connectionString) && serviceUri is null)
            throw new InvalidOperationException($"Say where the queues are: --connection-string \"...\", --service-uri https://<account>.queue.core.windows.net, or the {ConnectionStringVariable} environment variable.");
        return new AzureQueueOptions
        {
            ConnectionString = string.IsNullOrWhiteSpace(connectionString) ? null : connectionString,
            ServiceUri = string.IsNullOrWhiteSpace(connectionString) ? serviceUri : null,
            QueuePrefix = QueuePrefix(parse),
            ShardAccounts = parse.GetValue(ShardAccounts) is { Length: > 0 } given
                ? [.. given]
                : [.. (Environment.GetEnvironmentVariable(ShardAccountsVariable) ?? "").Split('|', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)],
        };
    }
}

/// <summary>The exit codes, for scripts.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The service refused or failed the call (credentials, an unknown account, a service that is down).</summary>
    public const int Service = 1;

    /// <summary>The command line or the configuration is wrong.</summary>
    public const int Usage = 2;

    /// <summary>What was asked for does not exist (a queue, a dead letter, a task).</summary>
    public const int NotFound = 3;

    /// <summary>The task had already finished: a cancel changed nothing.</summary>
    public const int AlreadyFinished = 4;
}

/// <summary>The transport's warnings (a shard in an account not given) as "warning:" lines beside the answer, not in it.</summary>
internal sealed class WarningsToStandardError : ILogger<AzureQueueTransport>
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel)) Console.Error.WriteLine($"warning: {formatter(state, exception)}");
    }
}
