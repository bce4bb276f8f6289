using System.Net.Sockets;
using System.Text;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Hosting;

/// <summary>Kestrel's own limits, set under <c>Kestrel:Limits</c>, are in force.</summary>
public sealed class KestrelLimitsTests
{
    [Fact]
    public async Task MaxConcurrentConnections_set_in_configuration_closes_connections_beyond_it()
    {
        // Setting it removed the gateway's default, and nothing applied the value: no limit.
        await using var gateway = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["Kestrel:Limits:MaxConcurrentConnections"] = "2" });
        var held = new List<TcpClient>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var client = new TcpClient();
                held.Add(client);
                await client.ConnectAsync(gateway.BaseAddress.Host, gateway.BaseAddress.Port);
                Assert.StartsWith("HTTP/1.1 200 ", await AskAsync(client, keepAlive: true), StringComparison.Ordinal);
            }

            using var third = new TcpClient();
            await third.ConnectAsync(gateway.BaseAddress.Host, gateway.BaseAddress.Port);
            Assert.Equal("", await AskAsync(third, keepAlive: false));
        }
        finally
        {
            held.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task MaxRequestHeaderCount_set_in_configuration_refuses_a_request_with_more()
    {
        await using var gateway = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["Kestrel:Limits:MaxRequestHeaderCount"] = "3" });

        var (few, _) = await RawHttp.SendAsync(gateway.BaseAddress, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        var (many, _) = await RawHttp.SendAsync(gateway.BaseAddress, "GET /health HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nConnection: close\r\n\r\n");

        Assert.Equal(200, few);
        Assert.Equal(431, many);
    }

    [Theory]
    [InlineData("MaxConcurrentConnections", "-5")]
    [InlineData("MaxRequestHeaderCount", "0")]
    [InlineData("Http2:MaxStreamsPerConnection", "0")]
    [InlineData("MaxRequestHeaderCount", "many")]
    public void A_limit_Kestrel_would_refuse_stops_start_up_naming_it(string limit, string value)
    {
        var dataDir = TempDir.Create();
        try
        {
            var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", $"--Kestrel:Limits:{limit}={value}"], out var problems, new Dictionary<string, string?>());

            Assert.Null(app);
            Assert.Contains(problems, p => p.StartsWith($"Kestrel:Limits:{limit}: ", StringComparison.Ordinal));
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    private static async Task<string> AskAsync(TcpClient client, bool keepAlive)
    {
        var stream = client.GetStream();
        try
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /health HTTP/1.1\r\nHost: x\r\n{(keepAlive ? "" : "Connection: close\r\n")}\r\n"));
            var buffer = new byte[4096];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var read = await stream.ReadAsync(buffer, timeout.Token);
            return Encoding.ASCII.GetString(buffer, 0, read);
        }
        catch (IOException)
        {
            return "";
        }
    }
}
