using Microsoft.CodeAnalysis;
using Tasks.Tests.Infrastructure;

namespace Tasks.Generators.Tests;

/// <summary>The generated source for representative tasks, compared to committed snapshots.</summary>
public sealed class GeneratorSnapshotTests
{
    [Fact]
    public Task Static_task_with_a_record_argument_and_doc_summary() => VerifyAsync("""
        namespace MyApp.Caching;

        [MessagePackObject]
        public sealed record Report([property: Key(0)] string Title, [property: Key(1)] int[] Figures);

        public static partial class CacheTasks
        {
            /// <summary>
            /// Refreshes the cached page for <paramref name="key"/> from a <see cref="Report"/>.
            /// </summary>
            [AsyncTask]
            public static async Task UpdateCache(CancellationToken cancellationToken, string key, Report report)
                => await Task.Delay(1, cancellationToken);
        }
        """);

    [Fact]
    public Task Plain_records_classes_and_structs_travel_by_generated_formatters() => VerifyAsync("""
        namespace Shop;

        public enum Currency { Eur, Usd }
        public readonly record struct Money(decimal Amount, Currency Currency = Currency.Eur);
        public sealed record Line(string Sku, int Quantity, Money Price);
        public record Order(Guid Id, List<Line> Lines)
        {
            public string? Note { get; init; }
            public decimal Total => System.Linq.Enumerable.Sum(Lines, l => l.Price.Amount * l.Quantity);
        }

        public sealed record PriorityOrder(Guid Id, List<Line> Lines, int Priority) : Order(Id, Lines);

        public class Address
        {
            public string Street { get; set; } = "";
            public string? City { get; set; }
            [MessagePack.IgnoreMember] public string Display => Street + ", " + City;
        }

        public sealed class Category(string name, Category? parent)
        {
            public string Name { get; } = name;
            public Category? Parent { get; } = parent;
        }

        public static partial class OrderTasks
        {
            [AsyncTask]
            public static Task Place(CancellationToken cancellationToken, Order order, Address shipTo, Dictionary<string, Money[]> discounts, PriorityOrder? rush, Category category)
                => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task Instance_task_in_nested_types_with_explicit_name_queue_and_attempts() => VerifyAsync("""
        namespace Shop.Orders.Shipping
        {
            public partial class Outer
            {
                internal sealed partial class Shipper
                {
                    [AsyncTask(Name = "orders.ship", Queue = "orders", MaxAttempts = 8)]
                    internal Task Ship(CancellationToken cancellationToken, Guid orderId, DateTimeOffset shipAt, byte[] label)
                        => Task.CompletedTask;
                }
            }
        }
        """);

    [Fact]
    public Task Collections_enums_nullables_and_default_values() => VerifyAsync("""
        namespace Reports;

        public enum Format { Pdf, Csv = 3 }

        public static partial class ExportTasks
        {
            [AsyncTask(Queue = "exports")]
            public static Task Export(
                CancellationToken cancellationToken,
                List<string> columns,
                Dictionary<string, int?> widths,
                IReadOnlyList<DateTime> days,
                Format format = Format.Csv,
                string? title = null,
                int? limit = null,
                double scale = 1.5,
                decimal fee = 0.25m,
                long max = 10000000000,
                string separator = "\t\"")
                => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task Parameter_names_that_clash_with_generated_names_and_keywords() => VerifyAsync("""
        public partial class Jobs
        {
            [AsyncTask]
            public static Task @event(CancellationToken token, string @class, int options, string client, string cancellationToken, string ToString, string Arguments)
                => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task Overloads_with_explicit_names_and_a_task_without_arguments_in_a_record_struct() => VerifyAsync("""
        namespace Billing;

        public partial record struct Invoices
        {
            [AsyncTask(Name = "billing.send-one")]
            public static Task Send(CancellationToken cancellationToken, int invoiceId) => Task.CompletedTask;

            [AsyncTask(Name = "billing.SendMany")]
            public static Task Send(CancellationToken cancellationToken, int[] invoiceIds) => Task.CompletedTask;

            [AsyncTask(Queue = "billing")]
            public static Task Close(CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task Per_task_timeout_retry_delay_and_concurrency_in_the_definition() => VerifyAsync("""
        namespace Reports;

        public static partial class Exports
        {
            [AsyncTask(Timeout = "00:05:00", RetryDelay = "00:00:30", MaxConcurrency = 2)]
            public static Task Render(CancellationToken cancellationToken, int reportId) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task Unique_task_with_personal_data_in_the_definition() => VerifyAsync("""
        namespace Billing;

        public static partial class Invoices
        {
            [AsyncTask(UniqueFor = "00:10:00", PersonalData = true)]
            public static Task Send(CancellationToken cancellationToken, string email, int invoice) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task Task_filters_by_attribute_are_made_per_run_in_attribute_order() => VerifyAsync("""
        namespace Billing;

        public sealed class AuditFilter(System.IServiceProvider services) : ITaskRunFilter
        {
            public ValueTask OnRunAsync(TaskRunContext context, TaskRunNext next) => next();
        }

        public sealed class Outer
        {
            internal sealed class TimingFilter : ITaskRunFilter
            {
                public ValueTask OnRunAsync(TaskRunContext context, TaskRunNext next) => next();
            }
        }

        public static partial class Invoices
        {
            [AsyncTask, TaskFilter(typeof(AuditFilter)), TaskFilter(typeof(Outer.TimingFilter))]
            public static Task Charge(CancellationToken cancellationToken, string order) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task Limits_across_workers_with_keys_read_from_the_arguments() => VerifyAsync("""
        namespace Billing;

        public enum Region { Eu, Us }

        public static partial class Invoices
        {
            [AsyncTask, ConcurrencyLimit(1, Key = nameof(customerId), MaxWait = "02:00:00"), RateLimit(10, "00:00:01", Name = "mail-provider")]
            public static Task Send(CancellationToken cancellationToken, long customerId, string @class, Region? region) => Task.CompletedTask;

            [AsyncTask, ConcurrencyLimit(5, Name = "crm-api"), ConcurrencyLimit(1, Name = "per-region", Key = nameof(region)), RateLimit(3, "00:01:00", Key = "tenant")]
            public static Task Sync(CancellationToken cancellationToken, Region region, string? tenant, System.Guid batch) => Task.CompletedTask;
        }
        """);

    [Fact]
    public Task Recurring_task_carries_its_schedule_in_the_definition() => VerifyAsync("""
        namespace Reports;

        public sealed partial class Digest
        {
            [AsyncTask, Recurring("0 7 * * 1-5", TimeZone = "Europe/Paris")]
            public Task SendMorningDigest(CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public void Host_registers_the_task_assemblies_it_references_without_naming_them()
    {
        // A worker whose code names no type of the task library: only the host's own generated
        // module initializer can make the library's tasks known before the worker starts.
        var library = TestCompilation.Create("""
            namespace Shop.Tasks;
            public static partial class Mail
            {
                [AsyncTask]
                public static Task Send(CancellationToken cancellationToken, string to) => Task.CompletedTask;
            }
            """).WithAssemblyName("Shop-Tasks.Library");
        var (libraryOutput, libraryResult) = TestCompilation.Generate(library);
        Assert.Empty(TestCompilation.Problems(libraryOutput, library));
        var withoutTasks = TestCompilation.Create("namespace Shop; public static class Plain { }").WithAssemblyName("Shop.Plain");

        var host = TestCompilation.Create("namespace Worker; public static class Program { public static void Main() { } }")
            .WithAssemblyName("Worker")
            .AddReferences(libraryOutput.ToMetadataReference(), TestCompilation.Generate(withoutTasks).Output.ToMetadataReference());
        var (hostOutput, hostResult) = TestCompilation.Generate(host);

        Assert.Empty(hostResult.Diagnostics);
        Assert.Empty(TestCompilation.Problems(hostOutput, host));
        Snapshot.Verify(hostResult, testName: nameof(Host_registers_the_task_assemblies_it_references_without_naming_them));
        AssertCachedOnRerun(host);
        Snapshot.Verify(libraryResult, testName: "Task_library_that_a_host_references");
    }

    [Fact]
    public void A_compilation_without_tasks_or_task_references_generates_nothing()
    {
        var (_, result) = TestCompilation.Generate(TestCompilation.Create("namespace App; public static class Plain { }"));

        Assert.Empty(result.GeneratedTrees);
    }

    private static async Task VerifyAsync(string source, [System.Runtime.CompilerServices.CallerMemberName] string testName = "")
    {
        var compilation = TestCompilation.Create(source);
        var (output, result) = TestCompilation.Generate(compilation);

        Assert.Empty(result.Diagnostics);
        Assert.Empty(TestCompilation.Problems(output, compilation));
        Assert.Empty(await TestCompilation.AnalyzeAsync(compilation));
        Snapshot.Verify(result, testName: testName);
        AssertCachedOnRerun(compilation);
    }

    /// <summary>The same input again must come from the cache: every tracked step Cached or Unchanged, nothing regenerated.</summary>
    private static void AssertCachedOnRerun(Compilation compilation)
    {
        var driver = TestCompilation.CreateDriver().RunGenerators(compilation);
        var rerun = driver.RunGenerators(compilation.Clone()).GetRunResult().Results.Single();
        var ours = typeof(TrackingNames).GetFields().Select(f => (string)f.GetValue(null)!).ToHashSet();
        var outputs = rerun.TrackedSteps.Where(s => ours.Contains(s.Key)).SelectMany(s => s.Value)
            .Concat(rerun.TrackedOutputSteps.SelectMany(s => s.Value))
            .SelectMany(s => s.Outputs)
            .ToArray();
        Assert.NotEmpty(outputs);
        Assert.All(outputs, o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"a step was {o.Reason} on an identical rerun"));
    }
}
