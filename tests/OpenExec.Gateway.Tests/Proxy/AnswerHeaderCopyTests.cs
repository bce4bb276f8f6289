using System.Net.Sockets;
using System.Text;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// The gateway copies an answer's headers itself (YARP's copy, one change first): a
/// <c>Content-Length</c> repeated with one value is passed on as one, and a route's own answer
/// header transforms still see the copied headers.
/// </summary>
public sealed class AnswerHeaderCopyTests
{
    private const string Body = "{\"ok\":true}";

    [Theory]
    [InlineData(false, "Content-Length: 11\r\nContent-Length: 11\r\n")]
    [InlineData(true, "Content-Length: 11\r\nContent-Length: 11\r\n")]
    [InlineData(false, "Content-Length: 11\r\nContent-Length: 11\r\nContent-Length: 11\r\n")]
    public async Task An_answer_repeating_one_Content_Length_reaches_the_agent_whole_with_one(bool passThrough, string lengths)
    {
        // RFC 9110 section 8.6: repeated fields of one value are that value. Kestrel refused to
        // write two, so an action that had answered whole was a 504 outcome_unknown (a pass-through
        // read a 504 too), where /execute of the same backend answered 200.
        using var backend = new RecordingBackend($"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{lengths}\r\n{Body}");
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", backend.Address, passThrough: passThrough));

        var answer = await SendAsync(gateway, passThrough, "dup-1");

        Assert.StartsWith("HTTP/1.1 200 ", answer, StringComparison.Ordinal);
        Assert.Single(HeaderLines(answer, "Content-Length"), "Content-Length: 11");
        Assert.EndsWith(Body, answer, StringComparison.Ordinal);
        if (!passThrough)
        {
            var execId = HeaderLines(answer, "OpenExec-Exec-Id").Single()["OpenExec-Exec-Id: ".Length..];
            var receipt = (await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{execId}"))).GetProperty("body");
            Assert.Equal("executed", receipt.Str("decision"));
            Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(Body))), receipt.Str("result_sha256"));
        }
    }

    [Fact]
    public async Task An_answer_declaring_two_different_lengths_is_still_never_passed_on()
    {
        using var backend = new RecordingBackend($"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nContent-Length: 12\r\n\r\n{Body}");
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", backend.Address));

        var answer = await SendAsync(gateway, passThrough: false, "dup-2");

        Assert.StartsWith("HTTP/1.1 504 ", answer, StringComparison.Ordinal);
        var problem = System.Text.Json.JsonDocument.Parse(answer[(answer.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]).RootElement;
        Assert.Equal("outcome_unknown", problem.Str("code"));
        // The status the backend answered with, as /execute records it for the same answer.
        var receipt = (await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{problem.Str("id")}"))).GetProperty("body");
        Assert.Equal("outcome_unknown", receipt.Str("decision"));
        Assert.Equal(200, receipt.GetProperty("upstream_status").GetInt32());
        // The gateway's own answer names its receipt in the headers too, as a held answer does.
        Assert.Equal([$"OpenExec-Exec-Id: {problem.Str("id")}"], HeaderLines(answer, "OpenExec-Exec-Id"));
        Assert.Equal([$"OpenExec-Receipt: {problem.Str("receipt")}"], HeaderLines(answer, "OpenExec-Receipt"));
    }

    [Fact]
    public async Task Execute_of_a_routed_action_takes_a_repeated_Content_Length_as_one_too()
    {
        using var backend = new RecordingBackend($"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nContent-Length: 11\r\n\r\n{Body}");
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", backend.Address, executePath: "/v1/op"));

        using var response = await gateway.ExecuteAsync("op", new { }, "dup-3");

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.True((await Json.ReadAsync(response)).GetProperty("result").GetProperty("ok").GetBoolean());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_routes_answer_header_transforms_apply_to_the_copied_headers(bool passThrough)
    {
        using var backend = new RecordingBackend($"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Tool: a\r\nX-Secret: s\r\nContent-Length: 11\r\n\r\n{Body}");
        var settings = ProxyConfig.Route("r", "op", "v1", backend.Address, passThrough: passThrough);
        settings["ReverseProxy:Routes:r:Transforms:0:ResponseHeaderRemove"] = "X-Secret";
        settings["ReverseProxy:Routes:r:Transforms:1:ResponseHeader"] = "X-Tool";
        settings["ReverseProxy:Routes:r:Transforms:1:Append"] = "b";
        settings["ReverseProxy:Routes:r:Transforms:2:ResponseHeader"] = "X-Added";
        settings["ReverseProxy:Routes:r:Transforms:2:Set"] = "1";
        await using var gateway = await GatewayServer.StartAsync(settings);

        var answer = await SendAsync(gateway, passThrough, "dup-4");

        Assert.StartsWith("HTTP/1.1 200 ", answer, StringComparison.Ordinal);
        Assert.Empty(HeaderLines(answer, "X-Secret"));
        Assert.Equal(["X-Tool: a", "X-Tool: b"], HeaderLines(answer, "X-Tool"));
        Assert.Equal(["X-Added: 1"], HeaderLines(answer, "X-Added"));
        Assert.Single(HeaderLines(answer, "Content-Type"));
        Assert.EndsWith(Body, answer, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, 0x01, false)]
    [InlineData(false, 0x1F, false)]
    [InlineData(false, 0x7F, false)]
    [InlineData(true, 0x01, false)]
    [InlineData(false, 0x01, true)]
    public async Task An_answer_header_value_with_a_control_character_is_passed_on_with_a_space_in_its_place(bool passThrough, int control, bool allowedCopy)
    {
        // RFC 9110 section 5.5: control characters are invalid in a field value. Kestrel refuses
        // to write one, so an answer the backend had sent whole (the action certainly ran) was a
        // 504 outcome_unknown, "the action may have run". A proxy may replace them with SP.
        var value = $"a{(char)control}b";
        using var backend = new RecordingBackend($"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Tool: {value}\r\nX-Plain: c\r\nContent-Length: 11\r\n\r\n{Body}");
        var settings = ProxyConfig.Route("r", "op", "v1", backend.Address, passThrough: passThrough);
        if (allowedCopy)
        {
            // A route that copies only some of the answer's headers copies them from the same head.
            settings["ReverseProxy:Routes:r:Transforms:0:ResponseHeadersAllowed"] = "Content-Type;X-Tool;X-Plain";
        }
        await using var gateway = await GatewayServer.StartAsync(settings);

        var answer = await SendAsync(gateway, passThrough, $"ctl-{control}-{allowedCopy}");

        Assert.StartsWith("HTTP/1.1 200 ", answer, StringComparison.Ordinal);
        Assert.Equal(["X-Tool: a b"], HeaderLines(answer, "X-Tool"));
        Assert.Equal(["X-Plain: c"], HeaderLines(answer, "X-Plain"));
        Assert.EndsWith(Body, answer, StringComparison.Ordinal);
        if (!passThrough)
        {
            var execId = HeaderLines(answer, "OpenExec-Exec-Id").Single()["OpenExec-Exec-Id: ".Length..];
            var receipt = (await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{execId}"))).GetProperty("body");
            Assert.Equal("executed", receipt.Str("decision"));
            Assert.Equal(200, receipt.GetProperty("upstream_status").GetInt32());
        }
    }

    private static async Task<string> SendAsync(GatewayServer gateway, bool passThrough, string nonce)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(gateway.BaseAddress.Host, gateway.BaseAddress.Port);
        var stream = client.GetStream();
        var request = passThrough
            ? "GET /v1/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            : $"POST /v1/a HTTP/1.1\r\nHost: x\r\nIdempotency-Key: {nonce}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var received = new MemoryStream();
        await stream.CopyToAsync(received);
        return Encoding.Latin1.GetString(received.ToArray());
    }

    private static string[] HeaderLines(string answer, string name)
        => [.. answer[..answer.IndexOf("\r\n\r\n", StringComparison.Ordinal)].Split("\r\n").Where(line => line.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase))];
}
