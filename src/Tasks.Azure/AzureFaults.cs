using System;
using System.Linq;
using System.Net.Http;
using System.Net.Sockets;
using Azure;
using Azure.Identity;

namespace Tasks.Azure;

/// <summary>
/// Tells a fault of the queue service that may pass (it is down, slow, throttling) from one only a
/// person can fix (credentials refused, an unknown account, a missing queue), and says what to do.
/// A host stops at once on the second kind instead of retrying forever.
/// </summary>
internal static class AzureFaults
{
    public sealed record Fault(string Problem, string? Fix, bool IsTransient);

    public static Fault? Classify(Exception exception)
    {
        switch (exception)
        {
            case StorageServiceSilentException silent:
                return new Fault("the service " + silent.Problem, "Check that it runs and answers; the call was not made, or may be applied when it does.", IsTransient: true);
            case OperationCanceledException:
                // The caller's own cancellation never gets here (see Guard): this is the SDK's network timeout.
                return new Fault($"the service did not answer in time ({FirstLine(exception.Message)}).", "Check that it runs and that the endpoint is right.", IsTransient: true);
            case AggregateException aggregate:
                // The SDK gave up after its own retries: the last attempt says what was wrong.
                return aggregate.InnerExceptions.Count > 0 ? Classify(aggregate.InnerExceptions[^1]) : null;
            case AuthenticationFailedException or CredentialUnavailableException:
                return new Fault(
                    $"could not get a token for the storage account ({exception.GetType().Name}: {FirstLine(exception.Message)}).",
                    "Check the identity that DefaultAzureCredential (or AzureQueueOptions.Credential) uses, or connect with a connection string.",
                    IsTransient: false);
            case RequestFailedException { Status: 401 or 403 } failed:
                return new Fault(
                    $"the service refused the credentials ({failed.Status} {failed.ErrorCode}).",
                    "Check the account name and key in the connection string, the SAS token's permissions and expiry, " +
                    "or give the identity the 'Storage Queue Data Contributor' role on the account.",
                    IsTransient: false);
            case RequestFailedException { Status: 404 } failed:
                return new Fault(
                    $"the queue or account does not exist ({failed.ErrorCode}).",
                    "Create the queue, or set AzureQueueOptions.CreateQueues = true; check the account name in the endpoint.",
                    IsTransient: false);
            case RequestFailedException { Status: 409, ErrorCode: "QueueBeingDeleted" } failed:
                return new Fault($"the queue is being deleted ({failed.Status} {failed.ErrorCode}); it can be created again in a moment.", null, IsTransient: true);
            case RequestFailedException { Status: 408 or 429 or >= 500 } failed:
                return new Fault($"the service is busy or failing ({failed.Status} {failed.ErrorCode}).", null, IsTransient: true);
            case RequestFailedException { Status: >= 400 } failed:
                return new Fault(
                    $"the service rejected the request ({failed.Status} {failed.ErrorCode}: {FirstLine(failed.Message)}).",
                    "Check the queue name, the queue prefix and the endpoint.",
                    IsTransient: false);
            case RequestFailedException { Status: 0 } unreachable when Innermost(unreachable) is SocketException { SocketErrorCode: SocketError.HostNotFound }:
                return new Fault(
                    "the account's host name does not resolve.",
                    "Check the account name (or the endpoint) in the connection string or service URI.",
                    IsTransient: false);
            case RequestFailedException { Status: 0 } or HttpRequestException or TimeoutException or SocketException:
                return new Fault($"the service did not answer ({FirstLine(Innermost(exception).Message)}).", "Check that it runs and that the endpoint is right.", IsTransient: true);
            default:
                return null;
        }
    }

    private static Exception Innermost(Exception exception)
    {
        while (exception.InnerException is { } inner) exception = inner;
        return exception;
    }

    private static string FirstLine(string message) => message.Split('\n').First().Trim();
}
