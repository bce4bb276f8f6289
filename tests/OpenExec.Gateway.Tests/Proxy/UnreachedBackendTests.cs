using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// Failures that come before the request is written prove nothing was sent: 502
/// upstream_failed, the nonce free again. A forward proxy that would not open the tunnel, and
/// an HTTP version the backend would not agree to, read as "may have run" (504
/// outcome_unknown) and spent the nonce.
/// </summary>
public sealed class UnreachedBackendTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_cluster_demanding_HTTP2_of_a_TLS_backend_that_agrees_no_protocol_sends_nothing_and_releases_the_nonce(bool execute)
    {
        // TLS completes without ALPN (a server that names no protocol), so HTTP/2 cannot be
        // agreed: the client gives up before it writes a byte of the request.
        var received = 0;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var backend = new TcpListener(IPAddress.Loopback, 0);
        backend.Start();
        using var stop = new CancellationTokenSource();
        _ = TcpAccept.EachAsync(backend, stop.Token, client => _ = ServeAsync(client));
        async Task ServeAsync(TcpClient client)
        {
            using var _ = client;
            try
            {
                await using var tls = new System.Net.Security.SslStream(client.GetStream());
                await tls.AuthenticateAsServerAsync(new System.Net.Security.SslServerAuthenticationOptions { ServerCertificate = certificate });
                var buffer = new byte[1024];
                if (await tls.ReadAsync(buffer) > 0)
                {
                    Interlocked.Increment(ref received);
                }
            }
            catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException)
            {
            }
        }
        var address = $"https://127.0.0.1:{((IPEndPoint)backend.LocalEndpoint).Port}/";

        var settings = ProxyConfig.Route("r", "report", "v1", address, executePath: "/v1/report");
        settings["ReverseProxy:Clusters:r:HttpRequest:Version"] = "2";
        settings["ReverseProxy:Clusters:r:HttpRequest:VersionPolicy"] = "RequestVersionExact";
        settings["ReverseProxy:Clusters:r:HttpClient:DangerousAcceptAnyServerCertificate"] = "true";
        await using var gateway = await GatewayServer.StartAsync(settings);

        await AssertNothingSentTwiceAsync(gateway, execute);
        Assert.Equal(0, Volatile.Read(ref received));
        // A cluster that trusts any certificate says so where an operator looks.
        var health = await Json.ReadAsync(await gateway.Client.GetAsync("/health"));
        Assert.Contains(health.GetProperty("warnings").EnumerateArray(), w => w.GetString()!.StartsWith("Cluster 'r' accepts any TLS certificate", StringComparison.Ordinal));
        await stop.CancelAsync();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_forward_proxy_that_will_not_open_the_tunnel_sends_nothing_and_releases_the_nonce(bool execute)
    {
        using var proxy = new TcpListener(IPAddress.Loopback, 0);
        proxy.Start();
        using var stop = new CancellationTokenSource();
        var connects = 0;
        _ = TcpAccept.EachAsync(proxy, stop.Token, client => _ = RefuseTunnelAsync(client));
        async Task RefuseTunnelAsync(TcpClient client)
        {
            using var _ = client;
            var stream = client.GetStream();
            var head = new StringBuilder();
            var buffer = new byte[1024];
            while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var read = await stream.ReadAsync(buffer);
                if (read == 0)
                {
                    return;
                }
                head.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
            if (head.ToString().StartsWith("CONNECT ", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref connects);
            }
            await stream.WriteAsync("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray());
        }

        var settings = ProxyConfig.Route("r", "report", "v1", "https://127.0.0.1:1/", executePath: "/v1/report");
        settings["ReverseProxy:Clusters:r:HttpClient:WebProxy:Address"] = $"http://127.0.0.1:{((IPEndPoint)proxy.LocalEndpoint).Port}";
        await using var gateway = await GatewayServer.StartAsync(settings);

        await AssertNothingSentTwiceAsync(gateway, execute);
        Assert.True(Volatile.Read(ref connects) >= 2, "the proxy was asked for the tunnel");
        await stop.CancelAsync();
    }

    /// <summary>502 upstream_failed, and the same nonce again gets the same (not 409): it was released.</summary>
    private static async Task AssertNothingSentTwiceAsync(GatewayServer gateway, bool execute)
    {
        for (var attempt = 0; attempt < 2; attempt++)
        {
            using var response = execute
                ? await gateway.ExecuteAsync("report", new { n = 1 }, "k-unreached")
                : await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/report")
                {
                    Content = new StringContent("{\"n\":1}", Encoding.UTF8, "application/json"),
                    Headers = { { "Idempotency-Key", "k-unreached" } },
                });
            await GatewayAssert.ProblemAsync(response, HttpStatusCode.BadGateway, "upstream_failed");
        }
    }
}
