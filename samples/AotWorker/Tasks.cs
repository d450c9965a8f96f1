using System.Collections.Concurrent;
using Tasks;

namespace AotWorker;

public enum Priority { Low, High }

// Plain records: the generator writes their formatters, so nothing is generated at run time.
public sealed record InvoiceLine(string Sku, int Quantity, decimal Price);

public sealed record Invoice(Guid Id, string Customer, List<InvoiceLine> Lines, Priority Priority = Priority.Low);

public static partial class InvoiceTasks
{
    public static readonly ConcurrentQueue<string> Done = new();

    /// <summary>Sends an invoice.</summary>
    [AsyncTask(Queue = "invoices"), TaskFilter(typeof(CopiesFilter))]
    public static Task Send(CancellationToken cancellationToken, Invoice invoice, Dictionary<string, string> headers, int[] copies)
    {
        var total = invoice.Lines.Sum(l => l.Quantity * l.Price);
        Done.Enqueue($"invoice {invoice.Id} for {invoice.Customer}: {invoice.Lines.Count} line(s), {total:0.00}, {invoice.Priority}, {headers.Count} header(s), copies {string.Join('+', copies)}");
        return Task.CompletedTask;
    }

    /// <summary>Refuses an invoice: dead-lettered at once, with the reason (the poison record is written without reflection too).</summary>
    [AsyncTask(Queue = "invoices")]
    public static Task Refuse(CancellationToken cancellationToken, Invoice invoice)
        => throw new PermanentTaskException($"invoice {invoice.Id} refused");
}

/// <summary>A run filter of one task, made under native AOT by the factory the generator wrote: it sees the typed arguments.</summary>
public sealed class CopiesFilter : ITaskRunFilter
{
    public static int Runs;

    public ValueTask OnRunAsync(TaskRunContext context, TaskRunNext next)
    {
        if (context.Arguments is InvoiceTasks.SendAsync.Arguments { copies.Length: > 0 }) Interlocked.Increment(ref Runs);
        return next();
    }
}
