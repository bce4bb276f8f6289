using System.Net;
using System.Text.Json;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Http;

/// <summary>The seed's 90-second quickstart, as typed there, against a real gateway.</summary>
public sealed class QuickstartTests
{
    [Fact]
    public async Task Echo_then_replay_then_verify_as_in_the_seed()
    {
        await using var gateway = await GatewayServer.StartAsync();

        var health = await Json.ReadAsync(await gateway.Client.GetAsync("/health"));
        Assert.Equal("healthy", health.Str("status"));
        Assert.Equal("demo", health.Str("exec_mode"));
        Assert.Equal("disabled", health.Str("signature_verification"));

        const string body = """
            {
                "action": "echo",
                "payload": { "msg": "hello world" },
                "nonce": "unique-1"
              }
            """;
        var first = await gateway.PostJsonAsync("/execute", body);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var executed = await Json.ReadAsync(first);
        Assert.Equal("echo", executed.Str("action"));
        Assert.True(executed.GetProperty("approved").GetBoolean());
        Assert.Equal("hello world", executed.GetProperty("result").GetProperty("echo").Str("msg"));
        var id = executed.Str("id");
        var receipt = executed.Str("receipt");
        Assert.Matches("^[0-9a-f]{64}$", receipt);
        Assert.Equal(receipt, executed.GetProperty("receipt_document").Str("hash"));
        Assert.Equal("executed", executed.GetProperty("receipt_document").GetProperty("body").Str("decision"));
        // Trace context exists even with no telemetry SDK configured: the receipt names its trace.
        Assert.Matches("^[0-9a-f]{32}$", executed.GetProperty("receipt_document").GetProperty("body").Str("trace_id"));

        var second = await gateway.PostJsonAsync("/execute", body);
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Equal("application/problem+json", second.Content.Headers.ContentType!.MediaType);
        var replay = await Json.ReadAsync(second);
        Assert.Equal("replay_denied", replay.Str("code"));
        Assert.Equal(id, replay.GetProperty("original").Str("id"));
        Assert.Equal(receipt, replay.GetProperty("original").Str("receipt"));
        Assert.Equal("executed", replay.GetProperty("original").Str("decision"));
        Assert.NotEqual(id, replay.Str("id"));

        var result = executed.GetProperty("result").GetRawText();
        var verify = await Json.ReadAsync(await gateway.PostJsonAsync("/receipts/verify", JsonSerializer.Serialize(new { exec_id = id, result, receipt })));
        Assert.True(verify.GetProperty("valid").GetBoolean(), verify.GetRawText());
        foreach (var check in new[] { "hash", "inclusion", "signature", "result", "chain" })
        {
            Assert.True(verify.GetProperty("checks").GetProperty(check).GetBoolean(), check);
        }

        var tampered = result.Replace("hello world", "hello w0rld", StringComparison.Ordinal);
        var refused = await Json.ReadAsync(await gateway.PostJsonAsync("/receipts/verify", JsonSerializer.Serialize(new { exec_id = id, result = tampered, receipt })));
        Assert.False(refused.GetProperty("valid").GetBoolean());
        Assert.False(refused.GetProperty("checks").GetProperty("result").GetBoolean());
        Assert.True(refused.GetProperty("checks").GetProperty("signature").GetBoolean());
    }

