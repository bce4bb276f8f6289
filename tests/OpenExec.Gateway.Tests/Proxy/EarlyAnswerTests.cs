using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// A backend that answers before it has read the request body (a refusal of an upload it will
/// not take): over HTTP/2 it then resets the rest of the request body (RFC 9113 section 8.1), and
/// the forwarder reports that only after it has passed on the whole answer.
/// </summary>
public sealed class EarlyAnswerTests
{
    private const string Refusal = """{"error":"upload refused"}""";

    [Fact]
    public async Task An_http2_backends_complete_answer_before_reading_the_body_passes_through_and_is_receipted()
    {
        await using var backend = await Http2Backend.StartAsync(async context =>
        {
            context.Response.StatusCode = 413;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(Refusal);
        });

        var settings = ProxyConfig.Route("upload", "upload_file", "v1", backend.Address);
        settings["ReverseProxy:Clusters:upload:HttpRequest:Version"] = "2";
        settings["ReverseProxy:Clusters:upload:HttpRequest:VersionPolicy"] = "RequestVersionExact";
        await using var gateway = await GatewayServer.StartAsync(settings);

        // Larger than the HTTP/2 window the backend grants, so the backend answers while the
        // gateway is still sending.
        var response = await gateway.Client.SendAsync(Upload());

        // It was a 504 outcome_unknown: the backend's own, complete refusal was thrown away.
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal(Refusal, await response.Content.ReadAsStringAsync());
        var execId = response.Headers.GetValues("OpenExec-Exec-Id").Single();
        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{execId}"));
        Assert.Equal(receipt.Str("hash"), response.Headers.GetValues("OpenExec-Receipt").Single());
        var body = receipt.GetProperty("body");
        Assert.Equal(("executed", 413), (body.Str("decision"), body.GetProperty("upstream_status").GetInt32()));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Refusal))), body.Str("result_sha256"));
        Assert.Equal(1, backend.Calls);

        var replay = await GatewayAssert.ProblemAsync(await gateway.Client.SendAsync(Upload()), HttpStatusCode.Conflict, "replay_denied");
        Assert.Equal("executed", replay.GetProperty("original").Str("decision"));
        Assert.Equal(1, backend.Calls);
    }

    private static HttpRequestMessage Upload()
    {
        var upload = new HttpRequestMessage(HttpMethod.Post, "/v1/upload") { Content = new ByteArrayContent(new byte[900_000]) };
        upload.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        upload.Headers.Add("Idempotency-Key", "k-early");
        return upload;
    }
}
