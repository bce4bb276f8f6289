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
}
