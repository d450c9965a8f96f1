using Tasks.Benchmarks;

// dotnet run -c Release --project bench/Tasks.Benchmarks -- <suite>
var suites = new Dictionary<string, Func<Task>>(StringComparer.OrdinalIgnoreCase)
{
    ["dispatch"] = () => { DispatchSuite.Run(); return Task.CompletedTask; },
    ["size"] = () => { SizeSuite.Run(); return Task.CompletedTask; },
    ["inmemory"] = () => InMemorySuite.RunAsync(100_000),
    ["azurite"] = () => AzuriteSuite.RunAsync(args.Length > 1 ? int.Parse(args[1]) : 5_000),
    ["generator"] = () => { GeneratorSuite.Run(); return Task.CompletedTask; },
    ["signing"] = () => { SigningSuite.Run(); return Task.CompletedTask; },
    ["aot"] = AotSuite.RunAsync,
    ["records"] = () => RecordsSuite.RunAsync(args.Length > 1 ? int.Parse(args[1]) : 5_000),
    ["flows"] = () => FlowsSuite.RunAsync(args.Length > 1 ? int.Parse(args[1]) : 10_000),
    ["payloads"] = PayloadsSuite.RunAsync,
    ["shards"] = () => ShardsSuite.RunAsync(args.Length > 1 ? int.Parse(args[1]) : 6_000),
    ["allocations"] = AllocationsSuite.RunAsync,
    ["limits"] = () => LimitsSuite.RunAsync(args.Length > 1 ? int.Parse(args[1]) : 1_000),
    ["outbox"] = OutboxSuite.RunAsync,
    ["watch"] = WatchSuite.RunAsync,
};

if (args is ["payload-worker", var connection]) return await PayloadsSuite.WorkerProcessAsync(connection);

var chosen = args.Length == 0 ? null : args[0];
if (chosen is null || (chosen != "all" && !suites.ContainsKey(chosen)))
{
    Console.Error.WriteLine($"usage: dotnet run -c Release --project bench/Tasks.Benchmarks -- <{string.Join("|", suites.Keys)}|all>");
    return 2;
}

Console.WriteLine($"machine: {Report.Machine()}");
foreach (var (name, run) in suites)
{
    if (chosen == "all" || string.Equals(chosen, name, StringComparison.OrdinalIgnoreCase)) await run();
}

return 0;
