using System.Net;
using System.Net.Http.Headers;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// An HTTP/2 backend whose body does not match the <c>content-length</c> it declared sent a
/// malformed, so incomplete, answer (RFC 9113 section 8.1.1). HttpClient does not check that
/// over HTTP/2: a held answer reached the agent re-framed to the bytes that came, looking
/// complete, and a streamed one was cut by Kestrel; both were receipted executed.
/// </summary>
public sealed class DeclaredLengthTests
{
    [Theory]
    [InlineData("application/json", 100, 50)]
    [InlineData("application/json", 50, 100)]
    [InlineData("text/event-stream", 100, 50)]
    public async Task A_body_that_does_not_match_its_declared_length_is_never_passed_off_as_complete(string contentType, int declared, int sent)
    {
        using var backend = new RawHttp2Backend(
            [(":status", "200"), ("content-type", contentType), ("content-length", declared.ToString(System.Globalization.CultureInfo.InvariantCulture))],
            Enumerable.Repeat((byte)'a', sent).ToArray());
        var settings = ProxyConfig.Route("r", "report", "v1", backend.Address);
        settings["ReverseProxy:Clusters:r:HttpRequest:Version"] = "2";
        settings["ReverseProxy:Clusters:r:HttpRequest:VersionPolicy"] = "RequestVersionExact";
        await using var gateway = await GatewayServer.StartAsync(settings);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/report") { Content = new StringContent("{}", new MediaTypeHeaderValue("application/json")) };
        request.Headers.Add("Idempotency-Key", "k-length");
        string? execId = null;
        try
        {
            using var response = await gateway.Client.SendAsync(request);
            execId = response.Headers.GetValues("OpenExec-Exec-Id").Single();
            var body = await response.Content.ReadAsByteArrayAsync();
            // Held: the gateway's own 504. Streamed: never a whole 200 of the declared length.
            Assert.True(response.StatusCode == HttpStatusCode.GatewayTimeout || body.Length != sent, $"{(int)response.StatusCode} with {body.Length} bytes looked complete");
        }
        catch (HttpRequestException)
        {
            // Streamed: the agent's connection was cut, as for any answer that breaks off.
        }
        Assert.Equal(1, backend.Requests);

        var receipts = await gateway.Client.GetStringAsync("/receipts?after=0");
        var decisions = receipts.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("body")).ToList();
        for (var i = 0; i < 100 && decisions.Count == 0; i++)
        {
            await Task.Delay(50);
            receipts = await gateway.Client.GetStringAsync("/receipts?after=0");
            decisions = receipts.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("body")).ToList();
        }
        var receipt = Assert.Single(decisions);
        Assert.Equal("outcome_unknown", receipt.Str("decision"));
        Assert.Equal(200, receipt.GetProperty("upstream_status").GetInt32());
        if (execId is not null)
        {
            Assert.Equal(execId, receipt.Str("exec_id"));
        }
    }

    [Theory]
    [InlineData(100, "{\"ok\":true}")]
    [InlineData(100, "{\"ok\":")]
    [InlineData(5, "{\"ok\":true}")]
    public async Task Execute_of_a_routed_action_never_takes_a_body_that_does_not_match_its_declared_length_for_its_result(int declared, string sent)
    {
        // The same backend through /execute: its 11 of 100 declared bytes were returned as the
        // result (200, executed), and a cut-off '{"ok":' was receipted executed with the hash of
        // the bytes that came, where the proxied door says outcome_unknown.
        using var backend = new RawHttp2Backend(
            [(":status", "200"), ("content-type", "application/json"), ("content-length", declared.ToString(System.Globalization.CultureInfo.InvariantCulture))],
            System.Text.Encoding.UTF8.GetBytes(sent));
        var settings = ProxyConfig.Route("r", "report", "v1", backend.Address, executePath: "/v1/report");
        settings["ReverseProxy:Clusters:r:HttpRequest:Version"] = "2";
        settings["ReverseProxy:Clusters:r:HttpRequest:VersionPolicy"] = "RequestVersionExact";
        await using var gateway = await GatewayServer.StartAsync(settings);

        using var response = await gateway.ExecuteAsync("report", new { }, "k-execute-length");

        var receipt = await AssertOutcomeUnknownAsync(gateway, response, backend);
        Assert.Equal(200, receipt.GetProperty("upstream_status").GetInt32());
    }

    /// <summary>A 504 outcome_unknown, its receipt saying so, the backend reached once: the receipt's body.</summary>
    private static async Task<System.Text.Json.JsonElement> AssertOutcomeUnknownAsync(GatewayServer gateway, HttpResponseMessage response, RawHttp2Backend backend)
    {
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        var problem = await Json.ReadAsync(response);
        Assert.Equal("outcome_unknown", problem.Str("code"));
        Assert.Equal(1, backend.Requests);
        var receipt = (await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{problem.Str("id")}"))).GetProperty("body");
        Assert.Equal("outcome_unknown", receipt.Str("decision"));
        return receipt;
    }

    [Theory]
    [InlineData(RawHttp2Backend.Refusal.RefusedStream, true)]
    [InlineData(RawHttp2Backend.Refusal.RefusedStream, false)]
    [InlineData(RawHttp2Backend.Refusal.GoAwayBeforeIt, true)]
    [InlineData(RawHttp2Backend.Refusal.GoAwayBeforeIt, false)]
    public async Task An_HTTP2_stream_the_backend_refuses_after_receiving_it_is_never_sent_again(RawHttp2Backend.Refusal refusal, bool execute)
    {
        // HttpClient re-sends a stream reset with REFUSED_STREAM, or left out of a GOAWAY, as not
        // processed: a backend that had run it ran it twice (/execute: the whole request again, up
        // to four times; a proxied call: its head again), and the receipt said executed once.
        using var backend = new RawHttp2Backend(
            [(":status", "200"), ("content-type", "application/json"), ("content-length", "11")],
            "{\"ok\":true}"u8.ToArray(), refusal);
        var settings = ProxyConfig.Route("r", "report", "v1", backend.Address, executePath: "/v1/report");
        settings["ReverseProxy:Clusters:r:HttpRequest:Version"] = "2";
        settings["ReverseProxy:Clusters:r:HttpRequest:VersionPolicy"] = "RequestVersionExact";
        settings["OpenExec:BackendTimeout"] = "00:00:10";
        await using var gateway = await GatewayServer.StartAsync(settings);

        HttpResponseMessage response;
        if (execute)
        {
            response = await gateway.ExecuteAsync("report", new { n = 1 }, "k-refused");
        }
        else
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/report") { Content = new StringContent("{\"n\":1}", new MediaTypeHeaderValue("application/json")) };
            request.Headers.Add("Idempotency-Key", "k-refused");
            response = await gateway.Client.SendAsync(request);
        }

        using (response)
        {
            await AssertOutcomeUnknownAsync(gateway, response, backend);
        }
        // Nor later: the nonce stays spent.
        var replay = execute
            ? await gateway.ExecuteAsync("report", new { n = 1 }, "k-refused")
            : await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/report") { Content = new StringContent("{\"n\":1}", new MediaTypeHeaderValue("application/json")), Headers = { { "Idempotency-Key", "k-refused" } } });
        Assert.Equal("replay_denied", (await Json.ReadAsync(replay)).Str("code"));
        Assert.Equal(1, backend.Requests);
    }

    [Fact]
    public async Task Execute_of_a_routed_action_takes_a_chunked_answer_whole_whatever_Content_Length_it_also_declares()
    {
        // Chunked framing overrides a Content-Length (RFC 9112 section 6.3), and HttpClient reads
        // by the chunks, as the proxied door passes the answer on: /execute took the whole answer
        // for a cut one (504 outcome_unknown) by the length it ignored.
        using var backend = new RecordingBackend(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 999\r\n\r\nb\r\n{\"ok\":true}\r\n0\r\n\r\n");
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "report", "v1", backend.Address, executePath: "/v1/report"));

        using var response = await gateway.ExecuteAsync("report", new { }, "k-chunked-length");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True((await Json.ReadAsync(response)).GetProperty("result").GetProperty("ok").GetBoolean());
        Assert.Equal(1, backend.Requests);
    }

    [Fact]
    public async Task A_pass_through_read_an_HTTP2_backend_refused_is_sent_again_on_a_cluster_no_action_calls()
    {
        // A read has no nonce to spend: on a cluster only pass-through routes call, the HTTP
        // client may re-send what the backend refused, as it would without the gateway.
        using var backend = new RawHttp2Backend(
            [(":status", "200"), ("content-type", "application/json"), ("content-length", "11")],
            "{\"ok\":true}"u8.ToArray(), RawHttp2Backend.Refusal.RefusedStream);
        var settings = ProxyConfig.Route("r", "reads", "v1", backend.Address, passThrough: true);
        settings["ReverseProxy:Clusters:r:HttpRequest:Version"] = "2";
        settings["ReverseProxy:Clusters:r:HttpRequest:VersionPolicy"] = "RequestVersionExact";
        await using var gateway = await GatewayServer.StartAsync(settings);

        using var response = await gateway.Client.GetAsync("/v1/items");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, backend.Requests);
    }
}
