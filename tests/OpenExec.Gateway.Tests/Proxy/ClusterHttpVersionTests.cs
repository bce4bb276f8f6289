using Microsoft.AspNetCore.Http;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>A cluster's HTTP version settings are plain YARP configuration: both front doors call the backend with them.</summary>
public sealed class ClusterHttpVersionTests
{
    [Fact]
    public async Task Execute_calls_an_http2_only_backend_as_its_cluster_says()
    {
        await using var backend = await Http2Backend.StartAsync(async context =>
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync($$"""{"protocol":"{{context.Request.Protocol}}"}""");
        });

        var settings = ProxyConfig.Route("h2", "h2_op", "v1", backend.Address, executePath: "/v1/run");
        settings["ReverseProxy:Clusters:h2:HttpRequest:Version"] = "2";
        settings["ReverseProxy:Clusters:h2:HttpRequest:VersionPolicy"] = "RequestVersionExact";
        await using var gateway = await GatewayServer.StartAsync(settings);

        // It sent HTTP/1.1 whatever the cluster said: the backend's server refused it with a 400
        // that the receipt recorded as executed, and the nonce was spent on a call that never ran.
        var executed = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("h2_op", new { }, "k-h2"));
        Assert.Equal("HTTP/2", executed.GetProperty("result").Str("protocol"));
        Assert.Equal(1, backend.Calls);
    }
}
