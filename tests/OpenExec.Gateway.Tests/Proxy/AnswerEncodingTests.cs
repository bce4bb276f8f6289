using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// The receipt hashes an action's answer as the backend sent it; an agent's client decompresses
/// what it reads (requests, fetch, curl --compressed), so a compressed answer could never be
/// checked against its receipt. An action's backend is not offered compression; a pass-through
/// read, which has no receipt, still is.
/// </summary>
public sealed class AnswerEncodingTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_action_asks_its_backend_for_the_identity_coding_and_a_pass_through_read_keeps_the_agents(bool passThrough)
    {
        using var backend = new RecordingBackend();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", backend.Address, passThrough: passThrough));

        var (status, _) = await RawHttp.SendAsync(gateway.BaseAddress, passThrough
            ? "GET /v1/read HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\nConnection: close\r\n\r\n"
            : "POST /v1/do HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-enc\r\nAccept-Encoding: gzip, br\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", passThrough ? null : "{}"u8.ToArray());

        Assert.Equal(200, status);
        Assert.True(backend.Seen.TryDequeue(out var seen));
        var asked = seen.Head.Split("\r\n").Single(line => line.StartsWith("Accept-Encoding:", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(passThrough ? "Accept-Encoding: gzip, br" : "Accept-Encoding: identity", asked);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_backends_answer_header_outside_ASCII_reaches_the_agent_byte_for_byte(bool passThrough)
    {
        // The backend's client reads header bytes as Latin-1 and Kestrel refused to write them
        // back: an action that had answered whole was a 504 outcome_unknown (the /execute door
        // answered 200), and a pass-through read a 504 too.
        const string Utf8Cafe = "caf\u00c3\u00a9"; // the UTF-8 bytes of "café", one char per byte
        using var backend = new RecordingBackend($"HTTP/1.1 200 OK\r\nX-Name: {Utf8Cafe}\r\nX-Latin: na\u00efve\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{{\"ok\":true}}");
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("r", "op", "v1", backend.Address, passThrough: passThrough));

        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(gateway.BaseAddress.Host, gateway.BaseAddress.Port);
        var stream = client.GetStream();
        var request = passThrough
            ? "GET /v1/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            : "POST /v1/a HTTP/1.1\r\nHost: x\r\nIdempotency-Key: hdr-1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(request));
        using var received = new MemoryStream();
        await stream.CopyToAsync(received);
        var answer = System.Text.Encoding.Latin1.GetString(received.ToArray());

        Assert.StartsWith("HTTP/1.1 200 ", answer, StringComparison.Ordinal);
        Assert.Contains($"\r\nX-Name: {Utf8Cafe}\r\n", answer, StringComparison.Ordinal);
        Assert.Contains("\r\nX-Latin: na\u00efve\r\n", answer, StringComparison.Ordinal);
        Assert.EndsWith("{\"ok\":true}", answer, StringComparison.Ordinal);
        Assert.Equal(!passThrough, answer.Contains("\r\nOpenExec-Receipt: ", StringComparison.OrdinalIgnoreCase));
    }
}
