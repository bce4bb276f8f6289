using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>Bodyless statuses whose backend sends a body anyway: the agent gets what the receipt hashes.</summary>
public sealed class BodylessAnswerTests
{
    [Theory]
    [InlineData("HTTP/1.1 205 Reset Content\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")]
    [InlineData("HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n")]
    [InlineData("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello")]
    [InlineData("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")]
    [InlineData("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n")]
    public async Task What_the_agent_gets_is_what_the_receipt_hashes(string answer)
    {
        using var backend = new RecordingBackend(answer);
        var logs = new LogCapture();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("odd", "odd", "v1", backend.Address), configure: b => b.Logging.AddProvider(logs));

        var (status, text) = await RawHttp.SendAsync(gateway.BaseAddress,
            "POST /v1/x HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-odd\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
        var parts = text.Split("\r\n\r\n", 2);
        var head = parts[0];
        var body = parts.Length > 1 ? parts[1] : "";
        var execId = Regex.Match(head, "OpenExec-Exec-Id: (\\S+)", RegexOptions.IgnoreCase).Groups[1].Value;
        var receipt = (await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{execId}"))).GetProperty("body");

        Assert.True(status != 500, text + "\n" + string.Join("\n", logs.Lines));
        if (receipt.GetProperty("result_sha256").ValueKind == JsonValueKind.String)
        {
            Assert.Equal(receipt.Str("result_sha256"), Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body))));
        }
    }

    [Theory]
    [InlineData("HTTP/1.1 205 Reset Content\r\nContent-Type: text/event-stream\r\nContent-Length: 5\r\n\r\nhello")]
    [InlineData("HTTP/1.1 205 Reset Content\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")]
    public async Task A_bodyless_status_never_streams_even_as_an_event_stream(string answer)
    {
        // It switched to streaming: Kestrel refused to start a 205 with a length, the agent got a
        // bare 502 with no OpenExec-Exec-Id, and the receipt said outcome_unknown.
        using var backend = new RecordingBackend(answer);
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("odd", "odd", "v1", backend.Address));

        var (status, text) = await RawHttp.SendAsync(gateway.BaseAddress,
            "POST /v1/x HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-odd-sse\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");

        Assert.True(status == 205, text);
        var parts = text.Split("\r\n\r\n", 2);
        Assert.Equal("", parts.Length > 1 ? parts[1] : "");
        var execId = Regex.Match(parts[0], "OpenExec-Exec-Id: (\\S+)", RegexOptions.IgnoreCase).Groups[1].Value;
        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{execId}"));
        Assert.Contains($"OpenExec-Receipt: {receipt.Str("hash")}", parts[0], StringComparison.OrdinalIgnoreCase);
        Assert.Equal("executed", receipt.GetProperty("body").Str("decision"));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData([])), receipt.GetProperty("body").Str("result_sha256"));
    }
}