    [Fact]
    public async Task Add_sums_numbers_missing_operands_count_as_zero()
    {
        await using var gateway = await GatewayServer.StartAsync();

        var sum = await Json.ReadAsync(await gateway.ExecuteAsync("add", new { a = 2, b = 40 }, "n-add-1"));
        Assert.Equal(42, sum.GetProperty("result").GetProperty("sum").GetInt32());

        var half = await Json.ReadAsync(await gateway.ExecuteAsync("add", new { a = 1.5 }, "n-add-2"));
        Assert.Equal("1.5", half.GetProperty("result").GetProperty("sum").GetRawText());

        var big = await gateway.PostJsonAsync("/execute", """{"action":"add","payload":{"a":123456789012345678901234567890,"b":1},"nonce":"n-add-3"}""");
        Assert.Equal("123456789012345678901234567891", (await Json.ReadAsync(big)).GetProperty("result").GetProperty("sum").GetRawText());

        var notNumber = await Json.ReadAsync(await gateway.ExecuteAsync("add", new { a = "1" }, "n-add-4"));
        Assert.Equal("invalid_payload", notNumber.Str("code"));
        // A sum longer than the integers a request may carry is refused before anything is
        // claimed: no answer or receipt an auditor's JSON reader would refuse.
        var nines = new string('9', 4300);
        var tooLong = await gateway.PostJsonAsync("/execute", $$"""{"action":"add","payload":{"a":{{nines}},"b":{{nines}}},"nonce":"n-add-5"}""");
        Assert.Equal("invalid_payload", (await GatewayAssert.ProblemAsync(tooLong, HttpStatusCode.BadRequest, "invalid_payload")).Str("code"));
        var justFits = await gateway.PostJsonAsync("/execute", $$"""{"action":"add","payload":{"a":{{nines}},"b":-1},"nonce":"n-add-5"}""");
        Assert.Equal(4300, (await Json.ReadAsync(justFits)).GetProperty("result").GetProperty("sum").GetRawText().Length);
    }

    [Fact]
    public async Task Add_reads_the_integer_minus_zero_as_zero_as_the_approved_request_does()
    {
        // {"b":-0} and {"b":0} are one request (its hash reads -0 as 0) and Python adds them alike:
        // -0.0 + -0 is 0.0. Two bodies with one request_sha256 must not get two results.
        await using var gateway = await GatewayServer.StartAsync();

        var minusZero = await Json.ReadAsync(await gateway.PostJsonAsync("/execute", """{"action":"add","payload":{"a":-0.0,"b":-0},"nonce":"n-z1"}"""));
        var zero = await Json.ReadAsync(await gateway.PostJsonAsync("/execute", """{"action":"add","payload":{"a":-0.0,"b":0},"nonce":"n-z2"}"""));

        var minusZeroBody = minusZero.GetProperty("receipt_document").GetProperty("body");
        var zeroBody = zero.GetProperty("receipt_document").GetProperty("body");
        Assert.Equal(zeroBody.Str("request_sha256"), minusZeroBody.Str("request_sha256"));
        Assert.Equal("0.0", minusZero.GetProperty("result").GetProperty("sum").GetRawText());
        Assert.Equal(zeroBody.Str("result_sha256"), minusZeroBody.Str("result_sha256"));
    }

    [Fact]
    public async Task Service_endpoints_answer_with_the_seed_fields()
    {
        await using var gateway = await GatewayServer.StartAsync();

        var root = await Json.ReadAsync(await gateway.Client.GetAsync("/"));
        Assert.Equal("OpenExec", root.Str("service"));
        Assert.Equal("running", root.Str("status"));
        Assert.False(string.IsNullOrEmpty(root.Str("version")));

        var ready = await gateway.Client.GetAsync("/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.True((await Json.ReadAsync(ready)).GetProperty("ready").GetBoolean());

        var version = await Json.ReadAsync(await gateway.Client.GetAsync("/version"));
        Assert.Equal(root.Str("version"), version.Str("version"));
        Assert.True(DateTimeOffset.TryParse(version.Str("timestamp"), out _));

        var health = await Json.ReadAsync(await gateway.Client.GetAsync("/health"));
        Assert.Equal("open", health.Str("restriction"));
        Assert.Equal("No execution allow-list configured", health.Str("warning"));
        Assert.Equal("sqlite", health.Str("store"));
        Assert.Matches("^[0-9a-f]{16}$", health.Str("receipt_key_id"));
        Assert.Contains(health.GetProperty("warnings").EnumerateArray(), w => w.GetString()!.Contains("Demo mode", StringComparison.Ordinal));
    }
}
