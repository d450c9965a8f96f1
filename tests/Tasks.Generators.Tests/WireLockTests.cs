using Microsoft.CodeAnalysis;
using Tasks.Generators.Diagnostics.WireLock;
using Tasks.Tests.Infrastructure;

namespace Tasks.Generators.Tests;

/// <summary>The wire lock (tasks.lock.txt): each diagnostic at its exact span, in the source or in the lock file.</summary>
public sealed class WireLockTests
{
    private const string Shipping = """
        namespace Shop;

        public sealed record Shipment(Guid OrderId, int Items);

        public static partial class Orders
        {
            [AsyncTask(Queue = "orders")]
            public static Task Ship(CancellationToken cancellationToken, Shipment shipment, string carrier) => Task.CompletedTask;
        }
        """;

    private const string ShippingLock = """
        # The lock of the shop.

        [Shop.Orders.Ship]
        queue orders
        parameters (Shop.Shipment shipment, string carrier)
        type Shop.Shipment (System.Guid OrderId, int Items)
        """;

    [Fact]
    public async Task A_task_whose_shape_matches_its_entry_has_no_diagnostic()
        => await VerifyAsync(Shipping, ShippingLock);

    [Fact]
    public async Task TASK014_a_task_missing_from_the_lock_at_its_name_with_the_entry_to_record()
    {
        var diagnostic = Assert.Single(await VerifyAsync(Shipping.Replace("Task Ship(", "Task {|TASK014:Ship|}("), "# empty\n"));

        Assert.Equal(DiagnosticSeverity.Info, diagnostic.Severity);
        Assert.Equal("Task 'Shop.Orders.Ship' is not in the wire lock; record it in tasks.lock.txt (code fix), so that later changes are checked against it", diagnostic.GetMessage());
        Assert.Equal("Shop.Orders.Ship", diagnostic.Properties[WireLockCheck.WireNameProperty]);
        Assert.Equal(ShippingLock.Substring(ShippingLock.IndexOf('[')) + "\n", diagnostic.Properties[WireLockCheck.EntryProperty]);
    }

    [Fact]
    public async Task TASK013_each_breaking_change_where_it_was_made()
    {
        var diagnostics = await VerifyAsync("""
            namespace Shop;

            public sealed record Shipment(Guid OrderId, long Items);

            public static partial class Orders
            {
                [AsyncTask({|TASK013:Queue = "shipping"|})]
                public static Task Ship(CancellationToken cancellationToken, {|TASK013:Shipment shipment|}, {|TASK013:int carrier|}, {|TASK013:string note|}) => Task.CompletedTask;

                [AsyncTask]
                public static Task Cancel{|TASK013:(CancellationToken cancellationToken)|} => Task.CompletedTask;

                [{|TASK013:AsyncTask|}]
                public static Task Refund(CancellationToken cancellationToken, {|TASK013:decimal amount|}, {|TASK013:Guid orderId|}) => Task.CompletedTask;
            }
            """, """
            [Shop.Orders.Cancel]
            queue tasks
            parameters (System.Guid orderId)

            [Shop.Orders.Refund]
            queue refunds
            parameters (System.Guid orderId, decimal amount)

            [Shop.Orders.Ship]
            queue orders
            parameters (Shop.Shipment shipment, string carrier)
            type Shop.Shipment (System.Guid OrderId, int Items)
            """);

        Assert.All(diagnostics, d => Assert.Equal(DiagnosticSeverity.Error, d.Severity));
        Assert.Equal(
            [
                "Task 'Shop.Orders.Ship' moved from queue 'orders' to 'shipping', so the messages in 'orders' would wait for a worker that no longer reads it",
                "Task 'Shop.Orders.Ship' has 'long Items' as member 2 of 'Shop.Shipment', where queued messages carry 'int Items'",
                "Task 'Shop.Orders.Ship' has 'int carrier' as parameter 2, where queued messages carry 'string carrier'",
                "Task 'Shop.Orders.Ship' appended parameter 'string note' without a default value, so a queued message has no value for it",
                "Task 'Shop.Orders.Cancel' lost parameter 1, 'System.Guid orderId', which queued messages carry",
                "Task 'Shop.Orders.Refund' moved from queue 'refunds' to 'tasks', so the messages in 'refunds' would wait for a worker that no longer reads it",
                "Task 'Shop.Orders.Refund' has 'decimal amount' as parameter 1, where queued messages carry 'System.Guid orderId'",
                "Task 'Shop.Orders.Refund' has 'System.Guid orderId' as parameter 2, where queued messages carry 'decimal amount'",
            ],
            diagnostics.Select(d => d.GetMessage().Split(';')[0]));
    }

