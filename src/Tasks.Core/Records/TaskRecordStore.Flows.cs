using System;
using System.Threading;
using System.Threading.Tasks;

namespace Tasks;

/// <summary>Continuations and tracked batches: kept by <see cref="FlowRows"/>, beside the records.</summary>
public abstract partial class TaskRecordStore
{
    /// <inheritdoc />
    public ValueTask<TaskBatchRecord?> GetBatchAsync(string batchId, CancellationToken cancellationToken = default) => Flows.GetBatchAsync(batchId, cancellationToken);

    /// <summary>
    /// For the fault tests: called at each step of a release (sealed, sent, claimed), where a crash is
    /// the worst, with the id of the parent or batch released.
    /// </summary>
    internal static Action<string, string>? ReleasePoint { get; set; }
}
