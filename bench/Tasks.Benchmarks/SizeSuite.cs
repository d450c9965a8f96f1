using System.Text;
using Hangfire.Common;
using Hangfire.Storage;

namespace Tasks.Benchmarks;

/// <summary>Envelope bytes for representative calls, against Hangfire's serialized job for the same call.</summary>
internal static class SizeSuite
{
    public static void Run()
    {
        var report = new Report("size");
        var small = new Small(7, "seven");
        var id = Guid.NewGuid();
        var at = new DateTimeOffset(2026, 11, 22, 12, 0, 0, TimeSpan.FromHours(1));
        var names = Enumerable.Range(0, 10).Select(i => $"customer-{i}@example.com").ToList();
        var blob = new byte[1024];
        new Random(1).NextBytes(blob);

        var cases = new (string Name, byte[] Ours, string Hangfire)[]
        {
            ("(int, string, record)", Envelopes.Write(BenchTasks.NoOpAsync.Definition, new(42, "name", small)),
                Hangfire(() => BenchTasks.NoOp(CancellationToken.None, 42, "name", small))),
            ("(Guid, DateTimeOffset, decimal, string)", Envelopes.Write(BenchTasks.MixedAsync.Definition, new(id, at, 19.99m, "EUR")),
                Hangfire(() => BenchTasks.Mixed(CancellationToken.None, id, at, 19.99m, "EUR"))),
            ("(List<string> of 10 addresses)", Envelopes.Write(BenchTasks.NamesAsync.Definition, new(names)),
                Hangfire(() => BenchTasks.Names(CancellationToken.None, names))),
            ("(byte[1024])", Envelopes.Write(BenchTasks.BlobAsync.Definition, new(blob)),
                Hangfire(() => BenchTasks.Blob(CancellationToken.None, blob))),
        };

        double ours = 0, theirs = 0;
        foreach (var (name, envelope, hangfire) in cases)
        {
            var hangfireBytes = Encoding.UTF8.GetByteCount(hangfire);
            report.Figure($"{name} Tasks envelope", envelope.Length, "bytes");
            report.Figure($"{name} Hangfire job", hangfireBytes, "bytes");
            report.Ratio($"{name} Tasks / Hangfire", (double)envelope.Length / hangfireBytes, "<= 0.4", envelope.Length <= 0.4 * hangfireBytes);
            ours += envelope.Length;
            theirs += hangfireBytes;
        }

        report.Ratio("all cases Tasks / Hangfire", ours / theirs, "<= 0.4", ours <= 0.4 * theirs);
        report.Save();
    }

    private static string Hangfire(System.Linq.Expressions.Expression<Func<Task>> call)
        => InvocationData.SerializeJob(Job.FromExpression(call)).SerializePayload();
}
