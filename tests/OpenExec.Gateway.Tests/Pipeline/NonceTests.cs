using System.Net;
using System.Text.Json;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Pipeline;

/// <summary>
/// Nothing executes twice (SPEC section 3, steps 4 and 6): a nonce names one request, once, in
/// its tenant; of any number of concurrent requests with one nonce exactly one wins.
/// </summary>
public sealed class NonceTests
{
    [Fact]
    public async Task Same_nonce_and_same_request_is_replay_denied_naming_the_original()
    {
        await using var gateway = await GatewayServer.StartAsync();
        var first = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { msg = "once" }, "n-1"));

        for (var attempt = 0; attempt < 2; attempt++)
        {
            var replay = await GatewayAssert.ProblemAsync(await gateway.ExecuteAsync("echo", new { msg = "once" }, "n-1"), HttpStatusCode.Conflict, "replay_denied");

            var original = replay.GetProperty("original");
            Assert.Equal(first.Str("id"), original.Str("id"));
            Assert.Equal(first.Str("receipt"), original.Str("receipt"));
            Assert.Equal("executed", original.Str("decision"));
            Assert.NotEqual(first.Str("id"), replay.Str("id"));
            var receipt = await GatewayAssert.ReceiptBodyAsync(gateway, replay.Str("id"));
            Assert.Equal("replay_denied", receipt.Str("decision"));
            Assert.Equal("replay_denied", receipt.Str("code"));
            Assert.Equal(first.GetProperty("receipt_document").GetProperty("body").Str("nonce_sha256"), receipt.Str("nonce_sha256"));
        }

        // The same request written with other whitespace and key order is the same request.
        var respelled = await gateway.PostJsonAsync("/execute", """{ "nonce": "n-1", "payload": { "msg": "once" }, "action": "echo" }""");
        await GatewayAssert.ProblemAsync(respelled, HttpStatusCode.Conflict, "replay_denied");

        var receipts = await gateway.ReceiptsAsync();
        Assert.Single(receipts, r => r.GetProperty("body").Str("decision") == "executed");
    }

    [Fact]
    public async Task Same_nonce_for_another_request_is_nonce_reused_and_reveals_nothing_about_the_first()
    {
        await using var gateway = await GatewayServer.StartAsync();
        var first = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { secret = "FIRST-REQUEST-SECRET" }, "n-1"));

        foreach (var other in new[]
        {
            gateway.ExecuteAsync("echo", new { secret = "another" }, "n-1"),
            gateway.ExecuteAsync("add", new { a = 1 }, "n-1"),
            gateway.ExecuteAsync("echo", new { }, "n-1"),
        })
        {
            var response = await other;
            var text = await response.Content.ReadAsStringAsync();
            var problem = await GatewayAssert.ProblemAsync(response, (HttpStatusCode)422, "nonce_reused");

            Assert.False(problem.TryGetProperty("original", out _), text);
            Assert.DoesNotContain(first.Str("id"), text, StringComparison.Ordinal);
            Assert.DoesNotContain(first.Str("receipt"), text, StringComparison.Ordinal);
            Assert.DoesNotContain("FIRST-REQUEST-SECRET", text, StringComparison.Ordinal);
            Assert.DoesNotContain("executed", text, StringComparison.Ordinal);
            // No bare "use a new nonce": a client that followed a redirect or changed its retry
            // gets here after the first request ran, and must check before sending again.
            Assert.Equal("Nonce already used for a different request; this one was not run. The first may have run (a retry with changes, or a redirect the client followed): check it before sending this request with a new nonce", problem.Str("detail"));
            var receipt = await GatewayAssert.ReceiptBodyAsync(gateway, problem.Str("id"));
            Assert.Equal("nonce_reused", receipt.Str("decision"));
            Assert.Equal("nonce_reused", receipt.Str("code"));
        }

        // The first request keeps its nonce: replaying it is still a replay of it.
        await GatewayAssert.ProblemAsync(await gateway.ExecuteAsync("echo", new { secret = "FIRST-REQUEST-SECRET" }, "n-1"), HttpStatusCode.Conflict, "replay_denied");
    }

    [Fact]
    public async Task Nonces_are_scoped_to_the_tenant()
    {
        using var governance = new Governance();
        var settings = new Dictionary<string, string?> { ["OpenExec:AllowAnyTenant"] = "true" };
        await using var gateway = await GatewayServer.StartAsync(settings, governance.Environment());
        const string payload = """{"msg":"same request"}""";
        var now = DateTimeOffset.UtcNow;

        var a = await GatewayAssert.ExecutedAsync(await gateway.PostJsonAsync("/execute", Governance.Body("echo", payload, "shared-nonce", governance.Approve("echo", payload, now, tenant: "tenant-a"))));
        var b = await GatewayAssert.ExecutedAsync(await gateway.PostJsonAsync("/execute", Governance.Body("echo", payload, "shared-nonce", governance.Approve("echo", payload, now, tenant: "tenant-b"))));

        var bodyA = a.GetProperty("receipt_document").GetProperty("body");
        var bodyB = b.GetProperty("receipt_document").GetProperty("body");
        Assert.Equal("tenant-a", bodyA.Str("tenant"));
        Assert.Equal("tenant-b", bodyB.Str("tenant"));
        Assert.Equal(NonceHash.Compute("tenant-a", "shared-nonce"), bodyA.Str("nonce_sha256"));
        Assert.Equal(NonceHash.Compute("tenant-b", "shared-nonce"), bodyB.Str("nonce_sha256"));

        // Within one tenant the nonce is used, whatever fresh approval comes with it.
        var again = await GatewayAssert.ProblemAsync(
            await gateway.PostJsonAsync("/execute", Governance.Body("echo", payload, "shared-nonce", governance.Approve("echo", payload, now, tenant: "tenant-a"))),
            HttpStatusCode.Conflict,
            "replay_denied");
        Assert.Equal(a.Str("id"), again.GetProperty("original").Str("id"));
    }

    [Fact]
    public async Task Demo_nonces_are_scoped_to_the_default_tenant()
    {
        await using var gateway = await GatewayServer.StartAsync();

        var executed = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { }, "demo-nonce"));

        var body = executed.GetProperty("receipt_document").GetProperty("body");
        Assert.Equal("default", body.Str("tenant"));
        Assert.Equal(NonceHash.Compute("default", "demo-nonce"), body.Str("nonce_sha256"));
    }

    [Fact]
    public async Task Of_200_concurrent_requests_with_one_nonce_exactly_one_executes()
    {
        const int n = 200;
        await using var gateway = await GatewayServer.StartAsync();
        var clients = Clients(gateway, 4);
        try
        {
            var body = """{"action":"echo","payload":{"msg":"race"},"nonce":"one-nonce"}""";
            var responses = await Task.WhenAll(Enumerable.Range(0, n).Select(i => Send(clients[i % clients.Length], body)));

            var winners = responses.Where(r => r.Status == HttpStatusCode.OK).ToList();
            var winner = Assert.Single(winners);
            var losers = responses.Where(r => r.Status != HttpStatusCode.OK).ToList();
            Assert.Equal(n - 1, losers.Count);
            var winnerId = winner.Body.Str("id");
            foreach (var loser in losers)
            {
                Assert.True(loser.Status == HttpStatusCode.Conflict, $"{(int)loser.Status}: {loser.Body.GetRawText()}");
                var code = loser.Body.Str("code");
                Assert.True(code is "replay_denied" or "in_progress", code);
                if (code == "replay_denied")
                {
                    Assert.Equal(winnerId, loser.Body.GetProperty("original").Str("id"));
                }
            }

            var receipts = await gateway.ReceiptsAsync();
            Assert.Equal(n, receipts.Count);
            var executed = Assert.Single(receipts, r => r.GetProperty("body").Str("decision") == "executed");
            Assert.Equal(winnerId, executed.GetProperty("body").Str("exec_id"));
            Assert.All(receipts.Where(r => r.GetProperty("body").Str("exec_id") != winnerId), r => Assert.Contains(r.GetProperty("body").Str("decision"), new[] { "replay_denied", "in_progress" }));
        }
        finally
        {
            Array.ForEach(clients, c => c.Dispose());
        }
    }

    [Fact]
    public async Task Of_200_concurrent_requests_with_distinct_nonces_all_execute_on_a_gap_free_chain()
    {
        const int n = 200;
        await using var gateway = await GatewayServer.StartAsync();
        var clients = Clients(gateway, 4);
        try
        {
            var responses = await Task.WhenAll(Enumerable.Range(0, n).Select(i =>
                Send(clients[i % clients.Length], $$"""{"action":"add","payload":{"a":{{i}},"b":1},"nonce":"nonce-{{i}}"}""")));

            Assert.All(responses, r => Assert.True(r.Status == HttpStatusCode.OK, r.Body.GetRawText()));
            var ids = responses.Select(r => r.Body.Str("id")).ToList();
            Assert.Equal(n, ids.Distinct(StringComparer.Ordinal).Count());

            var receipts = await gateway.ReceiptsAsync();
            Assert.Equal(n, receipts.Count);
            var previous = ReceiptBody.GenesisPrev;
            for (var i = 0; i < n; i++)
            {
                var body = receipts[i].GetProperty("body");
                Assert.Equal(i + 1, body.GetProperty("seq").GetInt64());
                Assert.Equal(previous, body.Str("prev"));
                Assert.Equal("executed", body.Str("decision"));
                previous = receipts[i].Str("hash");
            }
            Assert.Equal(ids.Order(StringComparer.Ordinal), receipts.Select(r => r.GetProperty("body").Str("exec_id")).Order(StringComparer.Ordinal));

            // Under load a signature serves a batch; each document still verifies alone.
            var verified = await Task.WhenAll(receipts.Select(r =>
                gateway.PostJsonAsync("/receipts/verify", JsonSerializer.Serialize(new { receipt_document = r }))));
            foreach (var response in verified)
            {
                var checks = await Json.ReadAsync(response);
                Assert.True(checks.GetProperty("valid").GetBoolean(), checks.GetRawText());
            }
        }
        finally
        {
            Array.ForEach(clients, c => c.Dispose());
        }
    }

    private static HttpClient[] Clients(GatewayServer gateway, int count)
        => Enumerable.Range(0, count).Select(_ => new HttpClient(new SocketsHttpHandler()) { BaseAddress = gateway.BaseAddress }).ToArray();

    private static async Task<(HttpStatusCode Status, JsonElement Body)> Send(HttpClient client, string json)
    {
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using var response = await client.PostAsync("/execute", content);
        return (response.StatusCode, await Json.ReadAsync(response));
    }
}