    [Fact]
    public async Task TASK014_compatible_changes_are_recorded_not_refused()
    {
        var diagnostic = Assert.Single(await VerifyAsync("""
            namespace Shop;

            public sealed record Shipment(Guid OrderId, int Items, string Carrier = "post")
            {
                public string? Note { get; init; }
            }

            public static partial class Orders
            {
                [AsyncTask(Queue = "orders")]
                public static Task {|TASK014:Ship|}(CancellationToken cancellationToken, Shipment shipment, string? carrier, bool express = false) => Task.CompletedTask;
            }
            """, ShippingLock));

        Assert.Equal(
            "Task 'Shop.Orders.Ship' made parameter 2 nullable ('string? carrier'); appended parameter 'bool express'; " +
            "appended member 'string Carrier' of 'Shop.Shipment'; appended member 'string? Note' of 'Shop.Shipment' since its lock entry; " +
            "record it in tasks.lock.txt (code fix), so that later changes are checked against it",
            diagnostic.GetMessage());
        Assert.Equal("""
            [Shop.Orders.Ship]
            queue orders
            parameters (Shop.Shipment shipment, string? carrier, optional bool express)
            type Shop.Shipment (System.Guid OrderId, int Items, optional string Carrier, optional string? Note)

            """, diagnostic.Properties[WireLockCheck.EntryProperty]);
    }

    [Fact]
    public async Task TASK013_what_was_appended_keeps_its_default_because_older_messages_lack_it()
    {
        var diagnostics = await VerifyAsync("""
            namespace Shop;

            public sealed record Shipment(Guid OrderId, int Items, string Carrier);

            public static partial class Orders
            {
                [AsyncTask(Queue = "orders")]
                public static Task Ship(CancellationToken cancellationToken, {|TASK013:Shipment shipment|}, {|TASK013:string carrier|}) => Task.CompletedTask;
            }
            """, """
            [Shop.Orders.Ship]
            queue orders
            parameters (Shop.Shipment shipment, optional string carrier)
            type Shop.Shipment (System.Guid OrderId, int Items, optional string Carrier)
            """);

        Assert.Equal(
            [
                "Task 'Shop.Orders.Ship' dropped the default value of member 'string Carrier' of 'Shop.Shipment', which messages written before it was appended do not carry; keep its default value",
                "Task 'Shop.Orders.Ship' dropped the default value of parameter 'string carrier', which messages written before it was appended do not carry; keep its default value",
            ],
            diagnostics.Select(d => d.GetMessage()));
    }

