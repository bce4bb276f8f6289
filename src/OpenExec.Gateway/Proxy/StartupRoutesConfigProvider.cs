using OpenExec.Gateway.Actions;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;

namespace OpenExec.Gateway.Proxy;

/// <summary>
/// YARP's configuration provider, passed on only while its configuration keeps every route read
/// at start-up. The action catalog, <c>/execute</c>'s cluster and the pass-through list are read
/// once: a reload that removed a route would leave <c>/execute</c> still running the action the
/// proxy no longer serves. <see cref="ProxyConfigGuard"/> refuses the other changes, route by
/// route, but never sees a route that is gone: such a reload is refused here, logged as an error,
/// and the previous configuration stays in force (its routes and clusters, with the new change
/// token, so the next reload is still read).
/// </summary>
/// <remarks>
/// The configuration kept is the last one YARP applied (it says so as an
/// <see cref="IConfigChangeListener"/>), not the last one passed on: a reload
/// <see cref="ProxyConfigGuard"/> refused is never handed back.
/// </remarks>
internal sealed partial class StartupRoutesConfigProvider(IProxyConfigProvider inner, RouteActions routes, ILogger<StartupRoutesConfigProvider> log) : IProxyConfigProvider, IConfigChangeListener, IDisposable
{
    private volatile IProxyConfig? _applied;
    private volatile IProxyConfig? _passedOn;

    /// <summary>The configuration last handed to YARP: the one being loaded while <see cref="ProxyConfigGuard"/> checks its routes.</summary>
    public IProxyConfig? Loading => _passedOn;

    public IProxyConfig GetConfig()
    {
        var config = inner.GetConfig();
        if (_applied is { } applied && Removed(config) is { Count: > 0 } removed)
        {
            RouteRemoved(log, string.Join(", ", removed.Select(id => $"ReverseProxy:Routes:{id}")));
            config = new Kept(applied, config.ChangeToken);
        }
        _passedOn = config;
        return config;
    }

    public void ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
        if (_passedOn is { } passedOn && proxyConfigs.Contains(passedOn))
        {
            _applied = passedOn;
        }
    }

    public void ConfigurationLoadingFailed(IProxyConfigProvider configProvider, Exception exception)
    {
    }

    public void ConfigurationLoaded(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
    }

    public void ConfigurationApplyingFailed(IReadOnlyList<IProxyConfig> proxyConfigs, Exception exception)
    {
    }

    /// <summary>Once, though the container disposes it under each service it is registered as.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            (inner as IDisposable)?.Dispose();
        }
    }

    private int _disposed;

    private List<string> Removed(IProxyConfig config)
    {
        var present = new HashSet<string>(config.Routes.Select(r => r.RouteId), StringComparer.OrdinalIgnoreCase);
        return [.. routes.Actions.Select(a => a.RouteId).OfType<string>().Concat(routes.PassThroughRoutes).Where(id => !present.Contains(id))];
    }

    [LoggerMessage(10, LogLevel.Error, "{Routes}: removed by a configuration reload; routes, their actions and their clusters are read at start-up, so a reload cannot remove them, restart the gateway: the proxy configuration is refused (the previous one stays in force)")]
    private static partial void RouteRemoved(ILogger logger, string routes);

    private sealed class Kept(IProxyConfig previous, IChangeToken changeToken) : IProxyConfig
    {
        public IReadOnlyList<RouteConfig> Routes => previous.Routes;

        public IReadOnlyList<ClusterConfig> Clusters => previous.Clusters;

        public IChangeToken ChangeToken => changeToken;

        public string RevisionId => previous.RevisionId;
    }
}
