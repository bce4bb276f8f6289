using Microsoft.Extensions.Logging;
using System.Net;
using System.Net.Http.Headers;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Http;

/// <summary>
/// An HTTP/2 agent that gives up on a request in the middle of its body (a reset stream, a closed
/// connection) has gone: nothing ran and nothing is left to answer. Each such stream was logged as
/// an "Unhandled error" with its stack, so one client could flood the log with a few connections.
/// </summary>
public sealed class AbortedBodyLogTests
{
    [Theory]
    [InlineData("/execute")]
    [InlineData("/v1/op")]
    public async Task An_http2_agent_that_resets_its_stream_mid_body_is_not_an_unhandled_error(string path)
    {
        using var backend = new RecordingBackend();
        var logs = new LogCapture();
        await using var gateway = Http2Agent.Use(await GatewayServer.StartAsync(Http2Agent.Serve(ProxyConfig.Route("op", "op", "v1", backend.Address)), configure: builder => builder.Logging.AddProvider(logs)));

        for (var i = 0; i < 3; i++)
        {
            using var giveUp = new CancellationTokenSource();
            var content = new PartThenWait(giveUp);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            content.Headers.ContentLength = 100;
            var request = Http2Agent.Exact(new HttpRequestMessage(HttpMethod.Post, path) { Content = content });
            request.Headers.Add("Idempotency-Key", $"k-gone-{i}");
            await Assert.ThrowsAnyAsync<Exception>(() => gateway.Client.SendAsync(request, giveUp.Token));
        }

        // The gateway still serves, ran nothing, and logged no unhandled error for the streams.
        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("echo", new { msg = "after" }, "n-after")).StatusCode);
        for (var i = 0; i < 20 && !logs.Lines.Any(l => l.Contains("Unhandled error", StringComparison.Ordinal)); i++)
        {
            await Task.Delay(50);
        }
        Assert.DoesNotContain(logs.Lines, l => l.Contains("Unhandled error", StringComparison.Ordinal));
        Assert.Equal(0, backend.Requests);
    }

    /// <summary>Sends the first bytes of a body, then gives the request up (HttpClient resets the stream).</summary>
    private sealed class PartThenWait(CancellationTokenSource giveUp) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync("{\"action\":\"echo\","u8.ToArray());
            await stream.FlushAsync();
            await Task.Delay(300);
            await giveUp.CancelAsync();
            await Task.Delay(Timeout.Infinite, giveUp.Token);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 100;
            return true;
        }
    }
}
