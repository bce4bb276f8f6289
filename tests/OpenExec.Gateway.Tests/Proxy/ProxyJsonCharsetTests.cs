using System.Net;
using System.Net.Http.Headers;
using System.Text;
using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// A JSON body is hashed as the UTF-8 text the gateway parses. A backend that decodes the body
/// with the Content-Type's charset (aiohttp's request.json(), Spring's Jackson converter for
/// non-Unicode charsets) reads the same bytes as another JSON document: under charset=utf-7,
/// "+ACIALAAi...-" is '","to":"mallory', so an approval for to=alice runs as to=mallory.
/// </summary>
public sealed class ProxyJsonCharsetTests : IAsyncLifetime
{
    private const string Tenant = "tenant-001";
    private readonly RecordingBackend _backend = new();
    private readonly ReceiptSigningKey _governance = ReceiptSigningKey.Generate();
    private GatewayServer _gateway = null!;

    public async Task InitializeAsync()
    {
        _gateway = await GatewayServer.StartAsync(ProxyConfig.Route("pay", "send_payment", "v1", _backend.Address), new Dictionary<string, string?>
        {
            ["OPENEXEC_MODE"] = "clawshield",
            ["CLAWSHIELD_PUBLIC_KEY"] = _governance.ExportPublicPem(),
            ["CLAWSHIELD_TENANT_ID"] = Tenant,
        });
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _backend.Dispose();
        _governance.Dispose();
    }

    [Theory]
    [InlineData("application/json; charset=utf-7")]
    [InlineData("application/json;charset=\"UTF-7\"")]
    [InlineData("application/json; charset=shift_jis")]
    [InlineData("application/json; charset=utf-8; charset=utf-7")]
    public async Task A_json_body_in_a_charset_other_than_utf8_is_refused_not_forwarded(string contentType)
    {
        // "+ACIALAAiAHQAbwAiADoAIgBtAGEAbABsAG8AcgB5-" is UTF-7 for  ","to":"mallory
        const string body = """{"to":"alice","memo":"+ACIALAAiAHQAbwAiADoAIgBtAGEAbABsAG8AcgB5-"}""";
        var payload = ProxiedRequestPayload.Create("POST", "/v1/pay", "", StrictJson.Parse(Encoding.UTF8.GetBytes(body)));
        var now = DateTimeOffset.UtcNow;
        // The governance layer sees to=alice and approves.
        var approval = new ApprovalMinter(_governance).Mint(Tenant, ActionHash.Compute("send_payment", payload), now.AddSeconds(-5), now.AddMinutes(5));

        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/pay") { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        request.Headers.TryAddWithoutValidation("Idempotency-Key", "n-" + Guid.NewGuid());
        request.Headers.TryAddWithoutValidation("OpenExec-Approval", approval.ToHeader());
        var response = await _gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("unsupported_media_type", (await Json.ReadAsync(response)).Str("code"));
        Assert.Empty(_backend.Seen);
    }

    [Theory]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("application/json; charset=\"UTF-8\"")]
    [InlineData("application/problem+json")]
    public async Task Utf8_json_still_runs(string contentType)
    {
        const string body = """{"to":"alice"}""";
        var payload = ProxiedRequestPayload.Create("POST", "/v1/pay", "", StrictJson.Parse(Encoding.UTF8.GetBytes(body)));
        var now = DateTimeOffset.UtcNow;
        var approval = new ApprovalMinter(_governance).Mint(Tenant, ActionHash.Compute("send_payment", payload), now.AddSeconds(-5), now.AddMinutes(5));

        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/pay") { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        request.Headers.TryAddWithoutValidation("Idempotency-Key", "n-" + Guid.NewGuid());
        request.Headers.TryAddWithoutValidation("OpenExec-Approval", approval.ToHeader());
        var response = await _gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(_backend.Seen);
    }
}
