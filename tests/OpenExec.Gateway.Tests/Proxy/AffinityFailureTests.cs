using System.Net;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// A request YARP refuses before sending anything (session affinity with FailurePolicy
/// Return503Error and an affinity key the agent made up) reached no backend: SPEC section 3 says
/// nothing sent = claim released, receipt upstream_failed without a backend status.
/// </summary>
public sealed class AffinityFailureTests
{
    /// <summary>One route whose cluster pins clients by cookie <c>aff</c>, refusing (Return503Error) a key it cannot read.</summary>
    private static Dictionary<string, string?> WithCookieAffinity(RecordingBackend backend)
    {
        var settings = ProxyConfig.Route("r", "op", "v1", backend.Address);
        settings["ReverseProxy:Clusters:r:SessionAffinity:Enabled"] = "true";
        settings["ReverseProxy:Clusters:r:SessionAffinity:Policy"] = "Cookie";
        settings["ReverseProxy:Clusters:r:SessionAffinity:FailurePolicy"] = "Return503Error";
        settings["ReverseProxy:Clusters:r:SessionAffinity:AffinityKeyName"] = "aff";
        return settings;
    }

    [Fact]
    public async Task A_request_refused_by_session_affinity_never_sent_consumes_nothing()
    {
        using var backend = new RecordingBackend();
        var settings = WithCookieAffinity(backend);
        await using var gateway = await GatewayServer.StartAsync(settings);

        var bogus = new HttpRequestMessage(HttpMethod.Post, "/v1/a") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json") };
        bogus.Headers.TryAddWithoutValidation("Idempotency-Key", "k1");
        bogus.Headers.TryAddWithoutValidation("Cookie", "aff=not-a-protected-key");
        var refused = await gateway.Client.SendAsync(bogus);
        Assert.Empty(backend.Seen);

        var receipt = (await gateway.ReceiptsAsync()).Last().GetProperty("body");
        // What the receipt claims: a backend answered 503 (none did), and the claim is kept.
        Assert.True(receipt.GetProperty("upstream_status").ValueKind == System.Text.Json.JsonValueKind.Null,
            $"status {(int)refused.StatusCode}, receipt {receipt}");

        // Same nonce, same request, without the bogus cookie: nothing was sent, so it may run.
        var retry = new HttpRequestMessage(HttpMethod.Post, "/v1/a") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json") };
        retry.Headers.TryAddWithoutValidation("Idempotency-Key", "k1");
        Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
        var again = await gateway.Client.SendAsync(retry);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Single(backend.Seen);
    }

    /// <summary>A load-balancing policy (a plain YARP extension point) that fails while picking.</summary>
    private sealed class ThrowingPolicy : Yarp.ReverseProxy.LoadBalancing.ILoadBalancingPolicy
    {
        public string Name => "Throwing";

        public Yarp.ReverseProxy.Model.DestinationState? PickDestination(Microsoft.AspNetCore.Http.HttpContext context, Yarp.ReverseProxy.Model.ClusterState cluster, IReadOnlyList<Yarp.ReverseProxy.Model.DestinationState> availableDestinations)
            => throw new InvalidOperationException("no destination for you");
    }

    [Fact]
    public async Task A_step_of_the_proxy_that_throws_before_sending_leaves_a_receipt_and_consumes_nothing()
    {
        // The boundary completed a call only when YARP's steps returned: one that threw left its
        // claim in progress (the same nonce answered 409 in_progress until a restart) with no
        // receipt, and the agent a bare 500.
        using var backend = new RecordingBackend();
        var settings = ProxyConfig.Route("r", "op", "v1", backend.Address);
        settings["ReverseProxy:Clusters:r:Destinations:d2:Address"] = backend.Address;
        settings["ReverseProxy:Clusters:r:LoadBalancingPolicy"] = "Throwing";
        await using var gateway = await GatewayServer.StartAsync(settings, configure: builder =>
            builder.Services.AddSingleton<Yarp.ReverseProxy.LoadBalancing.ILoadBalancingPolicy, ThrowingPolicy>());

        var refused = await gateway.Client.SendAsync(Post("lb-1"));
        Assert.Empty(backend.Seen);
        Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
        var problem = await Json.ReadAsync(refused);
        Assert.Equal("upstream_failed", problem.Str("code"));
        var receipt = (await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{problem.Str("id")}"))).GetProperty("body");
        Assert.Equal("upstream_failed", receipt.Str("decision"));

        // Nothing was sent: the same nonce may run again (and fails the same way, released again).
        Assert.Equal(HttpStatusCode.BadGateway, (await gateway.Client.SendAsync(Post("lb-1"))).StatusCode);

        static HttpRequestMessage Post(string nonce)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/a") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json") };
            request.Headers.TryAddWithoutValidation("Idempotency-Key", nonce);
            return request;
        }
    }

    [Fact]
    public async Task An_affinity_cookie_outlives_a_restart_because_its_key_is_kept_in_the_data_dir()
    {
        using var backend = new RecordingBackend();
        var settings = WithCookieAffinity(backend);
        var dataDir = TempDir.Create();
        try
        {
            HttpRequestMessage Post(string nonce, string? cookie)
            {
                var request = new HttpRequestMessage(HttpMethod.Post, "/v1/a") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json") };
                request.Headers.TryAddWithoutValidation("Idempotency-Key", nonce);
                if (cookie is not null)
                {
                    request.Headers.TryAddWithoutValidation("Cookie", cookie);
                }
                return request;
            }
            string cookie;
            await using (var first = await GatewayServer.StartAsync(settings, dataDir: dataDir))
            {
                var answer = await first.Client.SendAsync(Post("k-first", null));
                Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
                cookie = answer.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("aff=", StringComparison.Ordinal)).Split(';')[0];
            }
            Assert.NotEmpty(Directory.EnumerateFiles(Path.Combine(dataDir, "data-protection-keys")));

            // Unreadable after a restart, it was refused under Return503Error (a 502, nothing sent).
            await using var again = await GatewayServer.StartAsync(settings, dataDir: dataDir);
            Assert.Equal(HttpStatusCode.OK, (await again.Client.SendAsync(Post("k-again", cookie))).StatusCode);
            Assert.Equal(2, backend.Seen.Count);
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }
}
