using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using OpenExec.Gateway.Actions;
using OpenExec.Gateway.Proxy;
using OpenExec.Gateway.Tests.Infrastructure;
using Yarp.ReverseProxy.Configuration;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// Routes are read at start-up (the action catalog, /execute's cluster, the pass-through list):
/// a configuration reload that removes one is refused, logged, and the previous configuration
/// stays in force, while the next reload is still read.
/// </summary>
public sealed class RouteRemovalReloadTests
{
    private static readonly ClusterConfig Cluster = new() { ClusterId = "c", Destinations = new Dictionary<string, DestinationConfig> { ["d"] = new() { Address = "http://127.0.0.1:9/" } } };

    [Theory]
    [InlineData("send")]
    [InlineData("files")]
    public void A_reload_that_removes_a_start_up_route_is_refused_and_the_next_one_still_read(string removedRoute)
    {
        var inner = new InMemoryConfigProvider([Route("send", action: "send"), Route("files", passThrough: true)], [Cluster]);
        var logs = new LogCapture();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
        using var provider = new StartupRoutesConfigProvider(inner, StartUpRoutes(), loggers.CreateLogger<StartupRoutesConfigProvider>());
        var started = provider.GetConfig();
        ((IConfigChangeListener)provider).ConfigurationApplied([started]);
        Assert.Equal(["files", "send"], RouteIds(started));

        inner.Update([Route(removedRoute == "send" ? "files" : "send", action: removedRoute == "send" ? null : "send", passThrough: removedRoute == "send")], [Cluster]);
        Assert.True(started.ChangeToken.HasChanged);
        var refused = provider.GetConfig();

        Assert.Equal(["files", "send"], RouteIds(refused));
        Assert.Same(inner.GetConfig().ChangeToken, refused.ChangeToken);
        Assert.Contains(logs.Lines, l => l.Contains($"ReverseProxy:Routes:{removedRoute}: removed by a configuration reload", StringComparison.Ordinal));

        // Put back, with another match: applied.
        inner.Update([Route("send", action: "send", path: "/v2/{**rest}"), Route("files", passThrough: true)], [Cluster]);
        ((IConfigChangeListener)provider).ConfigurationApplied([refused]);
        var next = provider.GetConfig();
        Assert.Equal("/v2/{**rest}", next.Routes.Single(r => r.RouteId == "send").Match.Path);
    }

    [Fact]
    public void A_removal_after_a_reload_the_proxy_refused_keeps_the_configuration_in_force_not_the_refused_one()
    {
        var inner = new InMemoryConfigProvider([Route("send", action: "send"), Route("files", passThrough: true)], [Cluster]);
        var logs = new LogCapture();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
        using var provider = new StartupRoutesConfigProvider(inner, StartUpRoutes(), loggers.CreateLogger<StartupRoutesConfigProvider>());
        IConfigChangeListener listener = provider;
        var started = provider.GetConfig();
        listener.ConfigurationApplied([started]);

        // A reload the proxy refuses (its filter threw): the configuration in force stays the first.
        inner.Update([Route("send", action: "send", path: "/refused/{**rest}"), Route("files", passThrough: true)], [Cluster]);
        var refused = provider.GetConfig();
        listener.ConfigurationApplyingFailed([refused], new InvalidOperationException("refused by the filter"));

        // Then a reload that removes a route: what is kept is what is in force.
        inner.Update([Route("send", action: "send")], [Cluster]);
        var kept = provider.GetConfig();

        Assert.Equal(["files", "send"], RouteIds(kept));
        Assert.Equal("/send/{**rest}", kept.Routes.Single(r => r.RouteId == "send").Match.Path);
    }

    [Fact]
    public async Task The_gateway_reads_its_proxy_configuration_through_the_start_up_routes_check()
    {
        var settings = ProxyConfig.Route("r", "send", "v1", "http://127.0.0.1:9/");
        await using var gateway = await GatewayServer.StartAsync(settings);

        var provider = Assert.Single(gateway.Services.GetServices<IProxyConfigProvider>());
        Assert.IsType<StartupRoutesConfigProvider>(provider);
        Assert.Contains(gateway.Services.GetServices<IConfigChangeListener>(), listener => ReferenceEquals(listener, provider));
        Assert.Equal(["r"], RouteIds(provider.GetConfig()));
    }

    private static RouteActions StartUpRoutes()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ReverseProxy:Routes:send:ClusterId"] = "c",
            ["ReverseProxy:Routes:send:Match:Path"] = "/v1/{**rest}",
            ["ReverseProxy:Routes:send:Metadata:OpenExec.Action"] = "send",
            ["ReverseProxy:Routes:files:ClusterId"] = "c",
            ["ReverseProxy:Routes:files:Match:Path"] = "/files/{**rest}",
            ["ReverseProxy:Routes:files:Metadata:OpenExec.PassThrough"] = "true",
            ["ReverseProxy:Clusters:c:Destinations:d:Address"] = "http://127.0.0.1:9/",
        }).Build();
        var problems = new List<string>();
        var routes = RouteActions.Read(configuration.GetSection("ReverseProxy"), problems);
        Assert.Empty(problems);
        return routes;
    }

    private static RouteConfig Route(string id, string? action = null, bool passThrough = false, string? path = null) => new()
    {
        RouteId = id,
        ClusterId = "c",
        Match = new RouteMatch { Path = path ?? $"/{id}/{{**rest}}" },
        Metadata = action is not null ? new Dictionary<string, string> { [RouteActions.ActionKey] = action } : passThrough ? new Dictionary<string, string> { [RouteActions.PassThroughKey] = "true" } : null,
    };

    private static string[] RouteIds(IProxyConfig config) => [.. config.Routes.Select(r => r.RouteId).Order(StringComparer.Ordinal)];
}
