using System.Net;
using System.Security.Cryptography;
using System.Text;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// An HTTP/1.0 backend (or an HTTP/1.1 one that sends neither Content-Length nor chunked) ends
/// its answer by closing the connection (RFC 9112 section 6.3). That close is the answer's end,
/// not a break: the answer passes through whole and is receipted as executed, once.
/// </summary>
public sealed class CloseDelimitedAnswerTests
{
    private const string Answer = """{"sent":true,"id":"m-1"}""";

    [Theory]
    [InlineData("HTTP/1.0")]
    [InlineData("HTTP/1.1")]
    public async Task A_close_delimited_answer_passes_through_whole_and_is_receipted_as_executed(string version)
    {
        using var backend = new RecordingBackend($"{version} 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{Answer}", closeAfterAnswer: true);
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("mail", "send_email", "v1", backend.Address));

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/send") { Content = new StringContent("""{"to":"a@example.com"}""", Encoding.UTF8, "application/json") };
        request.Headers.Add("Idempotency-Key", "k-close-" + version);
        var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Answer, await response.Content.ReadAsStringAsync());
        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{response.Headers.GetValues("OpenExec-Exec-Id").Single()}"));
        Assert.Equal(receipt.Str("hash"), response.Headers.GetValues("OpenExec-Receipt").Single());
        var body = receipt.GetProperty("body");
        Assert.Equal(("executed", 200), (body.Str("decision"), body.GetProperty("upstream_status").GetInt32()));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Answer))), body.Str("result_sha256"));
        Assert.Equal(1, backend.Requests);
    }
}
