using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// The backend's answer passes through unchanged (SPEC section 5), its trailers included: an
/// HTTP/2 backend that ends its answer with trailers (gRPC's status, a checksum) must reach an
/// HTTP/2 agent with them, whether the gateway held the answer for its receipt or streamed it.
/// </summary>
public sealed class ResponseTrailerTests
{
    [Theory]
    [InlineData("application/json")]
    [InlineData("text/event-stream")]
    public async Task A_backends_trailers_reach_an_http2_agent(string contentType)
    {
        await using var backend = await Http2Backend.StartAsync(async context =>
        {
            // The request body is read first: an answer that ends before the backend read it is
            // EarlyAnswerTests' subject (a streamed one may then be cut, when the forwarder reports
            // the unread body as a failure first), not this test's, and raced with it here.
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.ContentType = contentType;
            context.Response.DeclareTrailer("x-checksum");
            await context.Response.WriteAsync("""{"ok":true}""");
            context.Response.AppendTrailer("x-checksum", "abc123");
        });
        var settings = ProxyConfig.Route("report", "report_status", "v1", backend.Address);
        settings["ReverseProxy:Clusters:report:HttpRequest:Version"] = "2";
        settings["ReverseProxy:Clusters:report:HttpRequest:VersionPolicy"] = "RequestVersionExact";
        await AssertTrailerPassesAsync(settings, contentType);
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("text/event-stream")]
    public async Task An_http1_backends_chunked_trailers_reach_an_http2_agent(string contentType)
    {
        using var backend = new RecordingBackend(
            $"HTTP/1.1 200 OK\r\nContent-Type: {contentType}\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n"
            + "b\r\n{\"ok\":true}\r\n0\r\nx-checksum: abc123\r\n\r\n");
        await AssertTrailerPassesAsync(ProxyConfig.Route("report", "report_status", "v1", backend.Address), contentType);
    }

    [Theory]
    [InlineData("application/json", false)]
    [InlineData("text/event-stream", false)]
    [InlineData("application/json", true)]
    public async Task A_backends_own_receipt_and_exec_id_trailers_never_reach_the_agent(string contentType, bool passThrough)
    {
        // The gateway's two headers were kept from the backend in the answer's head only: sent as
        // trailers they reached an HTTP/2 agent beside (or, streamed, instead of) the gateway's own.
        using var backend = new RecordingBackend(
            $"HTTP/1.1 200 OK\r\nContent-Type: {contentType}\r\nTransfer-Encoding: chunked\r\nTrailer: OpenExec-Receipt, openexec-exec-id, x-checksum\r\n\r\n"
            + "b\r\n{\"ok\":true}\r\n0\r\nOpenExec-Receipt: 0000000000000000000000000000000000000000000000000000000000000000\r\nopenexec-exec-id: ex_forged\r\nx-checksum: abc123\r\n\r\n");
        await using var gateway = await GatewayServer.StartAsync(Http2Agent.Serve(ProxyConfig.Route("report", "report_status", "v1", backend.Address, passThrough: passThrough)));

        using var request = Http2Agent.Exact(new HttpRequestMessage(passThrough ? HttpMethod.Get : HttpMethod.Post, "/v1/report")
        {
            Content = passThrough ? null : new StringContent("""{"n":1}""", new MediaTypeHeaderValue("application/json")),
        });
        request.Headers.Add("Idempotency-Key", "k-forged-trailer-" + contentType);
        var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"ok":true}""", await response.Content.ReadAsStringAsync());
        Assert.True(response.TrailingHeaders.TryGetValues("x-checksum", out var values), "the backend's other trailer was dropped");
        Assert.Equal("abc123", values!.Single());
        Assert.False(response.TrailingHeaders.Contains("OpenExec-Receipt"), "the backend's OpenExec-Receipt trailer reached the agent");
        Assert.False(response.TrailingHeaders.Contains("OpenExec-Exec-Id"), "the backend's OpenExec-Exec-Id trailer reached the agent");
        if (passThrough)
        {
            Assert.False(response.Headers.Contains("OpenExec-Exec-Id"));
        }
        else
        {
            Assert.StartsWith("ex_", Assert.Single(response.Headers.GetValues("OpenExec-Exec-Id")), StringComparison.Ordinal);
        }
    }

    private static async Task AssertTrailerPassesAsync(Dictionary<string, string?> settings, string contentType)
    {
        await using var gateway = await GatewayServer.StartAsync(Http2Agent.Serve(settings));

        using var request = Http2Agent.Exact(new HttpRequestMessage(HttpMethod.Post, "/v1/report")
        {
            Content = new StringContent("""{"n":1}""", new MediaTypeHeaderValue("application/json")),
        });
        request.Headers.Add("Idempotency-Key", "k-trailer-" + contentType);
        var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("""{"ok":true}""", await response.Content.ReadAsStringAsync());
        Assert.True(response.TrailingHeaders.TryGetValues("x-checksum", out var values), "the backend's trailer was dropped");
        Assert.Equal("abc123", values!.Single());
        Assert.True(response.Headers.Contains("OpenExec-Exec-Id"));
    }
}
