using OpenExec.Gateway.Proxy;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// The connect timeout is derived from the cluster's HttpRequest:ActivityTimeout. A timeout the
/// claim's lease cannot outlast is refused at start; and whatever value reaches the client
/// factory (a configuration reload), it never becomes a ConnectTimeout SocketsHttpHandler
/// rejects, which failed the whole proxy configuration.
/// </summary>
public sealed class ConnectTimeoutConfigTests
{
    [Theory]
    [InlineData("-00:00:00.001")] // Timeout.InfiniteTimeSpan: YARP's "no activity timeout"
    [InlineData("00:00:00")]
    [InlineData("01:00:01")]
    [InlineData("30s")] // YARP cannot read it: start-up crashed with a FormatException instead
    public void A_cluster_activity_timeout_out_of_range_is_refused_at_start_naming_it(string activity)
    {
        // A call without a timeout would outlive its claim's lease (sized by that timeout).
        var settings = ProxyConfig.Route("r", "op", "v1", "http://127.0.0.1:9/");
        settings["ReverseProxy:Clusters:r:HttpRequest:ActivityTimeout"] = activity;
        var dataDir = TempDir.Create();
        try
        {
            var app = OpenExec.Gateway.Hosting.GatewayApp.Build(
                ["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", .. settings.Select(kv => $"--{kv.Key}={kv.Value}")],
                out var problems, new Dictionary<string, string?>());
            Assert.Null(app);
            Assert.Contains(problems, p => p.Contains("ReverseProxy:Clusters:r:HttpRequest:ActivityTimeout", StringComparison.Ordinal));
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    [Theory]
    [InlineData("-00:00:00.001")]
    [InlineData("00:00:00")]
    [InlineData("00:00:00.0000001")]
    public void The_connect_timeout_is_always_one_sockets_http_handler_accepts(string call)
    {
        var connect = BackendHttpClientFactory.ConnectTimeoutFor(TimeSpan.Parse(call, System.Globalization.CultureInfo.InvariantCulture));
        using var handler = new SocketsHttpHandler();
        handler.ConnectTimeout = connect; // throws ArgumentOutOfRangeException for zero or negative
        Assert.True(connect > TimeSpan.Zero);
    }
}
