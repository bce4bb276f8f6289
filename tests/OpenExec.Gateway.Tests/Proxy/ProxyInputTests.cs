using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using OpenExec.Core.Approvals;
using OpenExec.Core.Json;
using OpenExec.Gateway.Tests.Infrastructure;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>What a proxied request may carry, and what reaches the backend (SPEC section 5).</summary>
public sealed class ProxyInputTests : IDisposable
{
    private readonly WireMockServer _backend = WireMockServer.Start();

    public ProxyInputTests()
        => _backend.Given(Request.Create().WithPath("/*")).RespondWith(Response.Create().WithStatusCode(200).WithBody("""{"ok":true}"""));

    public void Dispose() => _backend.Stop();

    private string Backend => _backend.Urls[0] + "/";

    [Fact]
    public async Task A_non_json_body_is_forwarded_byte_for_byte_and_hashed_as_bytes()
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("up", "upload", "files", Backend));
        var bytes = Enumerable.Range(0, 3000).Select(i => (byte)(i * 7)).ToArray();
        var request = new HttpRequestMessage(HttpMethod.Put, "/files/a.bin") { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        request.Headers.TryAddWithoutValidation("Idempotency-Key", "bin-1");

        var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = Assert.Single(_backend.LogEntries).RequestMessage;
        Assert.Equal(bytes, seen.BodyAsBytes);
        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{response.Headers.GetValues("OpenExec-Exec-Id").Single()}"));
        var expected = ActionHash.Compute("upload", new StrictObject(
        [
            new("method", new StrictString("PUT")),
            new("path", new StrictString("/files/a.bin")),
            new("query", new StrictString("")),
            new("body", new StrictObject(
            [
                new("content_type", new StrictString("application/octet-stream")),
                new("length", new StrictNumber("3000")),
                new("sha256", new StrictString(Convert.ToHexStringLower(SHA256.HashData(bytes)))),
            ])),
        ]));
        Assert.Equal(expected, receipt.GetProperty("body").Str("request_sha256"));
    }

    [Fact]
    public async Task Bodies_over_the_limit_and_encoded_bodies_are_refused_before_the_backend()
    {
        var settings = ProxyConfig.Route("up", "upload", "files", Backend);
        settings["OpenExec:MaxRequestBodyBytes"] = "4096";
        await using var gateway = await GatewayServer.StartAsync(settings);

        var big = new HttpRequestMessage(HttpMethod.Post, "/files/x") { Content = new ByteArrayContent(new byte[5000]) };
        big.Headers.TryAddWithoutValidation("Idempotency-Key", "big");
        var tooBig = await gateway.Client.SendAsync(big);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBig.StatusCode);
        Assert.Equal("body_too_large", (await Json.ReadAsync(tooBig)).Str("code"));

        // Chunked, so no Content-Length to refuse early: the limit holds while reading.
        var (status, text) = await RawHttp.SendAsync(gateway.BaseAddress,
            "POST /files/y HTTP/1.1\r\nHost: x\r\nIdempotency-Key: chunked\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            Encoding.ASCII.GetBytes("1388\r\n" + new string('a', 5000) + "\r\n0\r\n\r\n"));
        Assert.Equal(413, status);
        Assert.Contains("body_too_large", text, StringComparison.Ordinal);

        var gzip = new HttpRequestMessage(HttpMethod.Post, "/files/z") { Content = new ByteArrayContent([1, 2, 3]) };
        gzip.Content.Headers.ContentEncoding.Add("gzip");
        gzip.Headers.TryAddWithoutValidation("Idempotency-Key", "gz");
        var encoded = await gateway.Client.SendAsync(gzip);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, encoded.StatusCode);

        Assert.Empty(_backend.LogEntries);
    }

    [Theory]
    [InlineData("/files/a")]
    [InlineData("/execute")]
    public async Task A_request_with_both_transfer_encoding_and_content_length_is_refused_before_anything_runs(string path)
    {
        // A hop before the gateway that framed by the length saw another body than the chunks.
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("up", "upload", "files", Backend));
        var json = path == "/execute" ? """{"action":"echo","payload":{"a":1},"nonce":"te-cl"}""" : """{"a":1}""";
        var chunked = Encoding.ASCII.GetBytes($"{json.Length:x}\r\n{json}\r\n0\r\n\r\n");

        var (status, text) = await RawHttp.SendAsync(gateway.BaseAddress,
            $"POST {path} HTTP/1.1\r\nHost: x\r\nIdempotency-Key: te-cl\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", chunked);

        Assert.Equal(400, status);
        Assert.Contains("\"code\":\"invalid_request\"", text, StringComparison.Ordinal);
        Assert.Contains("Transfer-Encoding and Content-Length", text, StringComparison.Ordinal);
        Assert.Empty(_backend.LogEntries);
        Assert.Empty(await gateway.ReceiptsAsync());

        // Nothing was consumed: the same nonce, framed once, runs.
        var (retried, _) = await RawHttp.SendAsync(gateway.BaseAddress,
            $"POST {path} HTTP/1.1\r\nHost: x\r\nIdempotency-Key: te-cl\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", chunked);
        Assert.Equal(200, retried);
    }

    [Theory]
    [InlineData("Transfer-Encoding: gzip, chunked\r\n", "other than chunked is not accepted")]
    [InlineData("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "names chunked 2 times")]
    [InlineData("Transfer-Encoding: chunked, chunked\r\n", "names chunked 2 times")]
    public async Task A_transfer_coding_other_than_one_chunked_is_refused_with_what_is_wrong(string framing, string detail)
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("up", "upload", "files", Backend));
        var chunked = Encoding.ASCII.GetBytes("7\r\n{\"a\":1}\r\n0\r\n\r\n");

        var (status, text) = await RawHttp.SendAsync(gateway.BaseAddress,
            $"POST /files/a HTTP/1.1\r\nHost: x\r\nIdempotency-Key: te\r\nContent-Type: application/json\r\n{framing}Connection: close\r\n\r\n", chunked);

        Assert.Equal(415, status);
        Assert.Contains("\"code\":\"unsupported_media_type\"", text, StringComparison.Ordinal);
        Assert.Contains(detail, text, StringComparison.Ordinal);
        Assert.DoesNotContain("uncompressed", detail == "names chunked 2 times" ? text : "", StringComparison.Ordinal);
        Assert.Empty(_backend.LogEntries);
    }

    [Fact]
    public async Task Hop_by_hop_and_method_override_headers_are_not_forwarded()
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", Backend));
        var (status, _) = await RawHttp.SendAsync(gateway.BaseAddress,
            "POST /v1/a HTTP/1.1\r\nHost: x\r\nIdempotency-Key: hop\r\nConnection: X-Secret-Hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\n" +
            "X-HTTP-Method: DELETE\r\nX-Method-Override: DELETE\r\nOpenExec-Nonce: hop\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n", "{}"u8.ToArray());

        Assert.Equal(200, status);
        var headers = Assert.Single(_backend.LogEntries).RequestMessage.Headers!;
        foreach (var name in new[] { "X-Secret-Hop", "Keep-Alive", "X-HTTP-Method", "X-Method-Override", "OpenExec-Nonce" })
        {
            Assert.False(headers.ContainsKey(name), name + ": " + string.Join(" | ", headers.Select(h => h.Key + "=" + string.Join(",", h.Value))));
        }
        Assert.Equal("hop", headers["Idempotency-Key"].Single());
    }

    /// <summary>
    /// Methods are case-sensitive: "head" is not HEAD. Forwarded, it went out as HEAD and its
    /// bodyless answer reached the agent as a 500 (pass-through) or cut off (an action route: a
    /// 200 announcing a body that never came, then the connection aborted).
    /// </summary>
    [Theory]
    [InlineData(true, "head")]
    [InlineData(true, "Head")]
    [InlineData(true, "get")]
    [InlineData(false, "head")]
    [InlineData(false, "hEAD")]
    public async Task A_read_method_not_written_upper_case_is_refused_before_the_backend(bool passThrough, string method)
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", passThrough ? "" : "op", "v1", Backend, passThrough: passThrough));

        var (status, answer) = await RawHttp.SendAsync(gateway.BaseAddress,
            $"{method} /v1/a HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-case\r\nConnection: close\r\n\r\n");

        Assert.Equal(405, status);
        Assert.Contains("method_not_allowed", answer, StringComparison.Ordinal);
        Assert.Empty(_backend.LogEntries);
        if (!passThrough)
        {
            // Refused as input: the nonce stays free for the request as meant.
            var (head, _) = await RawHttp.SendAsync(gateway.BaseAddress, "HEAD /v1/a HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-case\r\nConnection: close\r\n\r\n");
            Assert.Equal(200, head);
            Assert.Equal("HEAD", Assert.Single(_backend.LogEntries).RequestMessage.Method);
        }
    }

    /// <summary>
    /// An Upgrade request is refused before anything is claimed or sent: a backend answering 101
    /// opened a tunnel through which further bytes (a second request included) reached it
    /// unchecked, with no receipt until the tunnel idled out, and the gateway then failed writing
    /// its own answer on the upgraded connection.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_upgrade_request_is_refused_and_no_tunnel_opens(bool passThrough)
    {
        using var backend = new RecordingBackend("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", passThrough ? "" : "op", "v1", backend.Address, passThrough: passThrough));

        var (status, answer) = await RawHttp.SendAsync(gateway.BaseAddress,
            "GET /v1/socket HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-up\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" +
            "DELETE /v1/everything HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");

        Assert.Equal(400, status);
        Assert.Contains("invalid_request", answer, StringComparison.Ordinal);
        Assert.Equal(0, backend.Requests);
        if (passThrough)
        {
            return;
        }

        // Nothing was claimed. The same nonce without the upgrade is forwarded; a 101 to a request
        // that asked for none opens nothing either: the call's outcome is unknown, and receipted.
        var plain = await RawHttp.SendAsync(gateway.BaseAddress, "GET /v1/socket HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-up\r\nConnection: close\r\n\r\n");
        Assert.Equal(504, plain.Status);
        Assert.Contains("outcome_unknown", plain.Response, StringComparison.Ordinal);
        Assert.Equal(1, backend.Requests);
    }

    /// <summary>
    /// A request with a body is never upgradable (Kestrel), so no tunnel can open: its Upgrade
    /// header is dropped as the hop-by-hop header it is and it runs as the ordinary request it is
    /// (README: the refusal covers upgradable requests).
    /// </summary>
    [Fact]
    public async Task An_upgrade_header_on_a_request_with_a_body_is_dropped_and_the_request_runs()
    {
        using var backend = new RecordingBackend();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", backend.Address));

        var (status, _) = await RawHttp.SendAsync(gateway.BaseAddress,
            "POST /v1/send HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-up-body\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n" +
            "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");

        Assert.Equal(200, status);
        var seen = Assert.Single(backend.Seen);
        Assert.StartsWith("POST /v1/send ", seen.Head, StringComparison.Ordinal);
        Assert.DoesNotContain("Upgrade", seen.Head, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("{}", Encoding.ASCII.GetString(seen.Body));
    }

    /// <summary>
    /// The optional offer to switch to cleartext HTTP/2 (<c>Upgrade: h2c</c>), which the JDK's
    /// HttpClient and curl --http2 add to every request without a body, is ignored as RFC 7540
    /// section 3.2 allows: the request is answered over HTTP/1.1 (it was refused as an upgrade, so
    /// every bodyless call of a default JDK client failed). Nothing of the offer reaches the
    /// backend, and a request pipelined behind it on the same connection is its own request, never
    /// read as the first one's body.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_offer_to_upgrade_to_h2c_is_ignored_and_the_request_answered_over_http1(bool passThrough)
    {
        using var backend = new RecordingBackend();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", passThrough ? "" : "op", "v1", backend.Address, passThrough: passThrough));

        var offer = "GET /v1/items HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
        var next = "GET /v1/other HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-next\r\nConnection: close\r\n\r\n";
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(gateway.BaseAddress.Host, gateway.BaseAddress.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(offer + next));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        using var received = new MemoryStream();
        await stream.CopyToAsync(received, timeout.Token);
        var answers = Encoding.UTF8.GetString(received.ToArray());

        Assert.Equal(2, answers.Split("HTTP/1.1 200 OK").Length - 1);
        Assert.DoesNotContain("101", answers.Split("\r\n")[0], StringComparison.Ordinal);
        var seen = backend.Seen.ToArray();
        Assert.Equal(2, seen.Length);
        Assert.StartsWith("GET /v1/items ", seen[0].Head, StringComparison.Ordinal);
        Assert.StartsWith("GET /v1/other ", seen[1].Head, StringComparison.Ordinal);
        Assert.Empty(seen[0].Body);
        foreach (var name in new[] { "Upgrade:", "HTTP2-Settings:", "Connection: Upgrade" })
        {
            Assert.DoesNotContain(name, seen[0].Head, StringComparison.OrdinalIgnoreCase);
        }

        // Any other upgrade, or h2c beside another protocol, is still refused.
        var (status, answer) = await RawHttp.SendAsync(gateway.BaseAddress, "GET /v1/items HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-two\r\nConnection: Upgrade\r\nUpgrade: h2c, websocket\r\n\r\n");
        Assert.Equal(400, status);
        Assert.Contains("invalid_request", answer, StringComparison.Ordinal);
        Assert.Equal(2, backend.Requests);
        if (passThrough)
        {
            return;
        }

        // With a body (which these clients do not send with the offer, others may): the body is
        // the request's body, and what follows it on the connection is the next request.
        var smuggled = "GET /v1/smuggled HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-smuggled\r\n\r\n";
        var withBody = $"POST /v1/items HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-body\r\nContent-Type: text/plain\r\nContent-Length: {smuggled.Length}\r\n"
            + $"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n{smuggled}";
        using var second = new System.Net.Sockets.TcpClient();
        await second.ConnectAsync(gateway.BaseAddress.Host, gateway.BaseAddress.Port);
        var secondStream = second.GetStream();
        await secondStream.WriteAsync(Encoding.ASCII.GetBytes(withBody + next.Replace("k-next", "k-after", StringComparison.Ordinal)));
        using var secondReceived = new MemoryStream();
        await secondStream.CopyToAsync(secondReceived, timeout.Token);
        Assert.Equal(2, Encoding.UTF8.GetString(secondReceived.ToArray()).Split("HTTP/1.1 200 OK").Length - 1);
        seen = backend.Seen.ToArray();
        Assert.Equal(4, seen.Length);
        Assert.StartsWith("POST /v1/items ", seen[2].Head, StringComparison.Ordinal);
        Assert.Equal(smuggled, Encoding.ASCII.GetString(seen[2].Body));
        Assert.StartsWith("GET /v1/other ", seen[3].Head, StringComparison.Ordinal);
    }

    /// <summary>
    /// A header a route transform makes from the request (here from the path) with a character
    /// outside ASCII cannot be sent: the HTTP client failed once the call was under way, which read
    /// as 504 outcome_unknown with the nonce spent, though nothing had left. Now nothing is sent,
    /// 502, and the nonce is free again.
    /// </summary>
    [Fact]
    public async Task A_header_a_route_transform_makes_outside_ASCII_fails_before_anything_is_sent()
    {
        using var backend = new RecordingBackend();
        var settings = ProxyConfig.Route("h", "h_op", "h", backend.Address);
        settings["ReverseProxy:Routes:h:Transforms:0:RequestHeaderRouteValue"] = "X-Rest";
        settings["ReverseProxy:Routes:h:Transforms:0:Set"] = "rest";
        await using var gateway = await GatewayServer.StartAsync(settings);

        var (status, answer) = await RawHttp.SendAsync(gateway.BaseAddress, "POST /h/caf%C3%A9 HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-cafe\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
        Assert.Equal(502, status);
        Assert.Contains("upstream_failed", answer, StringComparison.Ordinal);
        Assert.Equal(0, backend.Requests);

        // Released: the same nonce on a path the transform can send runs.
        var (again, _) = await RawHttp.SendAsync(gateway.BaseAddress, "POST /h/cafe HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-cafe\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
        Assert.Equal(200, again);
        Assert.Equal(1, backend.Requests);
    }

    [Fact]
    public async Task A_pass_through_route_forwards_reads_only()
    {
        var settings = ProxyConfig.Route("docs", "", "docs", Backend, passThrough: true);
        await using var gateway = await GatewayServer.StartAsync(settings);

        var read = await gateway.Client.GetAsync("/docs/index");
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);

        // The backend's own empty 404 reaches the agent as it is, not as a gateway problem.
        _backend.Given(Request.Create().WithPath("/docs/missing")).RespondWith(Response.Create().WithStatusCode(404));
        var missing = await gateway.Client.GetAsync("/docs/missing");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("", await missing.Content.ReadAsStringAsync());

        var write = await gateway.Client.PostAsync("/docs/index", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, write.StatusCode);
        Assert.Equal("method_not_allowed", (await Json.ReadAsync(write)).Str("code"));
        Assert.Equal(2, _backend.LogEntries.Count());

        var health = await Json.ReadAsync(await gateway.Client.GetAsync("/health"));
        Assert.Contains(health.GetProperty("warnings").EnumerateArray(), w => w.GetString()!.Contains("docs", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_pass_through_route_drops_method_overrides_and_approvals_too()
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("docs", "", "docs", Backend, passThrough: true));
        var request = new HttpRequestMessage(HttpMethod.Get, "/docs/index");
        request.Headers.TryAddWithoutValidation("X-HTTP-Method-Override", "DELETE");
        request.Headers.TryAddWithoutValidation("X-HTTP-Method", "DELETE");
        request.Headers.TryAddWithoutValidation("X-Method-Override", "DELETE");
        request.Headers.TryAddWithoutValidation("OpenExec-Approval", "an-approval");
        request.Headers.TryAddWithoutValidation("X-Original-URL", "/admin/delete");
        request.Headers.TryAddWithoutValidation("X-Rewrite-URL", "/admin/delete");
        request.Headers.TryAddWithoutValidation("X-Original-Method", "DELETE");
        request.Headers.TryAddWithoutValidation("X-Override-Method", "DELETE");
        request.Headers.TryAddWithoutValidation("X-Kept", "yes");
        // The gateway's own nonce header is never forwarded (README): nothing is claimed on a
        // pass-through; the agent's Idempotency-Key is its own and passes.
        request.Headers.TryAddWithoutValidation("OpenExec-Nonce", "n-1");
        request.Headers.TryAddWithoutValidation("Idempotency-Key", "k-1");

        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.SendAsync(request)).StatusCode);

        var seen = Assert.Single(_backend.LogEntries).RequestMessage.Headers!;
        foreach (var dropped in new[] { "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "OpenExec-Approval", "X-Original-URL", "X-Rewrite-URL", "X-Original-Method", "X-Override-Method", "OpenExec-Nonce" })
        {
            Assert.DoesNotContain(seen.Keys, k => string.Equals(k, dropped, StringComparison.OrdinalIgnoreCase));
        }
        Assert.Contains(seen.Keys, k => string.Equals(k, "X-Kept", StringComparison.OrdinalIgnoreCase));
        Assert.Equal("k-1", seen["Idempotency-Key"].Single());
    }

    /// <summary>Spellings with '_' of headers the gateway drops: CGI-style servers (WSGI, Rack, PHP) read X_HTTP_Method_Override as X-HTTP-Method-Override.</summary>
    private static readonly string[] DroppedLookAlikes =
        ["X_HTTP_Method_Override", "x_http_method", "X_Method_Override", "OpenExec_Approval", "X_Original_URL", "X_Rewrite_URL", "X_Original_Method", "X_Override_Method",
         "X_Forwarded_Host", "X_Forwarded_For", "X-Forwarded_Proto", "X_Forwarded_Prefix", "X_Host", "X_Original_Host", "Proxy_Authorization", "Keep_Alive"];

    [Fact]
    public async Task Look_alikes_spelt_with_underscores_of_dropped_and_controlled_headers_never_reach_an_action_backend()
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", Backend));
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/a") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", "under-1");
        foreach (var name in DroppedLookAlikes)
        {
            request.Headers.TryAddWithoutValidation(name, "DELETE");
        }
        // What the forwarding sets or checks: the backend's one Idempotency-Key, Content-Type, length, codings, Host.
        foreach (var name in new[] { "Idempotency_Key", "OpenExec_Nonce", "Content_Type", "Content_Length", "Content_Encoding", "Content_Range", "Transfer_Encoding", "Accept_Encoding" })
        {
            request.Headers.TryAddWithoutValidation(name, "attacker-chosen");
        }
        request.Headers.TryAddWithoutValidation("X_Kept_Header", "yes");

        var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = Assert.Single(_backend.LogEntries).RequestMessage.Headers!;
        Assert.DoesNotContain(seen.Keys, k => k.Contains('_', StringComparison.Ordinal) && k != "X_Kept_Header");
        Assert.Equal("under-1", Assert.Single(seen["Idempotency-Key"]));
        Assert.Equal("yes", Assert.Single(seen["X_Kept_Header"]));
    }

    [Fact]
    public async Task A_pass_through_route_drops_the_underscore_look_alikes_too()
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("docs", "", "docs", Backend, passThrough: true));
        var request = new HttpRequestMessage(HttpMethod.Get, "/docs/index");
        foreach (var name in DroppedLookAlikes)
        {
            request.Headers.TryAddWithoutValidation(name, "DELETE");
        }
        request.Headers.TryAddWithoutValidation("X_Kept_Header", "yes");

        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.SendAsync(request)).StatusCode);

        var seen = Assert.Single(_backend.LogEntries).RequestMessage.Headers!;
        Assert.DoesNotContain(seen.Keys, k => k.Contains('_', StringComparison.Ordinal) && k != "X_Kept_Header");
        Assert.Equal("yes", Assert.Single(seen["X_Kept_Header"]));
    }

    [Fact]
    public async Task A_partial_write_with_content_range_is_refused_before_anything_is_claimed()
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", Backend));
        var text = await RefusedBeforeAnythingAsync(gateway,
            "PUT /v1/file HTTP/1.1\r\nHost: x\r\nIdempotency-Key: range-1\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-1/100\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab",
            400, "invalid_request");

        Assert.Contains("Content-Range", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_absolute_form_target_is_refused_naming_what_to_do_instead()
    {
        // A client set up to use the gateway as an HTTP proxy sends "POST http://host/path".
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", Backend));
        var text = await RefusedBeforeAnythingAsync(gateway,
            "POST http://tools.example/v1/a HTTP/1.1\r\nHost: tools.example\r\nIdempotency-Key: abs\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            400, "path_not_canonical");

        Assert.Contains("not as an HTTP proxy", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_connect_to_an_action_route_is_refused_before_the_nonce_is_claimed()
    {
        // YARP cannot forward CONNECT; it used to fail after the claim and answer 504
        // outcome_unknown, keeping the nonce although nothing reached the backend.
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", Backend));
        await RefusedBeforeAnythingAsync(gateway,
            "CONNECT /v1/a HTTP/1.1\r\nHost: x\r\nIdempotency-Key: tunnel\r\nConnection: close\r\n\r\n",
            405, "method_not_allowed");

        // Nothing was consumed: the nonce still runs a real request.
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/a") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", "tunnel");
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.SendAsync(request)).StatusCode);
    }

    /// <summary>
    /// Sends a raw request and checks it was refused with its status and code before anything
    /// happened: the backend never called, nothing receipted. Returns the answer.
    /// </summary>
    private async Task<string> RefusedBeforeAnythingAsync(GatewayServer gateway, string request, int status, string code)
    {
        var (answered, text) = await RawHttp.SendAsync(gateway.BaseAddress, request);

        Assert.Equal(status, answered);
        Assert.Contains($"\"code\":\"{code}\"", text, StringComparison.Ordinal);
        Assert.Empty(_backend.LogEntries);
        Assert.Empty(await gateway.ReceiptsAsync());
        return text;
    }

    [Fact]
    public async Task A_route_without_action_metadata_stops_the_gateway_from_starting()
    {
        var settings = ProxyConfig.Route("naked", "x", "v1", Backend);
        settings.Remove("ReverseProxy:Routes:naked:Metadata:OpenExec.Action");

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => GatewayServer.StartAsync(settings));
        Assert.Contains("ReverseProxy:Routes:naked", refused.Message, StringComparison.Ordinal);
        Assert.Contains("OpenExec.Action", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_method_reaches_the_backend_as_the_upper_case_method_the_approval_covers()
    {
        // The action hash covers the upper-case method (SPEC section 5); methods are case-sensitive
        // (RFC 9110 9.1), so a lower-case "purge" must reach the backend as the "PURGE" approved.
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "tool", "v1", Backend));
        var request = new HttpRequestMessage(new HttpMethod("purge"), "/v1/cache");
        request.Headers.TryAddWithoutValidation("Idempotency-Key", "purge-1");

        var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("PURGE", Assert.Single(_backend.LogEntries).RequestMessage.Method);
        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{response.Headers.GetValues("OpenExec-Exec-Id").Single()}"));
        var approved = ActionHash.Compute("tool", ProxiedRequestPayload.Create("PURGE", "/v1/cache", "", ProxiedRequestPayload.Body(null, [])));
        Assert.Equal(approved, receipt.GetProperty("body").Str("request_sha256"));
    }
}
