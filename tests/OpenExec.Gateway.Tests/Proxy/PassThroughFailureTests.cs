using System.Net;
using System.Net.Sockets;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>A pass-through read whose backend gives no answer gets a problem with its code, as every gateway error does.</summary>
public sealed class PassThroughFailureTests
{
    [Fact]
    public async Task An_unreachable_pass_through_backend_is_a_502_problem_with_a_code()
    {
        using var closed = new ClosedPort();
        var port = closed.Port;
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("docs", "", "docs", $"http://127.0.0.1:{port}/", passThrough: true));

        // It was YARP's bare 502, no body and no code.
        var problem = await GatewayAssert.ProblemAsync(await gateway.Client.GetAsync("/docs/readme"), HttpStatusCode.BadGateway, "upstream_failed");
        Assert.False(problem.TryGetProperty("id", out _));
    }

    [Fact]
    public async Task A_pass_through_backend_that_never_answers_is_a_504_problem_with_a_code()
    {
        using var silent = new RecordingBackend(answer: "");
        var settings = ProxyConfig.Route("docs", "", "docs", silent.Address, passThrough: true);
        settings["OpenExec:BackendTimeout"] = "00:00:04";
        await using var gateway = await GatewayServer.StartAsync(settings);

        await GatewayAssert.ProblemAsync(await gateway.Client.GetAsync("/docs/readme"), HttpStatusCode.GatewayTimeout, "outcome_unknown");
        Assert.Equal(1, silent.Requests);
    }

    [Fact]
    public async Task A_pass_through_route_is_named_in_the_health_warnings()
    {
        // SPEC section 5: pass-through routes forward unchecked reads and are listed in /health.
        using var backend = new RecordingBackend();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("docs", "", "docs", backend.Address, passThrough: true));

        var health = await Json.ReadAsync(await gateway.Client.GetAsync("/health"));

        var warnings = health.GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!).ToList();
        Assert.Contains(warnings, w => w.Contains("Pass-through route 'docs'", StringComparison.Ordinal) && w.Contains("without approval, nonce or receipt", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_pass_through_read_with_a_nonce_header_outside_ASCII_is_refused_as_input_before_anything_is_sent()
    {
        // A pass-through forwards the agent's Idempotency-Key (only an action route replaces it),
        // so its value must be sendable: it was skipped by the ASCII check and failed in the HTTP
        // client, a 502 upstream_failed for a request that could never have been sent.
        using var backend = new RecordingBackend();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("docs", "", "docs", backend.Address, passThrough: true));

        var (status, answer) = await RawHttp.SendAsync(gateway.BaseAddress, "", System.Text.Encoding.UTF8.GetBytes("GET /docs/readme HTTP/1.1\r\nHost: x\r\nIdempotency-Key: caf\u00e9\r\nConnection: close\r\n\r\n"));

        Assert.Equal(400, status);
        Assert.Contains("invalid_request", answer, StringComparison.Ordinal);
        Assert.Contains("header \\u0027Idempotency-Key\\u0027 holds a character outside ASCII", answer, StringComparison.Ordinal);
        Assert.Equal(0, backend.Requests);
    }

    [Theory]
    [InlineData("GET /docs/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}", 400)]
    [InlineData("GET /docs/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n", 400)]
    [InlineData("OPTIONS /docs/search HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnull", 400)]
    [InlineData("GET /docs/search HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 200)]
    [InlineData("GET /docs/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200)]
    [InlineData("OPTIONS /docs/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200)]
    [InlineData("HEAD /docs/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200)]
    public async Task A_pass_through_forwards_reads_without_a_body(string request, int expected)
    {
        // A GET or OPTIONS body (JSON, chunked) reached the backend unchecked and unreceipted: a
        // backend that reads a body whatever the method would act on it.
        using var backend = new RecordingBackend();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("docs", "", "docs", backend.Address, passThrough: true));

        var (status, answer) = await RawHttp.SendAsync(gateway.BaseAddress, "", System.Text.Encoding.ASCII.GetBytes(request));

        Assert.Equal(expected, status);
        if (expected == 400)
        {
            Assert.Contains("invalid_request", answer, StringComparison.Ordinal);
            Assert.Contains("without a body", answer, StringComparison.Ordinal);
            Assert.Equal(0, backend.Requests);
        }
        else
        {
            Assert.Equal(1, backend.Requests);
        }
    }
}
