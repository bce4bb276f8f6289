using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>Routed actions through YARP against real backends on loopback (SPEC section 5).</summary>
public sealed class ProxyTests : IDisposable
{
    private readonly WireMockServer _backend = WireMockServer.Start();

    public void Dispose() => _backend.Stop();

    private string Backend => _backend.Urls[0] + "/";

    private int Calls(string path) => _backend.LogEntries.Count(e => e.RequestMessage.Path == path);

    private void Answer(string path, int status = 200, string body = """{"ok":true}""", string contentType = "application/json", TimeSpan? delay = null)
    {
        var response = Response.Create().WithStatusCode(status).WithHeader("Content-Type", contentType).WithBody(body);
        if (delay is { } d)
        {
            response = response.WithDelay(d);
        }
        _backend.Given(Request.Create().WithPath(path)).RespondWith(response);
    }

    private static HttpRequestMessage Post(string path, string body, string? key, string contentType = "application/json")
    {
        var message = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)) };
        message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (key is not null)
        {
            message.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        }
        return message;
    }

    [Fact]
    public async Task Proxied_call_is_forwarded_once_with_exact_bytes_and_receipted()
    {
        Answer("/v1/send", body: """{"sent":true}""");
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("email", "send_email", "v1", Backend));

        const string body = """{"to":"a@example.com",  "subject":"hi"}""";
        var request = Post("/v1/send?priority=high", body, "key-1");
        request.Headers.TryAddWithoutValidation("X-HTTP-Method-Override", "DELETE");
        request.Headers.TryAddWithoutValidation("X-Original-URL", "/v1/delete_all");
        request.Headers.TryAddWithoutValidation("OpenExec-Approval", "ignored-in-demo");
        request.Headers.Host = "tenant-b.example";
        request.Headers.TryAddWithoutValidation("X-Forwarded-Host", "tenant-c.example");
        request.Headers.TryAddWithoutValidation("Forwarded", "host=tenant-d.example;proto=https");
        request.Headers.TryAddWithoutValidation("X-Forwarded-Port", "8443");
        var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = await response.Content.ReadAsStringAsync();
        Assert.Equal("""{"sent":true}""", answer);
        var execId = Assert.Single(response.Headers.GetValues("OpenExec-Exec-Id"));
        var receiptHash = Assert.Single(response.Headers.GetValues("OpenExec-Receipt"));

        var seen = Assert.Single(_backend.LogEntries).RequestMessage;
        Assert.Equal(body, seen.Body);
        Assert.Equal("/v1/send", seen.Path);
        Assert.Equal("key-1", seen.Headers!["Idempotency-Key"].Single());
        Assert.False(seen.Headers.ContainsKey("X-HTTP-Method-Override"));
        Assert.False(seen.Headers.ContainsKey("X-Original-URL"));
        Assert.False(seen.Headers.ContainsKey("OpenExec-Approval"));
        // The agent's Host is not covered by the approval: it does not reach the backend as
        // X-Forwarded-Host (the other X-Forwarded headers, the gateway's own knowledge, do).
        Assert.False(seen.Headers.ContainsKey("X-Forwarded-Host"));
        Assert.False(seen.Headers.ContainsKey("Forwarded"));
        Assert.False(seen.Headers.ContainsKey("X-Forwarded-Port"));
        Assert.True(seen.Headers.ContainsKey("X-Forwarded-For"));
        Assert.Equal(Encoding.UTF8.GetByteCount(body).ToString(System.Globalization.CultureInfo.InvariantCulture), seen.Headers["Content-Length"].Single());

        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{execId}"));
        Assert.Equal(receiptHash, receipt.Str("hash"));
        var receiptBody = receipt.GetProperty("body");
        Assert.Equal("executed", receiptBody.Str("decision"));
        Assert.Equal("send_email", receiptBody.Str("action"));
        Assert.Equal(200, receiptBody.GetProperty("upstream_status").GetInt32());
        Assert.Equal("bytes", receiptBody.Str("result_form"));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(answer))), receiptBody.Str("result_sha256"));
    }

    [Fact]
    public async Task Missing_or_conflicting_nonce_is_refused_and_the_backend_never_called()
    {
        Answer("/v1/send");
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("email", "send_email", "v1", Backend));

        var none = await gateway.Client.SendAsync(Post("/v1/send", "{}", key: null));
        Assert.Equal(HttpStatusCode.BadRequest, none.StatusCode);
        Assert.Equal("nonce_required", (await Json.ReadAsync(none)).Str("code"));

        var conflict = Post("/v1/send", "{}", "a");
        conflict.Headers.TryAddWithoutValidation("OpenExec-Nonce", "b");
        var conflicting = await gateway.Client.SendAsync(conflict);
        Assert.Equal("nonce_conflict", (await Json.ReadAsync(conflicting)).Str("code"));

        var quoted = Post("/v1/send", "{}", "\"sf-key\"");
        quoted.Headers.TryAddWithoutValidation("OpenExec-Nonce", "sf-key");
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.SendAsync(quoted)).StatusCode);

        Assert.Equal(1, Calls("/v1/send"));
        Assert.Equal("sf-key", _backend.LogEntries.Single().RequestMessage.Headers!["Idempotency-Key"].Single());
    }

    [Fact]
    public async Task A_nonce_sent_only_as_OpenExec_Nonce_runs_and_reaches_the_backend_as_Idempotency_Key()
    {
        Answer("/v1/send");
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("email", "send_email", "v1", Backend));

        var request = Post("/v1/send", "{}", key: null);
        request.Headers.TryAddWithoutValidation("OpenExec-Nonce", "only-openexec-nonce");
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.SendAsync(request)).StatusCode);

        var seen = _backend.LogEntries.Single().RequestMessage.Headers!;
        Assert.Equal("only-openexec-nonce", seen["Idempotency-Key"].Single());
        Assert.False(seen.ContainsKey("OpenExec-Nonce"));
    }

    [Fact]
    public async Task Every_nonce_reaches_the_backend_as_an_idempotency_key_of_its_own()
    {
        // Sent verbatim, " a" lost its space on the way (a header value's outer spaces are not
        // part of it) and "\"a\"" read as a to a backend that parses the header as a
        // structured-field string: another nonce's key, so a backend that deduplicates could
        // answer one request with another's result.
        Answer("/v1/op");
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("op", "op", "v1", Backend, executePath: "/v1/op"));
        string[] nonces = ["a", " a", "a ", "\"a\"", "b\"c"];
        foreach (var nonce in nonces)
        {
            await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("op", new { nonce }, nonce));
        }
        // The proxied door: a quoted key is read as the nonce inside, and forwarded the same way.
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.SendAsync(Post("/v1/op", "{}", "\" b\""))).StatusCode);

        var keys = _backend.LogEntries.Select(e => e.RequestMessage.Headers!["Idempotency-Key"].Single()).ToList();
        Assert.Equal(["a", "\" a\"", "\"a \"", "\"\\\"a\\\"\"", "b\"c", "\" b\""], keys);
    }

    /// <summary>A destination's own Host (a virtual host) is what the backend sees through both doors; /execute sent the address's.</summary>
    [Fact]
    public async Task A_destinations_host_reaches_the_backend_through_both_front_doors()
    {
        Answer("/v1/op");
        var settings = ProxyConfig.Route("op", "op", "v1", Backend, executePath: "/v1/op");
        settings["ReverseProxy:Clusters:op:Destinations:d1:Host"] = "api.internal";
        await using var gateway = await GatewayServer.StartAsync(settings);

        await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("op", new { a = 1 }, "host-1"));
        var proxied = new HttpRequestMessage(HttpMethod.Post, "/v1/op") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        proxied.Headers.Add("Idempotency-Key", "host-2");
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.SendAsync(proxied)).StatusCode);

        Assert.Equal(["api.internal", "api.internal"], _backend.LogEntries.Select(e => e.RequestMessage.Headers!["Host"].Single()).ToArray());
    }

    [Fact]
    public async Task Hundred_concurrent_calls_with_one_key_reach_the_backend_once()
    {
        Answer("/v1/pay", delay: TimeSpan.FromMilliseconds(200));
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("pay", "pay", "v1", Backend));

        var responses = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => gateway.Client.SendAsync(Post("/v1/pay", """{"amount":10}""", "pay-once"))));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.Equal(99, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict));
        Assert.Equal(1, Calls("/v1/pay"));
    }

    [Fact]
    public async Task Backend_error_passes_through_and_is_receipted_as_upstream_failed()
    {
        Answer("/v1/fail", status: 503, body: """{"error":"backend down"}""");
        Answer("/v1/bad", status: 422, body: """{"error":"bad input"}""");
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "flaky", "v1", Backend));

        var failed = await gateway.Client.SendAsync(Post("/v1/fail", "{}", "k-fail"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
        Assert.Equal("""{"error":"backend down"}""", await failed.Content.ReadAsStringAsync());
        var failedReceipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{failed.Headers.GetValues("OpenExec-Exec-Id").Single()}"));
        Assert.Equal("upstream_failed", failedReceipt.GetProperty("body").Str("decision"));
        Assert.Equal(503, failedReceipt.GetProperty("body").GetProperty("upstream_status").GetInt32());

        // The claim is kept: the backend answered, so it may have acted.
        var again = await gateway.Client.SendAsync(Post("/v1/fail", "{}", "k-fail"));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal(1, Calls("/v1/fail"));

        var rejected = await gateway.Client.SendAsync(Post("/v1/bad", "{}", "k-bad"));
        Assert.Equal((HttpStatusCode)422, rejected.StatusCode);
        Assert.Equal("""{"error":"bad input"}""", await rejected.Content.ReadAsStringAsync());
        var rejectedReceipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{rejected.Headers.GetValues("OpenExec-Exec-Id").Single()}"));
        Assert.Equal("executed", rejectedReceipt.GetProperty("body").Str("decision"));
    }

    [Fact]
    public async Task Refused_connection_is_502_and_releases_the_claim()
    {
        using var closed = new ClosedPort();
        var closedPort = closed.Port;
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("down", "down_op", "v1", $"http://127.0.0.1:{closedPort}/"));

        var first = await gateway.Client.SendAsync(Post("/v1/op", "{}", "k-down"));
        Assert.Equal(HttpStatusCode.BadGateway, first.StatusCode);
        var problem = await Json.ReadAsync(first);
        Assert.Equal("upstream_failed", problem.Str("code"));
        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{problem.Str("id")}"));
        Assert.Equal("upstream_failed", receipt.GetProperty("body").Str("decision"));

        // Nothing was sent, so the same nonce may try again (and fails the same way, not as a replay).
        var second = await gateway.Client.SendAsync(Post("/v1/op", "{}", "k-down"));
        Assert.Equal(HttpStatusCode.BadGateway, second.StatusCode);
    }

    [Fact]
    public async Task A_route_transform_that_sets_a_forwarded_host_still_reaches_the_backend()
    {
        // The agent's X-Forwarded-Host is dropped; the operator's own is the way to give one.
        Answer("/v1/send", body: """{"sent":true}""");
        var settings = ProxyConfig.Route("email", "send_email", "v1", Backend);
        settings["ReverseProxy:Routes:email:Transforms:0:RequestHeader"] = "X-Forwarded-Host";
        settings["ReverseProxy:Routes:email:Transforms:0:Set"] = "tenant-a.example";
        await using var gateway = await GatewayServer.StartAsync(settings);
        var request = Post("/v1/send", "{}", "key-fwd");
        request.Headers.TryAddWithoutValidation("X-Forwarded-Host", "tenant-c.example");

        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.SendAsync(request)).StatusCode);
        Assert.Equal("tenant-a.example", Assert.Single(_backend.LogEntries).RequestMessage.Headers!["X-Forwarded-Host"].Single());
    }

    /// <summary>A proxied call's answer when nothing reached the backend: 502 upstream_failed, receipted so.</summary>
    private static async Task AssertNothingSentAsync(GatewayServer gateway, HttpResponseMessage answer)
    {
        var problem = await Json.ReadAsync(answer);
        Assert.Equal(HttpStatusCode.BadGateway, answer.StatusCode);
        Assert.Equal("upstream_failed", problem.Str("code"));
        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{problem.Str("id")}"));
        Assert.Equal("upstream_failed", receipt.GetProperty("body").Str("decision"));
    }

    [Fact]
    public async Task A_request_that_fails_while_it_is_built_is_502_and_releases_the_claim()
    {
        // YARP builds the request message (transforms included) before it sends a byte: a failure
        // there (RequestCreation) is "nothing sent", not "may have run".
        await using var backend = await OpenExec.Gateway.Tests.Chaos.CountingBackend.StartAsync();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("built", "built_op", "v1", backend.Address.ToString()), configure: b =>
            b.Services.AddSingleton<Yarp.ReverseProxy.Transforms.Builder.ITransformProvider>(new FailingRequestTransform()));

        foreach (var attempt in new[] { 1, 2 })
        {
            await AssertNothingSentAsync(gateway, await gateway.Client.SendAsync(Post("/v1/op", "{}", "k-built")));
        }
        Assert.Equal(0, backend.Total);
    }

    [Fact]
    public async Task A_connect_that_never_completes_gives_up_before_the_timeout_502_and_releases_the_claim_at_both_front_doors()
    {
        // A backend that drops connection attempts (a firewall, a dead host): no byte of the
        // request leaves, so the connect gives up (at half the call's 6 s timeout) before the
        // call's own timeout (which could only say "may have run"), and the same nonce may be retried.
        using var unanswered = await UnansweredListener.StartAsync();
        var settings = ProxyConfig.Route("dark", "dark_op", "v1", unanswered.Url, executePath: "/v1/op");
        settings["OpenExec:BackendTimeout"] = "00:00:06";
        await using var gateway = await GatewayServer.StartAsync(settings);

        foreach (var attempt in new[] { 1, 2 })
        {
            await AssertNothingSentAsync(gateway, await gateway.Client.SendAsync(Post("/v1/op", "{}", "k-dark")));

            var executed = await gateway.ExecuteAsync("dark_op", new { }, "k-dark-execute");
            Assert.Equal(HttpStatusCode.BadGateway, executed.StatusCode);
            Assert.Equal("upstream_failed", (await Json.ReadAsync(executed)).Str("code"));
        }
    }

    [Fact]
    public async Task An_unforeseen_failure_of_the_backend_call_is_recorded_as_outcome_unknown_at_both_front_doors()
    {
        // The backends' client fails in a way no classification foresaw: whether the request left
        // is unknown, so the claim is kept and recorded (504), never left in progress.
        Answer("/v1/op");
        var settings = ProxyConfig.Route("odd", "odd_op", "v1", Backend, executePath: "/v1/op");
        await using var gateway = await GatewayServer.StartAsync(settings, configure: builder =>
            builder.Services.AddSingleton<Yarp.ReverseProxy.Forwarder.IForwarderHttpClientFactory, ThrowingClientFactory>());

        Func<Task<HttpResponseMessage>>[] doors =
        [
            () => gateway.Client.SendAsync(Post("/v1/op", "{}", "k-odd")),
            () => gateway.ExecuteAsync("odd_op", new { }, "k-odd-execute"),
        ];
        foreach (var send in doors)
        {
            var answered = await send();
            Assert.Equal(HttpStatusCode.GatewayTimeout, answered.StatusCode);
            Assert.Equal("outcome_unknown", (await Json.ReadAsync(answered)).Str("code"));
            Assert.Equal("replay_denied", (await Json.ReadAsync(await send())).Str("code"));
        }
        Assert.Equal(0, Calls("/v1/op"));
    }

    private sealed class ThrowingClientFactory : Yarp.ReverseProxy.Forwarder.IForwarderHttpClientFactory
    {
        public HttpMessageInvoker CreateClient(Yarp.ReverseProxy.Forwarder.ForwarderHttpClientContext context) => new(new Throwing());

        private sealed class Throwing : HttpMessageHandler
        {
            protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
                => throw new InvalidOperationException("a failure nothing classifies");
        }
    }

    [Fact]
    public async Task No_route_to_host_after_the_request_went_out_is_504_outcome_unknown_at_both_front_doors()
    {
        // The backend host vanishes mid-call (an ICMP error after the request was delivered): the
        // read fails with SocketError.HostUnreachable, as a connect to a dead host would. Only a
        // connection never made proves nothing was sent; this one may have run, so the claim is
        // kept and a retry is a replay, never a second delivery.
        Answer("/v1/op");
        var delivered = new System.Runtime.CompilerServices.StrongBox<int>();
        var settings = ProxyConfig.Route("gone", "gone_op", "v1", Backend, executePath: "/v1/op");
        await using var gateway = await GatewayServer.StartAsync(settings, configure: builder =>
            builder.Services.AddSingleton<Yarp.ReverseProxy.Forwarder.IForwarderHttpClientFactory>(new HostGoneClientFactory(delivered)));

        Func<Task<HttpResponseMessage>>[] doors =
        [
            () => gateway.Client.SendAsync(Post("/v1/op", "{}", "k-gone")),
            () => gateway.ExecuteAsync("gone_op", new { }, "k-gone-execute"),
        ];
        foreach (var send in doors)
        {
            var answered = await send();
            Assert.Equal(HttpStatusCode.GatewayTimeout, answered.StatusCode);
            Assert.Equal("outcome_unknown", (await Json.ReadAsync(answered)).Str("code"));
            Assert.Equal("replay_denied", (await Json.ReadAsync(await send())).Str("code"));
        }
        Assert.Equal(2, delivered.Value);
    }

    private sealed class HostGoneClientFactory(System.Runtime.CompilerServices.StrongBox<int> delivered) : Yarp.ReverseProxy.Forwarder.IForwarderHttpClientFactory
    {
        public HttpMessageInvoker CreateClient(Yarp.ReverseProxy.Forwarder.ForwarderHttpClientContext context) => new(new HostGone(delivered));

        private sealed class HostGone(System.Runtime.CompilerServices.StrongBox<int> delivered) : HttpMessageHandler
        {
            protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                // The request is sent whole, then the answer's read fails: the chain SocketsHttpHandler throws.
                if (request.Content is not null)
                {
                    await request.Content.ReadAsByteArrayAsync(cancellationToken);
                }
                Interlocked.Increment(ref delivered.Value);
                throw new HttpRequestException(HttpRequestError.Unknown, "An error occurred while sending the request.",
                    new IOException("Unable to read data from the transport connection: No route to host.",
                        new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.HostUnreachable)));
            }
        }
    }

    [Fact]
    public async Task A_failed_tls_handshake_is_502_and_releases_the_claim_at_both_front_doors()
    {
        // https:// to a plain-HTTP backend: the handshake fails before any byte of the request
        // leaves, so nothing was sent and the nonce may be retried.
        Answer("/v1/op");
        var settings = ProxyConfig.Route("tls", "tls_op", "v1", _backend.Urls[0].Replace("http://", "https://", StringComparison.Ordinal) + "/", executePath: "/v1/op");
        await using var gateway = await GatewayServer.StartAsync(settings);

        foreach (var attempt in new[] { 1, 2 })
        {
            var proxied = await gateway.Client.SendAsync(Post("/v1/op", "{}", "k-tls"));
            Assert.Equal(HttpStatusCode.BadGateway, proxied.StatusCode);
            Assert.Equal("upstream_failed", (await Json.ReadAsync(proxied)).Str("code"));

            var executed = await gateway.ExecuteAsync("tls_op", new { }, "k-tls-execute");
            Assert.Equal(HttpStatusCode.BadGateway, executed.StatusCode);
            Assert.Equal("upstream_failed", (await Json.ReadAsync(executed)).Str("code"));
        }
        Assert.Equal(0, Calls("/v1/op"));
    }

    [Fact]
    public async Task An_execute_answer_with_a_long_decimal_is_the_result_and_verifies()
    {
        // Decimal types serialize more digits than a double keeps; the result is read (and
        // hashed) as the double it denotes, as Python would read it.
        Answer("/v1/rate", body: """{"rate":0.1234567890123456789}""");
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("rate", "rate_op", "v1", Backend, executePath: "/v1/rate"));

        var response = await gateway.ExecuteAsync("rate_op", new { }, "k-rate");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = await Json.ReadAsync(response);
        var result = answer.GetProperty("result").GetRawText();
        Assert.Contains("0.12345678901234", result, StringComparison.Ordinal);

        var verified = await Json.ReadAsync(await gateway.PostJsonAsync("/receipts/verify", JsonSerializer.Serialize(new { exec_id = answer.Str("id"), result, receipt = answer.Str("receipt") })));
        Assert.True(verified.GetProperty("valid").GetBoolean(), verified.GetRawText());
        var verifiedLiteral = await Json.ReadAsync(await gateway.PostJsonAsync("/receipts/verify", JsonSerializer.Serialize(new { exec_id = answer.Str("id"), result = """{"rate":0.1234567890123456789}""", receipt = answer.Str("receipt") })));
        Assert.True(verifiedLiteral.GetProperty("valid").GetBoolean(), verifiedLiteral.GetRawText());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_answer_that_breaks_off_after_its_head_is_504_outcome_unknown_with_the_status_it_began_with(bool execute)
    {
        // A real backend that answers 201 with a Content-Length it never fills, then hangs up.
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var serving = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync();
            var buffer = new byte[4096];
            var request = "";
            while (!request.Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                request += Encoding.ASCII.GetString(buffer, 0, await socket.ReceiveAsync(buffer));
            }
            await socket.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"partial\":"));
            await Task.Delay(100);
        });
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("cut", "cut_op", "v1", $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/", executePath: "/v1/cut"));

        var response = execute ? await gateway.ExecuteAsync("cut_op", new { }, "k-cut") : await gateway.Client.SendAsync(Post("/v1/cut", "{}", "k-cut"));
        await serving;
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        var problem = await Json.ReadAsync(response);
        Assert.Equal("outcome_unknown", problem.Str("code"));
        var receipt = (await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{problem.Str("id")}"))).GetProperty("body");
        Assert.Equal(("outcome_unknown", 201), (receipt.Str("decision"), receipt.GetProperty("upstream_status").GetInt32()));
    }

    [Fact]
    public async Task An_execute_answer_without_a_body_is_502_upstream_not_json_saying_there_was_none()
    {
        Answer("/v1/quiet", status: 204, body: "");
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("quiet", "quiet_op", "v1", Backend, executePath: "/v1/quiet"));

        var response = await gateway.ExecuteAsync("quiet_op", new { }, "k-quiet");
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var problem = await Json.ReadAsync(response);
        Assert.Equal("upstream_not_json", problem.Str("code"));
        Assert.Contains("answered 204 with no body", problem.Str("detail"), StringComparison.Ordinal);
        var receipt = (await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{problem.Str("id")}"))).GetProperty("body");
        Assert.Equal(("executed", "bytes", 204), (receipt.Str("decision"), receipt.Str("result_form"), receipt.GetProperty("upstream_status").GetInt32()));
    }

    [Theory]
    [InlineData("""{"a":1,"a":2}""", "duplicate_key")]
    [InlineData("""{"x":1e400}""", "invalid_number")]
    [InlineData("""<html>oops</html>""", "invalid_json")]
    public async Task An_execute_answer_that_is_not_strict_JSON_says_which_rule_it_broke(string answer, string rule)
    {
        Answer("/v1/loose", body: answer);
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("loose", "loose_op", "v1", Backend, executePath: "/v1/loose"));

        var response = await gateway.ExecuteAsync("loose_op", new { }, "k-loose");
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var problem = await Json.ReadAsync(response);
        Assert.Equal("upstream_not_json", problem.Str("code"));
        Assert.Contains($"not strict JSON ({rule}: ", problem.Str("detail"), StringComparison.Ordinal);
        Assert.EndsWith("the action ran", problem.Str("detail"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_execute_answer_over_the_buffer_limit_is_502_and_receipted_by_its_hash_not_held()
    {
        var big = "{\"data\":\"" + new string('x', 70_000) + "\"}";
        Answer("/v1/big", body: big);
        Answer("/v1/small", body: "{\"data\":\"" + new string('y', 60_000) + "\"}");
        var settings = ProxyConfig.Route("big", "big_op", "v1", Backend, executePath: "/v1/big");
        ProxyConfig.Route("small", "small_op", "v2", Backend, executePath: "/v1/small", into: settings);
        settings["OpenExec:MaxBufferedResponse"] = "65536";
        await using var gateway = await GatewayServer.StartAsync(settings);

        var tooLarge = await gateway.ExecuteAsync("big_op", new { }, "k-big");
        Assert.Equal(HttpStatusCode.BadGateway, tooLarge.StatusCode);
        var problem = await Json.ReadAsync(tooLarge);
        Assert.Equal("upstream_too_large", problem.Str("code"));
        var receipt = (await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{problem.Str("id")}"))).GetProperty("body");
        Assert.Equal(("executed", "bytes"), (receipt.Str("decision"), receipt.Str("result_form")));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(big))), receipt.Str("result_sha256"));

        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("small_op", new { }, "k-small")).StatusCode);
    }

    [Theory]
    [InlineData(1024, true, "1024")]
    [InlineData(1025, false, "1024")]
    [InlineData(1024 * 1024, true, null)] // the default limit, 1 MiB
    [InlineData((1024 * 1024) + 1, false, null)]
    public async Task An_answer_of_exactly_the_buffer_limit_is_held_and_receipted_and_one_byte_more_streams(int size, bool held, string? limit)
    {
        Answer("/v1/sized", body: new string('z', size));
        var settings = ProxyConfig.Route("sized", "sized_op", "v1", Backend);
        if (limit is not null)
        {
            settings["OpenExec:MaxBufferedResponse"] = limit;
        }
        await using var gateway = await GatewayServer.StartAsync(settings);

        var response = await gateway.Client.SendAsync(Post("/v1/sized", "{}", $"k-sized-{size}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(held, response.Headers.Contains("OpenExec-Receipt"));
        Assert.Equal(size, (await response.Content.ReadAsStringAsync()).Length);
    }

    [Theory]
    [InlineData("/v1/expect", false)]
    [InlineData("/docs/expect", true)]
    public async Task Expect_never_reaches_a_backend_and_the_body_arrives_once(string path, bool passThrough)
    {
        // SPEC section 5: not forwarded. A backend that answered a forwarded 100-continue
        // expectation with its final answer would have run without the body the receipt names.
        Answer(path, body: """{"ok":true}""");
        var settings = ProxyConfig.Route("op", "expect_op", "v1", Backend);
        ProxyConfig.Route("docs", "", "docs", Backend, passThrough: true, into: settings);
        await using var gateway = await GatewayServer.StartAsync(settings);
        var method = passThrough ? "GET" : "POST";
        var body = passThrough ? "" : """{"a":1}""";

        var (status, _) = await RawHttp.SendAsync(gateway.BaseAddress,
            $"{method} {path} HTTP/1.1\r\nHost: x\r\nIdempotency-Key: expect-1\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}");

        Assert.Equal(200, status);
        var seen = Assert.Single(_backend.LogEntries).RequestMessage;
        Assert.DoesNotContain(seen.Headers!.Keys, k => string.Equals(k, "Expect", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(body, seen.Body ?? "");
    }

    [Fact]
    public async Task Timeout_after_sending_is_504_outcome_unknown_and_keeps_the_claim()
    {
        Answer("/v1/slow", delay: TimeSpan.FromSeconds(5));
        var settings = ProxyConfig.Route("slow", "slow_op", "v1", Backend);
        settings["OpenExec:BackendTimeout"] = "00:00:01";
        await using var gateway = await GatewayServer.StartAsync(settings);

        var first = await gateway.Client.SendAsync(Post("/v1/slow", "{}", "k-slow"));
        Assert.Equal(HttpStatusCode.GatewayTimeout, first.StatusCode);
        var problem = await Json.ReadAsync(first);
        Assert.Equal("outcome_unknown", problem.Str("code"));

        var replay = await gateway.Client.SendAsync(Post("/v1/slow", "{}", "k-slow"));
        Assert.Equal(HttpStatusCode.Conflict, replay.StatusCode);
        var denial = await Json.ReadAsync(replay);
        Assert.Equal("replay_denied", denial.Str("code"));
        Assert.Equal("outcome_unknown", denial.GetProperty("original").Str("decision"));
        Assert.Equal(problem.Str("id"), denial.GetProperty("original").Str("id"));
        // WireMock logs a call once it has answered (after its delay).
        for (var i = 0; i < 100 && Calls("/v1/slow") == 0; i++)
        {
            await Task.Delay(100);
        }
        await Task.Delay(200);
        Assert.Equal(1, Calls("/v1/slow"));
    }

    [Fact]
    public async Task A_clusters_own_activity_timeout_bounds_both_front_doors()
    {
        // BackendTimeout 1 s, the cluster's own 10 s: a 2 s backend answers through the route and
        // through /execute alike (the claim's lease is sized by the same 10 s).
        Answer("/v1/slow", delay: TimeSpan.FromSeconds(2));
        Answer("/v1/run", delay: TimeSpan.FromSeconds(2));
        var settings = ProxyConfig.Route("slow", "slow_op", "v1", Backend, executePath: "/v1/run");
        settings["OpenExec:BackendTimeout"] = "00:00:01";
        settings["ReverseProxy:Clusters:slow:HttpRequest:ActivityTimeout"] = "00:00:10";
        await using var gateway = await GatewayServer.StartAsync(settings);

        var routed = await gateway.Client.SendAsync(Post("/v1/slow", "{}", "k-route"));
        Assert.Equal(HttpStatusCode.OK, routed.StatusCode);

        var executed = await gateway.ExecuteAsync("slow_op", new { }, "k-execute");
        Assert.Equal(HttpStatusCode.OK, executed.StatusCode);
        Assert.Equal("executed", (await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{(await Json.ReadAsync(executed)).Str("id")}"))).GetProperty("body").Str("decision"));
    }

    [Fact]
    public async Task An_outcome_that_could_not_be_written_is_recorded_as_outcome_unknown_once_the_store_answers()
    {
        // The backend ran; the store failed the outcome write once. The agent gets 504
        // outcome_unknown, and the claim must not stay in progress until a restart.
        Answer("/v1/op", body: """{"done":true}""");
        FlakyStore? flaky = null;
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("op", "do_op", "v1", Backend), configure: builder =>
            builder.Services.AddSingleton<OpenExec.Gateway.Store.IExecutionStore>(sp => flaky = new FlakyStore(sp.GetRequiredService<OpenExec.Gateway.Store.SqliteExecutionStore>()) { FailOutcomes = 1 }));

        var first = await gateway.Client.SendAsync(Post("/v1/op", "{}", "k-flaky"));
        Assert.Equal(HttpStatusCode.GatewayTimeout, first.StatusCode);
        Assert.Equal("outcome_unknown", (await Json.ReadAsync(first)).Str("code"));
        var execId = Assert.Single(first.Headers.GetValues("OpenExec-Exec-Id"));

        JsonElement replay = default;
        for (var i = 0; i < 100; i++)
        {
            replay = await Json.ReadAsync(await gateway.Client.SendAsync(Post("/v1/op", "{}", "k-flaky")));
            if (replay.Str("code") != "in_progress")
            {
                break;
            }
            await Task.Delay(100);
        }
        Assert.Equal("replay_denied", replay.Str("code"));
        Assert.Equal("outcome_unknown", replay.GetProperty("original").Str("decision"));
        Assert.Equal(execId, replay.GetProperty("original").Str("id"));
        Assert.Equal(1, Calls("/v1/op"));
        Assert.NotNull(flaky);
    }

    [Fact]
    public async Task An_outcome_write_failing_past_the_lease_is_recorded_once_the_store_answers()
    {
        // Embedded store: nobody else finishes its claim, so the outcome is retried for as long
        // as it takes, not only until the lease ends (the nonce read in_progress until a restart).
        Answer("/v1/op", body: """{"done":true}""");
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        FlakyStore? flaky = null;
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("op", "do_op", "v1", Backend), time: time, configure: builder =>
            builder.Services.AddSingleton<OpenExec.Gateway.Store.IExecutionStore>(sp => flaky = new FlakyStore(sp.GetRequiredService<OpenExec.Gateway.Store.SqliteExecutionStore>()) { FailOutcomes = int.MaxValue }));

        // The store cannot write outcomes (a full disk, a lock held by a backup tool) ...
        var first = await gateway.Client.SendAsync(Post("/v1/op", "{}", "k-stuck"));
        Assert.Equal(HttpStatusCode.GatewayTimeout, first.StatusCode);
        var execId = Assert.Single(first.Headers.GetValues("OpenExec-Exec-Id"));

        // ... for longer than the claim's lease (backend timeout + 30 s), then it is fixed.
        time.Advance(TimeSpan.FromMinutes(5));
        await Task.Delay(1000);
        Volatile.Write(ref flaky!.FailOutcomes, 0);
        await Task.Delay(6000);

        var replay = await Json.ReadAsync(await gateway.Client.SendAsync(Post("/v1/op", "{}", "k-stuck")));
        Assert.Equal("replay_denied", replay.Str("code"));
        Assert.Equal(execId, replay.GetProperty("original").Str("id"));
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync($"/receipts/{execId}")).StatusCode);
    }

    [Fact]
    public async Task A_store_outage_logs_one_line_per_refused_request_and_its_exception_once()
    {
        // Each refusal logged the whole exception (with Redis, a screenful of connection
        // diagnostics): an outage under load flooded the logs.
        Answer("/v1/op", body: """{"done":true}""");
        var logs = new LogCapture();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("op", "do_op", "v1", Backend), configure: builder =>
        {
            builder.Logging.AddProvider(logs);
            builder.Services.AddSingleton<OpenExec.Gateway.Store.IExecutionStore>(sp => new FlakyStore(sp.GetRequiredService<OpenExec.Gateway.Store.SqliteExecutionStore>()) { FailOutcomes = int.MaxValue });
        });

        for (var i = 0; i < 6; i++)
        {
            Assert.Equal(HttpStatusCode.GatewayTimeout, (await gateway.Client.SendAsync(Post("/v1/op", "{}", $"k-outage-{i}"))).StatusCode);
        }

        var lines = logs.Lines.Where(l => l.Contains("GatewayErrorMiddleware", StringComparison.Ordinal) && l.Contains("Store unavailable", StringComparison.Ordinal)).ToList();
        Assert.Equal(6, lines.Count);
        Assert.Single(lines, l => l.Contains("   at ", StringComparison.Ordinal));
        // Each names its attempt and the cause, the one with the exception too.
        Assert.Equal(6, lines.Count(l => l.Contains("(OutcomeNotRecordedException, exec id ex_", StringComparison.Ordinal) && l.Contains("injected", StringComparison.Ordinal)));
    }

    /// <remarks>
    /// Also with route transforms that stop YARP copying the request's headers (a usual
    /// hardening): they dropped the gateway's Content-Length: 0, Content-Type and Idempotency-Key,
    /// and the bodyless requests were re-sent silently (three approved DELETEs reached the backend
    /// five times).
    /// </remarks>
    [Theory]
    [InlineData(null, null)]
    [InlineData("RequestHeadersCopy", "false")]
    [InlineData("RequestHeadersAllowed", "Accept;Authorization")]
    public async Task A_backend_closing_after_the_request_head_gets_the_request_exactly_once(string? transform, string? value)
    {
        using var closing = new RecordingBackend(answerFirstOnly: true);
        var settings = ProxyConfig.Route("c", "close_op", "v1", closing.Address);
        if (transform is not null)
        {
            settings[$"ReverseProxy:Routes:c:Transforms:0:{transform}"] = value;
        }
        await using var gateway = await GatewayServer.StartAsync(settings);

        // Bodyless and with-body requests alike: each goes on a reused connection that the
        // backend closes after reading the head. A silent re-send would land on a fresh
        // connection, be answered 200, and the backend would have seen the request twice.
        foreach (var (method, key) in new[] { (HttpMethod.Get, "k-get"), (HttpMethod.Delete, "k-del"), (HttpMethod.Post, "k-post") })
        {
            var before = closing.Requests;
            var warm = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/warm") { Headers = { { "Idempotency-Key", "warm-" + key } } });
            Assert.True(warm.StatusCode == HttpStatusCode.OK, await warm.Content.ReadAsStringAsync());

            var request = new HttpRequestMessage(method, "/v1/x") { Headers = { { "Idempotency-Key", key } } };
            if (method == HttpMethod.Post)
            {
                request.Content = new StringContent("""{"a":1}""", Encoding.UTF8, "application/json");
            }
            var response = await gateway.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
            Assert.Equal("outcome_unknown", (await Json.ReadAsync(response)).Str("code"));
            await Task.Delay(100);
            Assert.Equal(before + 2, closing.Requests);
        }

        // What the backend read of each: a length (0 included), the hashed type, the key.
        var heads = closing.Heads.Where(h => !h.StartsWith("GET /v1/warm", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, heads.Count);
        Assert.All(heads, h => Assert.Matches("(?im)^Content-Length: (0|7)\r?$", h));
        Assert.All(heads, h => Assert.DoesNotMatch("(?im)^Transfer-Encoding:", h));
        Assert.Contains(heads, h => h.StartsWith("POST /v1/x", StringComparison.Ordinal) && h.Contains("Content-Type: application/json; charset=utf-8", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(heads, h => h.Contains("Idempotency-Key: k-del", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/v1/../admin")]
    [InlineData("/v1/a/./b")]
    [InlineData("/v1/a%2Fb")]
    [InlineData("/v1/a%2fb")]
    [InlineData("/v1//b")]
    [InlineData("/v1/a%5Cb")]
    [InlineData("/v1/%2E%2E/admin")]
    [InlineData("/v1/..;/admin")]
    [InlineData("/v1/..;jsessionid=x/admin")]
    [InlineData("/v1/a/.;/b")]
    public async Task Paths_that_could_escape_their_route_are_refused(string path)
    {
        Answer("/v1/a");
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", Backend));

        var (status, response) = await RawHttp.SendAsync(gateway.BaseAddress,
            $"POST {path} HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", "{}"u8.ToArray());

        Assert.True(status is 400 or 404, response);
        if (status == 400)
        {
            Assert.Contains("path_not_canonical", response, StringComparison.Ordinal);
        }
        Assert.Empty(_backend.LogEntries);
    }

    [Theory]
    [InlineData("/docs/..;/v1/a")]
    [InlineData("/docs/%2e%2e;/v1/a")]
    [InlineData("/docs/..%3B/v1/a")]
    [InlineData("/docs/..;jsessionid=1/v1/a")]
    [InlineData("/docs/x/..;/..;/admin")]
    [InlineData("/docs/..%2Fv1/a")]
    [InlineData("/docs/a/./b")]
    public async Task A_pass_through_read_cannot_leave_its_route_for_another_path_of_the_backend(string path)
    {
        // A servlet container (Tomcat) reads "..;" as "..": /docs/..;/v1/a would be the action
        // route's /v1/a, read with no nonce, approval or receipt.
        Answer("/v1/a");
        Answer("/docs/ok");
        var settings = ProxyConfig.Route("r", "op", "v1", Backend);
        ProxyConfig.Route("docs", "", "docs", Backend, passThrough: true, into: settings);
        await using var gateway = await GatewayServer.StartAsync(settings);

        var (status, response) = await RawHttp.SendAsync(gateway.BaseAddress, $"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", []);

        Assert.True(status is 400 or 404, response);
        if (status == 400)
        {
            Assert.Contains("path_not_canonical", response, StringComparison.Ordinal);
        }
        Assert.Empty(_backend.LogEntries);
        // A read of the route's own paths still passes.
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync("/docs/ok")).StatusCode);
    }

    [Fact]
    public async Task Execute_of_a_routed_action_posts_the_canonical_payload()
    {
        Answer("/run", body: """{"done":1}""");
        var settings = ProxyConfig.Route("tool", "tool_op", "tool", Backend, executePath: "/run");
        ProxyConfig.Route("other", "proxy_op", "other", Backend, into: settings);
        await using var gateway = await GatewayServer.StartAsync(settings);

        var executed = await gateway.PostJsonAsync("/execute", """{"action":"tool_op","payload":{"b":1,"a":"é"},"nonce":"x1"}""");
        Assert.Equal(HttpStatusCode.OK, executed.StatusCode);
        var answer = await Json.ReadAsync(executed);
        Assert.Equal(1, answer.GetProperty("result").GetProperty("done").GetInt32());
        var seen = Assert.Single(_backend.LogEntries).RequestMessage;
        Assert.Equal("""{"a":"\u00e9","b":1}""", seen.Body);
        Assert.Equal("x1", seen.Headers!["Idempotency-Key"].Single());

        var proxyOnly = await gateway.PostJsonAsync("/execute", """{"action":"proxy_op","payload":{},"nonce":"x2"}""");
        Assert.Equal(HttpStatusCode.BadRequest, proxyOnly.StatusCode);
        Assert.Equal("proxy_only", (await Json.ReadAsync(proxyOnly)).Str("code"));
    }

    /// <summary>A request transform that throws: YARP runs transforms while it builds the request, before sending.</summary>
    private sealed class FailingRequestTransform : Yarp.ReverseProxy.Transforms.Builder.ITransformProvider
    {
        public void ValidateRoute(Yarp.ReverseProxy.Transforms.Builder.TransformRouteValidationContext context) { }

        public void ValidateCluster(Yarp.ReverseProxy.Transforms.Builder.TransformClusterValidationContext context) { }

        public void Apply(Yarp.ReverseProxy.Transforms.Builder.TransformBuilderContext context)
            => Yarp.ReverseProxy.Transforms.TransformBuilderContextFuncExtensions.AddRequestTransform(context, _ => throw new InvalidOperationException("a transform that fails"));
    }
}
