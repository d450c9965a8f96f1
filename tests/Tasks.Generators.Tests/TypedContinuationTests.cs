using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using Tasks.Tests.Infrastructure;

namespace Tasks.Generators.Tests;

/// <summary>
/// Continuations and batch callbacks are declared with the generated stubs, so the compiler checks
/// their arguments where the work is enqueued: a wrong type is a build error at the argument.
/// </summary>
public sealed class TypedContinuationTests
{
    private const string Tasks = """
        namespace Shop;

        public static partial class PaymentTasks
        {
            [AsyncTask]
            public static Task Charge(CancellationToken cancellationToken, Guid order, decimal amount) => Task.CompletedTask;
        }

        public static partial class ShippingTasks
        {
            [AsyncTask]
            public static Task Ship(CancellationToken cancellationToken, Guid order, string carrier) => Task.CompletedTask;
        }

        """;

    [Fact]
    public void A_chain_a_continuation_and_a_batch_callback_with_the_right_arguments_compile()
    {
        var problems = Compile(Tasks + """
            public static class Checkout
            {
                public static async Task Run(TaskClient client, Guid order)
                {
                    var charged = await PaymentTasks.ChargeAsync.Enqueue(client, order, 10m, new TaskEnqueueOptions { AllowContinuations = true });
                    await ShippingTasks.ShipAsync.Enqueue(client, order, "ups", new TaskEnqueueOptions { After = charged });
                    await client.EnqueueChainAsync(PaymentTasks.ChargeAsync.Prepare(order, 10m), ShippingTasks.ShipAsync.Prepare(order, "ups"));
                    await client.EnqueueBatchAsync(new TaskBatch { OnCompleted = ShippingTasks.ShipAsync.Prepare(order, "ups") });
                }
            }
            """).Problems;

        Assert.Empty(problems);
    }

    [Fact]
    public void A_continuation_given_the_wrong_argument_types_does_not_compile()
    {
        var (problems, expected, source) = Compile(Tasks + """
            public static class Checkout
            {
                public static async Task Run(TaskClient client, Guid order)
                {
                    var charged = await PaymentTasks.ChargeAsync.Enqueue(client, order, 10m, new TaskEnqueueOptions { AllowContinuations = true });
                    await {|CS1503:ShippingTasks.ShipAsync.Enqueue(client, "order-42", "ups", new TaskEnqueueOptions { After = charged })|};
                    await client.EnqueueChainAsync(PaymentTasks.ChargeAsync.Prepare(order, {|CS1503:"ten euros"|}), ShippingTasks.ShipAsync.Prepare(order, {|CS1503:42|}));
                    await client.EnqueueBatchAsync(new TaskBatch { OnCompleted = ShippingTasks.ShipAsync.Prepare({|CS1503:order.ToString()|}, "ups") });
                }
            }
            """);

        // Each marked argument (or call, where an overload without the client is also a candidate) has
        // its error, and there is no other.
        string Text(TextSpan span) => source.Substring(span.Start, span.Length);
        Assert.All(expected, e => Assert.Contains(problems, d => d.Id == e.Id && e.Span.Contains(d.Location.SourceSpan)));
        Assert.All(problems, d => Assert.True(expected.Any(e => e.Id == d.Id && e.Span.Contains(d.Location.SourceSpan)), $"{d.Id} at '{Text(d.Location.SourceSpan)}': {d.GetMessage()}"));
    }

    private static (IReadOnlyList<Diagnostic> Problems, IReadOnlyList<(string Id, TextSpan Span)> Expected, string Source) Compile(string markup)
    {
        var (source, expected) = Markup.Parse(markup);
        var compilation = TestCompilation.Create(source);
        var (output, result) = TestCompilation.Generate(compilation);
        Assert.Empty(result.Diagnostics);
        return (TestCompilation.Problems(output, compilation).OrderBy(d => d.Location.SourceSpan.Start).ToArray(), expected, source);
    }
}
