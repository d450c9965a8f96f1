using Azure;

namespace Tasks.Azure.Tests;

/// <summary>Which answers of the queue service may pass and which need a person: no Azurite needed.</summary>
public sealed class AzureFaultsTests
{
    public static TheoryData<Exception, bool> Faults => new()
    {
        { new RequestFailedException(403, "Server failed to authenticate the request.", "AuthenticationFailed", null), false },
        { new RequestFailedException(404, "The specified queue does not exist.", "QueueNotFound", null), false },
        { new RequestFailedException(400, "The specifed resource name contains invalid characters.", "InvalidResourceName", null), false },
        { new RequestFailedException(503, "Server busy", "ServerBusy", null), true },
        { new RequestFailedException(409, "The specified queue is being deleted.", "QueueBeingDeleted", null), true },
        { new TaskCanceledException("The operation was cancelled because it exceeded the network timeout."), true },
        { new AggregateException("Retry failed after 4 tries.", new TaskCanceledException("network timeout"), new TaskCanceledException("network timeout")), true },
        { new AggregateException("Retry failed after 4 tries.", new RequestFailedException(500, "boom", "InternalError", null)), true },
    };

    [Fact]
    public async Task A_blob_service_that_refuses_connections_fails_payload_calls_as_queue_calls_do_transient_and_named()
    {
        var closed = ClosedPort();
        var transport = new AzureQueueTransport(new AzureQueueOptions
        {
            ConnectionString = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AzureStartupTests.WrongKey};QueueEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;BlobEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;",
        });

        var upload = await Assert.ThrowsAsync<TaskTransportException>(() => transport.UploadPayloadAsync("orders", "m1", new byte[10], DateTimeOffset.UtcNow.AddDays(1), CancellationToken.None).AsTask());
        var read = await Assert.ThrowsAsync<TaskTransportException>(() => transport.ReadPayloadAsync("orders/m1", new byte[10], CancellationToken.None).AsTask());

        Assert.All(new[] { upload, read }, ex =>
        {
            Assert.True(ex.IsTransient, ex.Message);
            Assert.StartsWith($"Azure Blob service at http://127.0.0.1:{closed}/devstoreaccount1", ex.Message);
        });
    }

    [Fact]
    public async Task A_queue_service_that_refuses_connections_fails_dead_letter_calls_transient_and_named()
    {
        var closed = ClosedPort();
        var transport = new AzureQueueTransport(new AzureQueueOptions
        {
            ConnectionString = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AzureStartupTests.WrongKey};QueueEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;",
            CreateQueues = false,
        });

        var add = await Assert.ThrowsAsync<TaskTransportException>(() => transport.AddDeadLetterAsync("orders", "m1", new byte[10], DeadLetterDetails.From("no", null, 1), CancellationToken.None).AsTask());
        var requeue = await Assert.ThrowsAsync<TaskTransportException>(() => transport.RequeueDeadLettersAsync("orders").AsTask());

        Assert.All(new[] { add, requeue }, ex =>
        {
            Assert.True(ex.IsTransient, ex.Message);
            Assert.StartsWith("Azure queue 'orders-poison' at http://127.0.0.1:", ex.Message);
        });
    }

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port; // closed once the listener is disposed
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public void A_fault_is_transient_only_if_a_retry_may_fix_it(Exception exception, bool transient)
    {
        var fault = AzureFaults.Classify(exception);

        Assert.NotNull(fault);
        Assert.Equal(transient, fault.IsTransient);
        Assert.False(string.IsNullOrWhiteSpace(fault.Problem));
    }
}