    [Fact]
    public async Task An_enum_is_locked_by_the_name_of_each_number_new_names_are_compatible_a_renumbered_or_lost_one_is_not()
    {
        const string source = """
            namespace Shop;

            public enum Speed { Standard, Express, Overnight }

            public sealed record Shipment(Guid OrderId, Speed Speed);

            public static partial class Orders
            {
                [AsyncTask(Queue = "orders")]
                public static Task Ship(CancellationToken cancellationToken, Shipment shipment, Speed fallback) => Task.CompletedTask;
            }
            """;
        const string locked = """
            [Shop.Orders.Ship]
            queue orders
            parameters (Shop.Shipment shipment, Shop.Speed fallback)
            enum Shop.Speed (Standard = 0, Express = 1)
            type Shop.Shipment (System.Guid OrderId, Shop.Speed Speed)
            """;

        var added = Assert.Single(await VerifyAsync(source.Replace("Task Ship(", "Task {|TASK014:Ship|}("), locked));
        Assert.StartsWith("Task 'Shop.Orders.Ship' added 'Overnight = 2' to enum 'Shop.Speed' since its lock entry", added.GetMessage());
        Assert.Contains("enum Shop.Speed (Standard = 0, Express = 1, Overnight = 2)\n", added.Properties[WireLockCheck.EntryProperty]);

        // Both at the first parameter that carries the enum.
        var renumberedSource = source.Replace("{ Standard, Express, Overnight }", "{ Overnight, Standard, Express }");
        var renumbered = await TestCompilation.AnalyzeAsync(TestCompilation.Create(renumberedSource), new TestAdditionalText("/repo/Shop/tasks.lock.txt", locked));
        Assert.All(renumbered, d => Assert.Equal(("TASK013", "Shipment shipment"), (d.Id, renumberedSource.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length))));
        Assert.Equal(
            [
                "Task 'Shop.Orders.Ship' has 'Standard = 1' in enum 'Shop.Speed', where queued messages carry 'Standard' as 0",
                "Task 'Shop.Orders.Ship' has 'Express = 2' in enum 'Shop.Speed', where queued messages carry 'Express' as 1",
            ],
            renumbered.Select(d => d.GetMessage().Split(';')[0]));
    }

    [Fact]
    public async Task TASK015_an_entry_without_a_task_at_its_header_line_and_TASK016_a_line_that_cannot_be_read()
    {
        var diagnostics = await VerifyAsync(Shipping, ShippingLock + """


            {|TASK015:[shop.renamed-task]|}
            queue emails
            parameters (string to)
            {|TASK016:params (string to)|}
            """);

        Assert.Equal(
            "tasks.lock.txt has an entry for 'shop.renamed-task', but no task has that wire name: its messages still in queue 'emails' will be dead-lettered; " +
            "if you renamed the method, give it [AsyncTask(Name = \"shop.renamed-task\")]; to retire the task, let its queue drain first, then remove the entry (code fix)",
            diagnostics.Single(d => d.Id == "TASK015").GetMessage());
        Assert.Equal(DiagnosticSeverity.Warning, diagnostics.Single(d => d.Id == "TASK015").Severity);
        Assert.Equal("tasks.lock.txt line 11 cannot be read: expected 'queue', 'parameters', 'type' or 'enum'", diagnostics.Single(d => d.Id == "TASK016").GetMessage());
    }

    [Fact]
    public async Task Without_a_lock_file_nothing_is_checked()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(TestCompilation.Create(Shipping));

        Assert.Empty(diagnostics);
    }

    [Fact]
    public void An_entry_is_replaced_in_place_inserted_in_wire_name_order_and_removed_with_its_blank_line()
    {
        const string text = "# lock\n\n[a]\nqueue q\nparameters ()\n\n[c]\nqueue q\nparameters (int x)\n";

        Assert.Equal("# lock\n\n[a]\nqueue q\nparameters ()\n\n[b]\nqueue q\nparameters ()\n\n[c]\nqueue q\nparameters (int x)\n",
            WireLockFile.WithEntry(text, "b", "[b]\nqueue q\nparameters ()\n"));
        Assert.Equal("# lock\n\n[a]\nqueue q\nparameters ()\n\n[c]\nqueue r\nparameters (int x, int y)\n",
            WireLockFile.WithEntry(text, "c", "[c]\nqueue r\nparameters (int x, int y)\n"));
        Assert.Equal(text + "\n[d]\nqueue q\nparameters ()\n", WireLockFile.WithEntry(text, "d", "[d]\nqueue q\nparameters ()\n"));
        Assert.Equal("# lock\n\n[c]\nqueue q\nparameters (int x)\n", WireLockFile.WithoutEntry(text, "a"));
        Assert.StartsWith("# Tasks wire lock", WireLockFile.WithEntry("", "a", "[a]\nqueue q\nparameters ()\n"));
        Assert.Equal(text.ReplaceLineEndings("\r\n") + "\r\n[d]\r\nqueue q\r\nparameters ()\r\n", WireLockFile.WithEntry(text.ReplaceLineEndings("\r\n"), "d", "[d]\nqueue q\nparameters ()\n"));
    }

    [Fact]
    public void Lists_keep_the_commas_inside_generic_tuple_and_array_types()
    {
        var entry = WireLockFile.Parse(Microsoft.CodeAnalysis.Text.SourceText.From("""
            [t]
            queue q
            parameters (System.Collections.Generic.Dictionary<string, int[,]> counts, (int, string) pair, Ns.Pair<int, string>? maybe)
            type Ns.Pair<int, string> (int First, string Second)
            """)).Entries.Single();

        Assert.Equal(["System.Collections.Generic.Dictionary<string, int[,]> counts", "(int, string) pair", "Ns.Pair<int, string>? maybe"], entry.Shape.Parameters.Select(p => p.ToString()));
        Assert.Equal("Ns.Pair<int, string>", Assert.Single(entry.Shape.Types).Name);
    }

    /// <summary>
    /// Analyzes <paramref name="sourceMarkup"/> with <paramref name="lockMarkup"/> as the project's tasks.lock.txt;
    /// each diagnostic must be one marked, in either, at its exact span. Returns them in order: source first.
    /// </summary>
    private static async Task<IReadOnlyList<Diagnostic>> VerifyAsync(string sourceMarkup, string lockMarkup)
    {
        var (source, expectedInSource) = Markup.Parse(sourceMarkup);
        var (lockText, expectedInLock) = Markup.Parse(lockMarkup);
        var compilation = TestCompilation.Create(source);

        var diagnostics = (await TestCompilation.AnalyzeAsync(compilation, new TestAdditionalText("/repo/Shop/tasks.lock.txt", lockText)))
            .OrderBy(d => d.Location.IsInSource ? 0 : 1)
            .ThenBy(d => d.Location.SourceSpan.Start)
            .ThenBy(d => d.Id, StringComparer.Ordinal)
            .ToArray();

        string Describe(string file, string text, string id, Microsoft.CodeAnalysis.Text.TextSpan span) => $"{id} in {file} at {span} '{text.Substring(span.Start, span.Length)}'";
        Assert.Equal(
            expectedInSource.Select(e => Describe("source", source, e.Id, e.Span)).Concat(expectedInLock.Select(e => Describe("tasks.lock.txt", lockText, e.Id, e.Span))),
            diagnostics.Select(d => d.Location.IsInSource
                ? Describe("source", source, d.Id, d.Location.SourceSpan)
                : Describe(Path.GetFileName(d.Location.GetLineSpan().Path), lockText, d.Id, d.Location.SourceSpan)));
        return diagnostics;
    }
}
