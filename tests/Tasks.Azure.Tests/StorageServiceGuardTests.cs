using System.Net;
using Azure.Core;
using Azure.Core.Pipeline;

namespace Tasks.Azure.Tests;

/// <summary>
/// The deadline of a call tells a hung service from a slow one by the other calls: a call is given up at the deadline
/// only if the service answers nothing else meanwhile. Over a pipeline whose calls are answered by a handler in process.
/// </summary>
public sealed class StorageServiceGuardTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task A_slow_call_is_waited_for_while_the_service_goes_on_answering_others()
    {
        var (pipeline, service) = Pipeline();
        using var stop = new CancellationTokenSource();
        var others = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested) await SendAsync(pipeline, "fast");
        });

        var slow = Task.Run(() => SendAsync(pipeline, "slow"));
        await Task.Delay(Deadline * 2.5);
        service.AnswerSlow();
        await slow; // past its deadline, and not given up

        stop.Cancel();
        await others;
    }

    [Fact]
    public async Task A_call_is_given_up_at_the_deadline_when_the_service_answers_nothing()
    {
        var (pipeline, service) = Pipeline();
        await SendAsync(pipeline, "fast"); // it answered once, before
        var started = DateTime.UtcNow;

        await Assert.ThrowsAsync<StorageServiceSilentException>(() => SendAsync(pipeline, "slow"));

        Assert.InRange(DateTime.UtcNow - started, Deadline * 0.9, Deadline * 1.9);
        service.AnswerSlow();
    }

    [Fact]
    public async Task A_call_waited_for_is_given_up_soon_after_the_others_stop_being_answered()
    {
        var (pipeline, service) = Pipeline();
        var others = Task.Run(async () =>
        {
            while (!service.Hung) await SendAsync(pipeline, "fast");
        });
        var started = DateTime.UtcNow;
        var slow = Task.Run(() => SendAsync(pipeline, "slow"));
        await Task.Delay(Deadline * 2);
        service.Hang();

        await Assert.ThrowsAsync<StorageServiceSilentException>(() => slow);

        Assert.InRange(DateTime.UtcNow - started, Deadline * 2, Deadline * 3.5); // a step after the hang, not the longest deadline (6 s)
        service.AnswerSlow();
        await Task.WhenAny(others, Task.Delay(100));
    }

    private static (HttpPipeline Pipeline, Service Service) Pipeline()
    {
        var service = new Service();
        var guard = new StorageServiceGuard("test service", Deadline, TimeSpan.FromMinutes(1));
        var options = new TestOptions { Transport = new HttpClientTransport(new HttpClient(service)) };
        options.Retry.MaxRetries = 0;
        guard.AddTo(options);
        return (HttpPipelineBuilder.Build(options), service);
    }

    private static async Task SendAsync(HttpPipeline pipeline, string path)
    {
        using var message = pipeline.CreateMessage();
        message.Request.Method = RequestMethod.Get;
        message.Request.Uri.Reset(new Uri("http://127.0.0.1:1/" + path));
        await pipeline.SendAsync(message, CancellationToken.None);
    }

    private sealed class TestOptions : ClientOptions;

    /// <summary>Answers "fast" at once (until it hangs), and "slow" when told to.</summary>
    private sealed class Service : HttpMessageHandler
    {
        private readonly TaskCompletionSource slow = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource hung = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Hung => hung.Task.IsCompleted;

        public void AnswerSlow() => slow.TrySetResult();

        public void Hang() => hung.TrySetResult();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri!.AbsolutePath == "/slow" || Hung) await slow.Task.WaitAsync(cancellationToken);
            return new HttpResponseMessage(HttpStatusCode.OK);
        }
    }
}
