using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Hosting;

/// <summary>
/// Demo mode's loopback check must read a listen URL as Kestrel does: a port that is not a number
/// (empty: ASPNETCORE_URLS=http://localhost:${PORT} with PORT unset) makes Kestrel take the whole
/// "127.0.0.1:" as the host, which is no IP address, so it listens on every interface, port 80.
/// </summary>
public sealed class DemoListenAddressTests
{
    [Theory]
    [InlineData("http://127.0.0.1:")]
    [InlineData("http://localhost:")]
    [InlineData("http://localhost:x")]
    [InlineData("http://[::1]x:5000")]
    public void Demo_mode_refuses_a_url_that_kestrel_binds_to_every_interface(string url)
    {
        var kestrel = Microsoft.AspNetCore.Http.BindingAddress.Parse(url);
        Assert.False(System.Net.IPAddress.TryParse(kestrel.Host, out _) || string.Equals(kestrel.Host, "localhost", StringComparison.OrdinalIgnoreCase),
            "precondition: Kestrel binds this URL to any IP");

        Assert.False(ListenAddresses.IsLoopbackOnly([url]));

        var dataDir = TempDir.Create();
        try
        {
            var app = GatewayApp.Build(["--urls", url, $"--OpenExec:DataDir={dataDir}"], out var problems, new Dictionary<string, string?>());
            Assert.Null(app);
            Assert.Contains(problems, p => p.Contains("OpenExec:AllowDemoOnNetwork=true", StringComparison.Ordinal));
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    [Theory]
    [InlineData("http://127.0.0.1:5000")]
    [InlineData("http://localhost:5000")]
    [InlineData("http://[::1]:5000")]
    [InlineData("https://127.0.0.2")]
    public void Loopback_urls_stay_accepted(string url) => Assert.True(ListenAddresses.IsLoopbackOnly([url]));

    [Fact]
    public async Task With_no_listen_address_configured_the_gateway_listens_on_loopback_port_5000()
    {
        // SPEC section 1: http://127.0.0.1:5000 by default; Kestrel's own default is
        // http://localhost:5000, which also binds [::1].
        var dataDir = TempDir.Create();
        try
        {
            var app = GatewayApp.Build([$"--OpenExec:DataDir={dataDir}"], out var problems, new Dictionary<string, string?>());
            Assert.True(app is not null, string.Join("; ", problems));
            await using (app)
            {
                Assert.Equal(ListenAddresses.Default, app.Configuration[Microsoft.AspNetCore.Hosting.WebHostDefaults.ServerUrlsKey]);
                Assert.Equal("http://127.0.0.1:5000", ListenAddresses.Default);
            }
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }
}
