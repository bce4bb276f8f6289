using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// The action hash covers the raw request-target path and query byte for byte (SPEC section 5);
/// the target YARP forwards must be that same target, or the request must be refused before
/// anything runs.
/// </summary>
public sealed class ForwardedPathTests
{
    [Theory]
    [InlineData("/v1/files/report%3Bv=2", "path_not_canonical")] // forwarded as /v1/files/report;v=2: a path parameter for Tomcat/Spring/Jetty
    [InlineData("/v1/users/a%40b", "path_not_canonical")]         // forwarded as /v1/users/a@b
    [InlineData("/v1/a%2Cb%3Dc", "path_not_canonical")]           // forwarded as /v1/a,b=c
    [InlineData("/v1/a%FF", "path_not_canonical")]                // forwarded as /v1/a%25FF (a literal "%FF", not the byte 0xFF)
    [InlineData("/v1/a%2", "path_not_canonical")]                 // forwarded as /v1/a%252
    [InlineData("/v1/a?x=%41", "invalid_query")]                  // forwarded as ?x=A
    [InlineData("/v1/a?q=%zz&b=1", "invalid_query")]              // forwarded as ?q=%25zz: a strict decoder drops the pair it was
    [InlineData("/v1/a?q=%", "invalid_query")]                    // forwarded as ?q=%25
    public async Task The_forwarded_target_is_the_hashed_target_or_the_request_is_refused(string target, string code)
    {
        using var backend = new RecordingBackend();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", backend.Address));

        var (status, text) = await RawHttp.SendAsync(gateway.BaseAddress,
            $"POST {target} HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", "{}"u8.ToArray());

        if (backend.Seen.TryDequeue(out var seen))
        {
            // It ran: then what ran must be what the action hash (and the approval) covered.
            Assert.Equal($"POST {target} HTTP/1.1", seen.Head.Split("\r\n")[0]);
        }
        else
        {
            Assert.Equal(400, status);
            Assert.Contains(code, text, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// Kestrel removes "." and ".." segments (and "%2E" ones) before routing: "/v1/../execute"
    /// ran /execute and "/v1/%2e%2e/x" was a 404, where SPEC section 5 answers a path with dot
    /// segments 400 path_not_canonical. Refused before routing, on every path; segments that only
    /// hold dots among other characters are names, and pass.
    /// </summary>
    [Theory]
    [InlineData("POST", "/v1/../execute", 400)]
    [InlineData("POST", "/v1/%2e%2e/x", 400)]
    [InlineData("POST", "/v1/%2E%2e/execute", 400)]
    [InlineData("POST", "/v1/./x", 400)]
    [InlineData("POST", "/v1/.%2E/x", 400)]
    [InlineData("POST", "/v1/x/..", 400)]
    [InlineData("POST", "/execute/..?a=b", 400)]
    [InlineData("POST", "/./execute", 400)]
    [InlineData("POST", "/v1/.../x", 200)]
    [InlineData("POST", "/v1/a..b/.x/x.", 200)]
    public async Task Dot_segments_are_refused_before_routing(string method, string target, int expected)
    {
        using var backend = new RecordingBackend();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", backend.Address));
        var body = """{"action":"echo","payload":{},"nonce":"dot-1"}"""u8.ToArray();

        var (status, text) = await RawHttp.SendAsync(gateway.BaseAddress,
            $"{method} {target} HTTP/1.1\r\nHost: x\r\nIdempotency-Key: dot-1\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n", body);

        Assert.Equal(expected, status);
        if (expected == 400)
        {
            Assert.Contains("path_not_canonical", text, StringComparison.Ordinal);
            Assert.Empty(backend.Seen);
            using var client = new HttpClient { BaseAddress = gateway.BaseAddress };
            // Nothing ran, not even /execute's echo: the chain is empty.
            Assert.Equal("", (await client.GetStringAsync("/receipts")).Trim());
        }
        else
        {
            Assert.True(backend.Seen.TryDequeue(out var seen));
            Assert.Equal($"{method} {target} HTTP/1.1", seen.Head.Split("\r\n")[0]);
        }
    }

    /// <summary>
    /// fetch, browsers and curl leave <c>| { } ^ ` \ "</c> as typed; the forwarder would encode them,
    /// so the refusal stays, but it names each character and its escape (the refusal for an
    /// unneeded escape said "no escapes of unreserved characters": the opposite of the fix). An
    /// unneeded or broken escape keeps its own refusal; query keys that differ only in case (one
    /// key to ASP.NET Core and to YARP's query transforms, which merge them) are refused too.
    /// </summary>
    [Theory]
    [InlineData("/v1/a?q=a|b", "invalid_query", "percent-encode '|' as %7C,")]
    [InlineData("/v1/a?filter={\"a\":1}", "invalid_query", "percent-encode '{' as %7B, '\"' as %22, '}' as %7D,")]
    [InlineData("/v1/a?q=a^b`c\\d", "invalid_query", "percent-encode '^' as %5E, '`' as %60, '\\' as %5C,")]
    [InlineData("/v1/a|b", "path_not_canonical", "percent-encode '|' as %7C,")]
    [InlineData("/v1/a^b?q=1", "path_not_canonical", "percent-encode '^' as %5E,")]
    [InlineData("/v1/a?x=%41", "invalid_query", "no escapes of unreserved characters")]
    [InlineData("/v1/a?q=%zz", "invalid_query", "no '%' that does not start an escape")]
    [InlineData("/v1/users/a%40b", "path_not_canonical", "percent-encode only characters that must be encoded (write '%40' as '@':")]
    [InlineData("/v1/users/%7Euser", "path_not_canonical", "(write '%7E' as '~':")]
    [InlineData("/v1/a?x=%41&y=%7e", "invalid_query", "(write '%41' as 'A', '%7e' as '~': that is how the forwarder sends them")]
    [InlineData("/v1/a?q=100%", "invalid_query", "(write a '%' that starts no escape as %25:")]
    [InlineData("/v1/a?AMOUNT=1000000&amount=10", "invalid_query", "Query keys 'AMOUNT' and 'amount' differ only in case")]
    public async Task A_target_left_unencoded_or_escaped_without_need_is_refused_saying_what_to_send(string target, string code, string detail)
    {
        using var backend = new RecordingBackend();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", backend.Address));

        var (status, text) = await RawHttp.SendAsync(gateway.BaseAddress,
            $"POST {target} HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", "{}"u8.ToArray());

        Assert.Equal(400, status);
        Assert.False(backend.Seen.TryDequeue(out _));
        var problem = ProblemOf(text);
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.Contains(detail, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        if (!detail.StartsWith("percent-encode '", StringComparison.Ordinal))
        {
            Assert.DoesNotContain("percent-encode '", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
    }

    private static System.Text.Json.JsonElement ProblemOf(string response)
        => System.Text.Json.JsonDocument.Parse(response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]).RootElement.Clone();

    [Theory]
    [InlineData("/v1/a%20b")]
    [InlineData("/v1/caf%C3%A9")]
    [InlineData("/v1/caf%c3%a9")]
    [InlineData("/v1/a%3Fb%23c%25")]
    [InlineData("/v1/a%252e%252e/x")]
    [InlineData("/v1/plain/path-._~!$&'()*+,;=:@")]
    [InlineData("/v1/a?q=a%20b&c=%2B&d=caf%C3%A9&e=%25&f=/x?y")]
    [InlineData("/v1/a?q=a+b&list=1&list=2&empty=&flag")]
    public async Task Targets_whose_encoding_survives_forwarding_still_run(string target)
    {
        using var backend = new RecordingBackend();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", backend.Address));

        var (status, _) = await RawHttp.SendAsync(gateway.BaseAddress,
            $"POST {target} HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", "{}"u8.ToArray());

        Assert.Equal(200, status);
        Assert.True(backend.Seen.TryDequeue(out var seen));
        Assert.Equal($"POST {target} HTTP/1.1".ToUpperInvariant(), seen.Head.Split("\r\n")[0].ToUpperInvariant());
    }

    /// <summary>
    /// The CLI mints approvals by the Core's rules of what the gateway forwards as sent
    /// (<c>ForwardsAsSentPath</c>, <c>ForwardsAsSentQuery</c>); the gateway decides by what its
    /// forwarder really sends. Two implementations of one rule, held together here: for targets
    /// drawn from the characters and escapes where they could part, the gateway forwards byte for
    /// byte exactly those the rules accept, and refuses the others before anything runs.
    /// </summary>
    [Fact]
    public async Task The_cli_rules_and_the_gateway_agree_on_which_targets_are_forwarded_as_sent()
    {
        string[] pathPieces = ["a", "Z9", "-._~", "!$&'()*+,;=:@", "%20", "%3B", "%3b", "%41", "%7E", "%25", "%", "%2", "%zz", "%C3%A9", "%c3%a9", "%FF", "%E2%82", "%E2%82%AC", "%2F", "%2E", "..", ".", ";x", "%40", "%2C", "%5B", "%7B"];
        string[] queryPieces = ["a=1", "&", "+", "%20", "%2B", "%41", "%7e", "%zz", "%", "%25", "[", "]", "?", "/", "=", "%C3%A9", "%FF", "~", ":@!$'()*,;", "%5B"];
        var random = new Random(20261127);
        string Draw(string[] pieces, int max) => string.Concat(Enumerable.Range(0, random.Next(1, max)).Select(_ => pieces[random.Next(pieces.Length)]));

        using var backend = new RecordingBackend();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", backend.Address));
        var disagreements = new List<string>();
        var forwarded = 0;
        for (var i = 0; i < 400; i++)
        {
            var path = "/v1/" + Draw(pathPieces, 4) + (random.Next(3) == 0 ? "/" + Draw(pathPieces, 3) : "");
            var query = random.Next(2) == 0 ? null : Draw(queryPieces, 5);
            var target = query is null ? path : path + "?" + query;
            var expected = OpenExec.Core.Approvals.ProxiedRequestPayload.IsCanonicalPath(path)
                && OpenExec.Core.Approvals.ProxiedRequestPayload.ForwardsAsSentPath(path)
                && OpenExec.Core.Approvals.ProxiedRequestPayload.ForwardsAsSentQuery(query ?? "");

            var (status, text) = await RawHttp.SendAsync(gateway.BaseAddress,
                $"POST {target} HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-{i}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", "{}"u8.ToArray());
            var ran = backend.Seen.TryDequeue(out var seen);
            if (ran)
            {
                forwarded++;
                if (!string.Equals(seen.Head.Split("\r\n")[0], $"POST {target} HTTP/1.1", StringComparison.OrdinalIgnoreCase))
                {
                    disagreements.Add($"{target}: forwarded as {seen.Head.Split("\r\n")[0]}");
                }
            }
            // Refused by these rules (400), a dot segment Kestrel would resolve before routing
            // ("/v1/.." is "/") included: nothing ran.
            if (ran != expected || (!ran && status != 400))
            {
                disagreements.Add($"{target}: rules say {(expected ? "forwarded" : "refused")}, gateway answered {status}{(ran ? " and forwarded it" : "")}");
            }
        }
        Assert.True(disagreements.Count == 0, string.Join("\n", disagreements));
        // Both outcomes drawn often enough to mean something.
        Assert.InRange(forwarded, 30, 370);
    }
}
