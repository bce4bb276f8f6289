using System.Net;
using OpenExec.Gateway.Tests.Chaos;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Security;

/// <summary>
/// The rate limit (429 <c>rate_limited</c>) and the in-flight limit (503 <c>overloaded</c>) come
/// before any work, so nothing is consumed (SPEC section 1); liveness and identity endpoints are
/// outside both, so a probe does not fail because traffic is heavy.
/// </summary>
public sealed class LimitsTests
{
    [Fact]
    public async Task Past_the_rate_limit_requests_get_429_and_consume_nothing()
    {
        await using var gateway = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["OpenExec:RateLimit:PerClientPerSecond"] = "3" });

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => gateway.ExecuteAsync("echo", new { i }, $"burst-{i}")));

        var limited = answers.Where(a => a.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(limited);
        Assert.All(answers, a => Assert.Contains(a.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.TooManyRequests }));
        foreach (var answer in limited)
        {
            Assert.Equal("1", answer.Headers.RetryAfter?.ToString());
            Assert.Equal("rate_limited", (await Json.ReadAsync(answer)).Str("code"));
        }
        await Task.Delay(1100);
        Assert.Equal(answers.Count(a => a.StatusCode == HttpStatusCode.OK), (await gateway.ReceiptsAsync()).Count);

        // A refused nonce was not used: once the bucket refills it runs.
        var refused = Array.FindIndex(answers, a => a.StatusCode == HttpStatusCode.TooManyRequests);
        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("echo", new { i = refused }, $"burst-{refused}")).StatusCode);
    }

    [Fact]
    public async Task Liveness_and_identity_answer_past_the_rate_limit()
    {
        await using var gateway = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["OpenExec:RateLimit:PerClientPerSecond"] = "2" });

        foreach (var path in new[] { "/health", "/", "/version" })
        {
            var statuses = await Task.WhenAll(Enumerable.Range(0, 10).Select(async _ => (await gateway.Client.GetAsync(path)).StatusCode));
            Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        }
        // /ready stays inside it, as every endpoint that does work does, and answers as /ready
        // answers (SPEC section 2: 200, or 503 {"ready":false,"reason"}), never 429.
        var ready = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => gateway.Client.GetAsync("/ready")));
        Assert.All(ready, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.ServiceUnavailable }));
        var limited = ready.Where(r => r.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.NotEmpty(limited);
        foreach (var response in limited)
        {
            Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType!.ToString());
            var body = await Json.ReadAsync(response);
            Assert.False(body.GetProperty("ready").GetBoolean());
            Assert.Equal("rate_limited", body.Str("reason"));
            Assert.Equal("1", response.Headers.RetryAfter!.ToString());
        }
    }

    [Fact]
    public async Task Liveness_answers_past_the_in_flight_limit_and_readiness_says_overloaded()
    {
        await using var backend = await CountingBackend.StartAsync(TimeSpan.FromSeconds(8));
        var settings = ProxyConfig.Route("slow", "slow_op", "slow", backend.Address.ToString(), executePath: "/run");
        settings["OpenExec:MaxConcurrentRequests"] = "1";
        await using var gateway = await GatewayServer.StartAsync(settings);

        var busy = await HoldOneInFlightAsync(gateway, backend);

        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync("/")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync("/version")).StatusCode);
        var ready = await gateway.Client.GetAsync("/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        var notReady = await Json.ReadAsync(ready);
        Assert.False(notReady.GetProperty("ready").GetBoolean());
        Assert.Equal("overloaded", notReady.Str("reason"));
        Assert.Equal("1", ready.Headers.RetryAfter!.ToString());
        // Every other endpoint still gets the limit's problem answer.
        await GatewayAssert.ProblemAsync(await gateway.ExecuteAsync("echo", new { }, "over"), HttpStatusCode.ServiceUnavailable, "overloaded");
        Assert.Equal(HttpStatusCode.OK, (await busy).StatusCode);
    }

    [Fact]
    public async Task The_in_flight_limit_comes_before_the_rate_limit()
    {
        // One middleware keeps errors and the in-flight limit (a Task per request fewer than two):
        // the rate limit runs inside it, so past the in-flight limit the answer is 503 overloaded
        // even for a client over its rate, and nothing is consumed either way.
        await using var backend = await CountingBackend.StartAsync(TimeSpan.FromSeconds(8));
        var settings = ProxyConfig.Route("slow", "slow_op", "slow", backend.Address.ToString(), executePath: "/run");
        settings["OpenExec:MaxConcurrentRequests"] = "1";
        settings["OpenExec:RateLimit:PerClientPerSecond"] = "1";
        await using var gateway = await GatewayServer.StartAsync(settings);

        var busy = await HoldOneInFlightAsync(gateway, backend);

        await GatewayAssert.ProblemAsync(await gateway.ExecuteAsync("echo", new { }, "over"), HttpStatusCode.ServiceUnavailable, "overloaded");
        Assert.Equal(HttpStatusCode.OK, (await busy).StatusCode);
        Assert.Single(await gateway.ReceiptsAsync());
    }

    [Fact]
    public async Task Health_warns_when_forwarded_headers_are_taken_from_any_peer()
    {
        // ASP.NET Core's switch trusts X-Forwarded-For from every peer: the rate limit's client
        // address becomes whatever a client writes.
        await using var trusting = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["FORWARDEDHEADERS_ENABLED"] = "true", ["OpenExec:RateLimit:PerClientPerSecond"] = "2" });
        await using var plain = await GatewayServer.StartAsync();

        static async Task<string[]> WarningsAsync(GatewayServer gateway)
            => (await Json.ReadAsync(await gateway.Client.GetAsync("/health"))).GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!).ToArray();
        Assert.Contains(await WarningsAsync(trusting), w => w.StartsWith("ASPNETCORE_FORWARDEDHEADERS_ENABLED is on", StringComparison.Ordinal));
        Assert.DoesNotContain(await WarningsAsync(plain), w => w.Contains("FORWARDEDHEADERS", StringComparison.Ordinal));

        // What it warns of: a new X-Forwarded-For per request, never limited.
        for (var i = 0; i < 8; i++)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/execute") { Content = new StringContent($$"""{"action":"echo","nonce":"fwd-{{i}}"}""", System.Text.Encoding.UTF8, "application/json") };
            request.Headers.TryAddWithoutValidation("X-Forwarded-For", $"10.0.0.{i + 1}");
            Assert.Equal(HttpStatusCode.OK, (await trusting.Client.SendAsync(request)).StatusCode);
        }
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/health")]
    [InlineData("/ready")]
    [InlineData("/version")]
    public async Task Probes_answer_HEAD_as_load_balancers_send_it(string path)
    {
        await using var gateway = await GatewayServer.StartAsync();

        var response = await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>Sends one call to the slow backend and returns once the backend holds it (in flight until it answers).</summary>
    private static async Task<Task<HttpResponseMessage>> HoldOneInFlightAsync(GatewayServer gateway, CountingBackend backend)
    {
        var busy = gateway.ExecuteAsync("slow_op", new { }, "busy");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (backend.Total < 1)
        {
            Assert.True(DateTime.UtcNow < deadline, "the slow request never reached the backend");
            await Task.Delay(20);
        }
        return busy;
    }
}
