using System.Diagnostics;

namespace Tasks.Testing;

/// <summary>What "one trace across the queue" means, asserted the same way for every transport.</summary>
public static class Traces
{
    /// <summary>
    /// The request span is the parent of the enqueue's producer span, which is the parent of the
    /// run's consumer span, all in one trace; both Tasks spans name the queue and the message id.
    /// Returns the consumer span.
    /// </summary>
    public static Activity AssertOneTraceAcrossTheQueue(IReadOnlyCollection<Activity> spans, string requestName, string messageId, string queue)
    {
        var request = spans.Single(s => s.OperationName == requestName);
        var send = spans.Single(s => s.Kind == ActivityKind.Producer && Equals(s.GetTagItem("messaging.message.id"), messageId));
        var process = spans.Single(s => s.Kind == ActivityKind.Consumer && Equals(s.GetTagItem("messaging.message.id"), messageId));
        Assert.Equal((request.TraceId, request.SpanId), (send.TraceId, send.ParentSpanId));
        Assert.Equal((send.TraceId, send.SpanId), (process.TraceId, process.ParentSpanId));
        Assert.Equal(("send", queue), (send.GetTagItem("messaging.operation.type"), send.GetTagItem("messaging.destination.name")));
        Assert.Equal(("process", queue), (process.GetTagItem("messaging.operation.type"), process.GetTagItem("messaging.destination.name")));
        Assert.All(new[] { send, process }, span => Assert.Equal("tasks", span.GetTagItem("messaging.system")));
        return process;
    }
}
