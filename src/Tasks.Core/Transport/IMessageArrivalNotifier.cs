using System.Threading;
using System.Threading.Tasks;

namespace Tasks.Transports;

/// <summary>
/// Optional for a transport: it can wake an idle worker when a queue gets a message, so the
/// worker need not wait out its polling interval. The in-memory transport has it; remote queues
/// (Azure) are polled.
/// </summary>
public interface IMessageArrivalNotifier
{
    /// <summary>Completes when <paramref name="queue"/> may have a visible message; at once if it has one now.</summary>
    Task WaitForMessageAsync(string queue, CancellationToken cancellationToken);
}
