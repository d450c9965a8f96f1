using Microsoft.CodeAnalysis;
using Tasks.Generators.Diagnostics;
using Tasks.Tests.Infrastructure;

namespace Tasks.Generators.Tests;

/// <summary>Each diagnostic, at its exact span; and none on valid code.</summary>
public sealed class AnalyzerTests
{
    [Fact]
    public Task TASK001_first_parameter_is_not_a_CancellationToken() => VerifyAsync("""
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task WrongFirst({|TASK001:string name|}, CancellationToken cancellationToken) => Task.CompletedTask;

            [AsyncTask]
            public static Task NoParameters{|TASK001:()|} => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task TASK002_return_type_is_not_Task() => VerifyAsync("""
        public static partial class Jobs
        {
            [AsyncTask]
            public static {|TASK002:void|} Fire(CancellationToken cancellationToken) { }

            [AsyncTask]
            public static {|TASK002:Task<int>|} Compute(CancellationToken cancellationToken) => Task.FromResult(1);

            [AsyncTask]
            public static {|TASK002:ValueTask|} Fast(CancellationToken cancellationToken) => default;
        }
        """);

    [Fact]
    public Task TASK003_params_parameter() => VerifyAsync("""
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Sum(CancellationToken cancellationToken, {|TASK003:params|} int[] values) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task TASK004_ref_out_in_parameters() => VerifyAsync("""
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task ByRef(CancellationToken cancellationToken, {|TASK004:ref|} int a, {|TASK004:in|} long b) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task TASK005_generic_method_or_generic_containing_type() => VerifyAsync("""
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task Handle{|TASK005:<T>|}(CancellationToken cancellationToken) => Task.CompletedTask;
        }

        public partial class Box<T>
        {
            [AsyncTask]
            public static Task {|TASK005:Open|}(CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public async Task TASK006_containing_type_or_an_enclosing_type_is_not_partial()
    {
        var diagnostics = await VerifyAsync("""
            public class Outer
            {
                public partial class Inner
                {
                    [AsyncTask]
                    public static Task {|TASK006:Run|}(CancellationToken cancellationToken) => Task.CompletedTask;
                }
            }
            """);

        Assert.Equal("Type 'Outer' must be declared 'partial' so the generator can add 'RunAsync' to it", diagnostics[0].GetMessage());
    }

    [Theory]
    [InlineData("object", "'object' would need type names on the wire")]
    [InlineData("dynamic", "'dynamic' has no fixed shape")]
    [InlineData("Action<int>", "a delegate is code, not data")]
    [InlineData("System.IO.Stream", "a Stream is a live resource")]
    [InlineData("System.IO.MemoryStream", "a Stream is a live resource")]
    [InlineData("Span<byte>", "a ref struct (such as Span<T>) cannot be stored")]
    [InlineData("CancellationToken", "only the first parameter receives the worker's CancellationToken")]
    [InlineData("IDisposable", "'IDisposable' is an interface without [Union] attributes")]
    [InlineData("List<Holder>", "its member 'Payload' has type 'object?', which cannot travel: 'object' would need type names")]
    [InlineData("Wrapper", "its member 'Inner' has type 'Holder', which cannot travel: its member 'Payload'")]
    [InlineData("Immutable", "the property 'Immutable.Id' has no setter and no constructor parameter, so it would not travel; make it { get; init; }, or add a constructor parameter named 'id'")]
    [InlineData("Unbindable", "'Unbindable' has no public constructor whose parameters each match a public member by name and type")]
    [InlineData("System.Net.IPAddress", "'IPAddress' is a platform type Tasks does not know how to carry")]
    [InlineData("Dictionary<string, object>", "'object' would need type names on the wire")]
    [InlineData("Task", "a Task is a running operation")]
    public async Task TASK007_parameter_type_that_cannot_travel(string type, string reason)
    {
        var diagnostics = await VerifyAsync($$"""
            public sealed class Holder { public object? Payload { get; set; } }
            public sealed record Wrapper(string Name, Holder Inner);
            public sealed class Immutable { public Guid Id { get; } = Guid.NewGuid(); public string? Name { get; set; } }
            public sealed class Unbindable { public Unbindable(string label) => Name = label; public string Name { get; } }

            public static partial class Jobs
            {
                [AsyncTask]
                public static Task Run(CancellationToken cancellationToken, {|TASK007:{{type}}|} value) => Task.CompletedTask;
            }
            """);

        Assert.Contains(reason, diagnostics[0].GetMessage());
    }

    [Fact]
    public async Task TASK008_two_tasks_with_the_same_wire_name()
    {
        var diagnostics = await VerifyAsync("""
            public static partial class Mail
            {
                [AsyncTask(Name = "send")]
                public static Task {|TASK008:Send|}(CancellationToken cancellationToken, string to) => Task.CompletedTask;
            }

            public static partial class Sms
            {
                [AsyncTask(Name = "send")]
                public static Task {|TASK008:Send|}(CancellationToken cancellationToken, string to) => Task.CompletedTask;
            }

            public static partial class Overloads
            {
                [AsyncTask]
                public static Task {|TASK008:Notify|}(CancellationToken cancellationToken, int id) => Task.CompletedTask;

                [AsyncTask]
                public static Task {|TASK008:Notify|}(CancellationToken cancellationToken, string email) => Task.CompletedTask;
            }
            """);

        Assert.Contains("has the wire name 'send', which 'Sms.Send(System.Threading.CancellationToken, string)' has too", diagnostics[0].GetMessage());
        Assert.Contains("has the wire name 'Overloads.Notify'", diagnostics[2].GetMessage());
    }

    [Fact]
    public Task TASK009_method_or_type_not_reachable_from_generated_code() => VerifyAsync("""
        public partial class Outer
        {
            private partial class Hidden
            {
                [AsyncTask]
                public static Task {|TASK009:Run|}(CancellationToken cancellationToken) => Task.CompletedTask;
            }

            [MessagePackObject]
            private sealed class Secret { [Key(0)] public int X { get; set; } }

            [AsyncTask]
            private static Task Use(CancellationToken cancellationToken, {|TASK009:List<Secret>|} secrets) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task TASK010_generated_class_name_is_taken() => VerifyAsync("""
        public static partial class Jobs
        {
            [AsyncTask]
            public static Task {|TASK010:Run|}(CancellationToken cancellationToken) => Task.CompletedTask;

            public static void RunAsync() { }

            [AsyncTask(Name = "a.Same")]
            public static Task {|TASK010:Twin|}(CancellationToken cancellationToken, int x) => Task.CompletedTask;

            [AsyncTask(Name = "b.Same")]
            public static Task {|TASK010:Twin|}(CancellationToken cancellationToken, string x) => Task.CompletedTask;
        }
        """);

    [Fact]
    public async Task TASK011_invalid_attribute_values()
    {
        var diagnostics = await VerifyAsync("""
            public static partial class Jobs
            {
                [AsyncTask({|TASK011:Queue = "Bad_Queue"|})]
                public static Task A(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask({|TASK011:MaxAttempts = 0|})]
                public static Task B(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask({|TASK011:Name = " "|})]
                public static Task C(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask({|TASK011:Queue = "this-queue-name-is-far-too-long-once-the-poison-suffix-is-added"|})]
                public static Task D(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask({|TASK011:Timeout = "5"|})]
                public static Task E(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask({|TASK011:RetryDelay = "-00:00:01"|})]
                public static Task F(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask({|TASK011:MaxConcurrency = -1|})]
                public static Task G(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask(Timeout = "00:05:00", RetryDelay = "1.00:00:00", MaxConcurrency = 3, UniqueFor = "00:10:00", PersonalData = true)]
                public static Task H(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask({|TASK011:UniqueFor = "ten minutes"|})]
                public static Task I(CancellationToken cancellationToken) => Task.CompletedTask;
            }
            """);

        Assert.Contains("may use only lowercase letters, digits and hyphens", diagnostics[0].GetMessage());
        Assert.Contains("must be 3 to 56 characters long", diagnostics[3].GetMessage());
        Assert.Contains("invalid Timeout: \"5\" is not a positive TimeSpan of at most 49 days; write it as \"hh:mm:ss\"", diagnostics[4].GetMessage());
        Assert.Contains("invalid RetryDelay", diagnostics[5].GetMessage());
        Assert.Contains("invalid MaxConcurrency: -1 is negative", diagnostics[6].GetMessage());
        Assert.Contains("invalid UniqueFor: \"ten minutes\" is not a positive TimeSpan", diagnostics[7].GetMessage());
    }

    [Fact]
    public async Task TASK017_filter_types_that_cannot_run_as_run_filters()
    {
        var diagnostics = await VerifyAsync("""
            public sealed class Fine : ITaskRunFilter
            {
                public ValueTask OnRunAsync(TaskRunContext context, TaskRunNext next) => next();
            }

            public abstract class Abstract : ITaskRunFilter
            {
                public ValueTask OnRunAsync(TaskRunContext context, TaskRunNext next) => next();
            }

            public sealed class NotAFilter
            {
            }

            public sealed class EnqueueOnly : ITaskEnqueueFilter
            {
                public void OnEnqueuing(TaskEnqueueContext context)
                {
                }
            }

            public sealed class NoConstructor : ITaskRunFilter
            {
                private NoConstructor()
                {
                }

                public ValueTask OnRunAsync(TaskRunContext context, TaskRunNext next) => next();
            }

            public partial class Jobs
            {
                private sealed class Hidden : ITaskRunFilter
                {
                    public ValueTask OnRunAsync(TaskRunContext context, TaskRunNext next) => next();
                }

                [AsyncTask, TaskFilter(typeof(Fine)), {|TASK017:TaskFilter(typeof(NotAFilter))|}]
                public static Task A(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask, {|TASK017:TaskFilter(typeof(Abstract))|}, {|TASK017:TaskFilter(typeof(NoConstructor))|}]
                public static Task B(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask, {|TASK017:TaskFilter(typeof(Hidden))|}]
                public static Task C(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask, {|TASK017:TaskFilter(typeof(EnqueueOnly))|}]
                public static Task D(CancellationToken cancellationToken) => Task.CompletedTask;

                [{|TASK017:TaskFilter(typeof(Fine))|}]
                public static Task NotATask(CancellationToken cancellationToken) => Task.CompletedTask;
            }
            """);

        Assert.Contains("Task 'A' names filter 'NotAFilter', but it does not implement Tasks.ITaskRunFilter", diagnostics[0].GetMessage());
        Assert.Contains("abstract or static", diagnostics[1].GetMessage());
        Assert.Contains("no public constructor", diagnostics[2].GetMessage());
        Assert.Contains("not reachable from the generated code", diagnostics[3].GetMessage());
        Assert.Contains("it is an enqueue filter, and [TaskFilter] takes run filters", diagnostics[4].GetMessage());
        Assert.Contains("Task 'NotATask' names filter 'Fine', but the method has no [AsyncTask]", diagnostics[5].GetMessage());
    }

    [Fact]
    public async Task TASK018_a_limit_key_that_names_no_argument_or_one_that_cannot_key_it()
    {
        var diagnostics = await VerifyAsync("""
            public sealed record Customer(long Id);

            public partial class Jobs
            {
                [AsyncTask, ConcurrencyLimit(1, {|TASK018:Key = "customerID"|})]
                public static Task Misspelt(CancellationToken cancellationToken, long customerId) => Task.CompletedTask;

                [AsyncTask, RateLimit(5, "00:00:01", {|TASK018:Key = "cancellationToken"|})]
                public static Task Token(CancellationToken cancellationToken, string tenant) => Task.CompletedTask;

                [AsyncTask, ConcurrencyLimit(1, {|TASK018:Key = nameof(customer)|})]
                public static Task Record(CancellationToken cancellationToken, Customer customer) => Task.CompletedTask;

                [AsyncTask, ConcurrencyLimit(1, {|TASK018:Key = "zzz"|})]
                public static Task Nothing(CancellationToken cancellationToken, int id) => Task.CompletedTask;

                [AsyncTask, ConcurrencyLimit(1, Key = nameof(id)), RateLimit(2, "00:00:10", Key = "name")]
                public static Task Fine(CancellationToken cancellationToken, System.Guid id, string? name) => Task.CompletedTask;
            }
            """);

        Assert.Equal("[ConcurrencyLimit] on 'Misspelt' is keyed by 'customerID', but the task has no such parameter; did you mean nameof(customerId)? (nameof keeps the key right when the parameter is renamed)", diagnostics[0].GetMessage());
        Assert.Equal("customerId", diagnostics[0].Properties["SuggestedParameter"]);
        Assert.Contains("that is the CancellationToken, not an argument", diagnostics[1].GetMessage());
        Assert.Contains("its type 'Customer' cannot key a limit; a key is a string, integer, bool, char, Guid or enum", diagnostics[2].GetMessage());
        Assert.Equal("[ConcurrencyLimit] on 'Nothing' is keyed by 'zzz', but the task has no such parameter; add the parameter the limit is per, or remove Key", diagnostics[3].GetMessage());
        Assert.False(diagnostics[3].Properties.ContainsKey("SuggestedParameter"));
    }

    [Fact]
    public async Task TASK019_limits_that_cannot_be_kept_as_written_or_that_disagree_on_a_shared_name()
    {
        var diagnostics = await VerifyAsync("""
            public partial class Jobs
            {
                [AsyncTask, {|TASK019:ConcurrencyLimit(0)|}]
                public static Task Zero(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask, {|TASK019:RateLimit(5, "a second")|}, ConcurrencyLimit(2, {|TASK019:MaxWait = "forever"|})]
                public static Task Periods(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask, ConcurrencyLimit(1), {|TASK019:ConcurrencyLimit(2)|}]
                public static Task Twice(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask, {|TASK019:ConcurrencyLimit(5, Name = "crm-api")|}]
                public static Task CrmA(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask, {|TASK019:ConcurrencyLimit(3, Name = "crm-api")|}, RateLimit(3, "00:00:01", Name = "crm-api")]
                public static Task CrmB(CancellationToken cancellationToken) => Task.CompletedTask;

                [{|TASK019:ConcurrencyLimit(1)|}]
                public static Task NotATask(CancellationToken cancellationToken) => Task.CompletedTask;
            }
            """);

        var messages = diagnostics.Select(d => d.GetMessage()).ToArray();
        Assert.Contains("[ConcurrencyLimit] on 'Zero' allows 0 runs, so the task would never run; use 1 or more", messages);
        Assert.Contains(messages, m => m.StartsWith("[RateLimit] on 'Periods' has the period \"a second\", which is not a positive TimeSpan"));
        Assert.Contains(messages, m => m.StartsWith("[ConcurrencyLimit] on 'Periods' has the MaxWait \"forever\""));
        Assert.Contains("[ConcurrencyLimit] on 'Twice' repeats another limit of the task with the same name and key; merge them into one", messages);
        Assert.Contains("'crm-api' on 'CrmA' shares its name with limits that allow another number ('CrmA': 5 at once; 'CrmB': 3 at once); tasks that name one limit share its places, so declare the same numbers on each", messages);
        Assert.Contains("[ConcurrencyLimit] on 'NotATask' is on a method without [AsyncTask], so nothing runs under it; add [AsyncTask], or remove the limit", messages);
    }

    [Fact]
    public async Task TASK012_invalid_schedules_at_the_argument_that_is_wrong()
    {
        var diagnostics = await VerifyAsync("""
            public partial class Jobs
            {
                [AsyncTask, Recurring({|TASK012:"0 25 * * *"|})]
                public static Task BadHour(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask, Recurring("0 7 * * *", {|TASK012:TimeZone = "Mars/Olympus"|})]
                public static Task BadZone(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask, {|TASK012:Recurring("@daily")|}]
                public static Task WithArguments(CancellationToken cancellationToken, int customerId) => Task.CompletedTask;

                [{|TASK012:Recurring("@hourly")|}]
                public static Task NotATask(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask, Recurring("0 7 * * *", TimeZone = "Europe/Paris")]
                public static Task Daily(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask, Recurring("*/30 * * * * *")]
                public static Task EveryThirtySeconds(CancellationToken cancellationToken) => Task.CompletedTask;

                [AsyncTask, Recurring("@weekly", TimeZone = "Romance Standard Time")]
                public Task Weekly(CancellationToken cancellationToken) => Task.CompletedTask;
            }
            """);

        Assert.Contains("\"0 25 * * *\" is not a cron expression (", diagnostics[0].GetMessage());
        Assert.Contains("write five fields", diagnostics[0].GetMessage());
        Assert.Contains("the time zone \"Mars/Olympus\" is not known", diagnostics[1].GetMessage());
        Assert.Contains("takes customerId as well", diagnostics[2].GetMessage());
        Assert.Contains("needs [AsyncTask] as well", diagnostics[3].GetMessage());
    }

    [Fact]
    public Task Valid_tasks_of_every_shape_have_no_diagnostics() => VerifyAsync("""
        [Union(0, typeof(Circle))]
        public interface IShape { }

        [MessagePackObject]
        public sealed class Circle : IShape { [Key(0)] public double R { get; set; } }

        public enum Level { Low, High }

        public interface IMailer { }

        public sealed partial class Service
        {
            [AsyncTask(Name = "svc.instance", Queue = "instances", MaxAttempts = 1)]
            internal async Task Instance(CancellationToken cancellationToken, IShape shape, Level level, int? maybe, byte[] blob)
                => await Task.Delay(1, cancellationToken);

            [AsyncTask]
            public static Task Static(CancellationToken token, Dictionary<string, List<Guid>> map, (int, string) pair, DateTimeOffset at, TimeSpan span, Uri uri)
                => Task.CompletedTask;
        }
        """);

    [Fact]
    public void Every_diagnostic_has_a_help_page_in_docs()
    {
        var root = RepositoryRoot();
        var analyzer = new AsyncTaskAnalyzer();
        foreach (var descriptor in analyzer.SupportedDiagnostics)
        {
            Assert.EndsWith($"/docs/diagnostics/{descriptor.Id}.md", descriptor.HelpLinkUri);
            var page = Path.Combine(root, "docs", "diagnostics", descriptor.Id + ".md");
            Assert.True(File.Exists(page), $"{page} is missing");
            Assert.StartsWith($"# {descriptor.Id}", File.ReadAllText(page));
        }
    }

    [Fact]
    public void Generator_emits_nothing_for_an_invalid_method()
    {
        var compilation = TestCompilation.Create("""
            public static partial class Jobs
            {
                [AsyncTask]
                public static void Fire(string name) { }
            }
            """);

        var (_, result) = TestCompilation.Generate(compilation);

        Assert.Empty(result.Results.Single().GeneratedSources);
        Assert.Empty(result.Diagnostics);
    }

    internal static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Tasks.sln"))) directory = directory.Parent;
        return directory?.FullName ?? throw new InvalidOperationException("Tasks.sln not found above the test binaries.");
    }

    private static async Task<IReadOnlyList<Diagnostic>> VerifyAsync(string markup)
    {
        var (source, expected) = Markup.Parse(markup);
        var compilation = TestCompilation.Create(source);
        var tree = compilation.SyntaxTrees.Last();

        var diagnostics = (await TestCompilation.AnalyzeAsync(compilation))
            .OrderBy(d => d.Location.SourceSpan.Start)
            .ThenBy(d => d.Id, StringComparer.Ordinal)
            .ToArray();

        Assert.All(diagnostics, d => Assert.Same(tree, d.Location.SourceTree));
        Assert.Equal(
            expected.Select(e => $"{e.Id} at {e.Span} '{source.Substring(e.Span.Start, e.Span.Length)}'"),
            diagnostics.Select(d => $"{d.Id} at {d.Location.SourceSpan} '{source.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length)}'"));
        return diagnostics;
    }
}
