using OpenExec.Gateway.Configuration;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace OpenExec.Gateway.Proxy;

/// <summary>
/// Bounds every cluster's calls by <c>OpenExec:BackendTimeout</c> unless the cluster sets its own
/// (shorter or longer) <c>HttpRequest:ActivityTimeout</c>. Past it the answer is 504
/// <c>outcome_unknown</c>: the request was sent and may have run.
/// </summary>
internal sealed class BackendTimeoutConfigFilter(GatewaySettings settings) : IProxyConfigFilter
{
    public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel)
    {
        if (cluster.HttpRequest?.ActivityTimeout is not null)
        {
            return ValueTask.FromResult(cluster);
        }
        var request = (cluster.HttpRequest ?? new ForwarderRequestConfig()) with { ActivityTimeout = settings.Options.BackendTimeout };
        return ValueTask.FromResult(cluster with { HttpRequest = request });
    }

    public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel)
        => ValueTask.FromResult(route);
}
