using System.Net;
using System.Text;
using OpenExec.Gateway.Tests.Infrastructure;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// A backend's redirects pass to the agent; one to the backend's own address would take a
/// client that follows it (curl -L, requests, fetch), body, nonce and approval header with it,
/// around the gateway: no check, no receipt. It reaches the agent relative, resolving against
/// the gateway.
/// </summary>
public sealed class RedirectTests : IDisposable
{
    private readonly WireMockServer _backend = WireMockServer.Start();

    public void Dispose() => _backend.Stop();

    [Theory]
    [InlineData("/v1/make", "{backend}/v1/after?x=1#top", "/v1/after?x=1#top")] // the backend's own address: kept behind the gateway
    [InlineData("/v1/make-pass", "{backend}/v1/read", "/v1/read")]             // on a pass-through route too
    [InlineData("/v1/scheme-relative", "{authority}/v1/direct", "/v1/direct")] // "//backend:port/x": relative to .NET, the backend all the same
    [InlineData("/v1/relative", "/v1/after", "/v1/after")]                      // relative: already resolves against the gateway
    [InlineData("/v1/elsewhere", "https://idp.example/login", "https://idp.example/login")] // another site: the backend's choice
    public async Task A_redirect_to_the_backends_own_address_reaches_the_agent_relative(string path, string location, string expected)
    {
        var backendUrl = _backend.Urls[0];
        _backend.Given(Request.Create().WithPath(path)).RespondWith(Response.Create().WithStatusCode(303).WithHeader("Location", location.Replace("{backend}", backendUrl, StringComparison.Ordinal).Replace("{authority}", "//" + new Uri(backendUrl).Authority, StringComparison.Ordinal)));
        var settings = ProxyConfig.Route("r", "op", "v1", backendUrl + "/");
        if (path.EndsWith("-pass", StringComparison.Ordinal))
        {
            settings = ProxyConfig.Route("r", "op", "v1", backendUrl + "/", passThrough: true);
        }
        await using var gateway = await GatewayServer.StartAsync(settings);
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = gateway.BaseAddress };

        var request = new HttpRequestMessage(path.EndsWith("-pass", StringComparison.Ordinal) ? HttpMethod.Get : HttpMethod.Post, path);
        if (request.Method == HttpMethod.Post)
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
            request.Headers.TryAddWithoutValidation("Idempotency-Key", "k-redirect");
        }
        var answer = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.SeeOther, answer.StatusCode);
        Assert.Equal(expected, answer.Headers.Location!.OriginalString);
    }
}
