using System.Globalization;
using OpenExec.Gateway.Actions;
using OpenExec.Gateway.Configuration;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace OpenExec.Gateway.Proxy;

/// <summary>
/// Every proxy configuration YARP loads, at start-up and on each reload, passes here; what it
/// refuses, YARP logs and does not apply (a reload leaves the previous configuration in force).
/// Clusters: bounds every cluster's calls by <c>OpenExec:BackendTimeout</c> unless the cluster sets its own
/// (shorter or longer) <c>HttpRequest:ActivityTimeout</c>. Past it the answer is 504
/// <c>outcome_unknown</c>: the request was sent and may have run. A connection that cannot be
/// made within half of it is given up first (502, nothing sent).
/// A cluster's own timeout outside <see cref="BackendTimeouts.IsAllowed"/> is refused here too, on
/// every load: start-up names it first (<see cref="RouteActions"/>), but YARP reloads its
/// configuration when the files change, and a reload must not bring in a call without a bounded
/// timeout. YARP then logs the error and keeps the previous configuration.
/// </summary>
internal sealed class ProxyConfigGuard(GatewaySettings settings, ActionCatalog catalog, RouteActions routes, StartupRoutesConfigProvider provider) : IProxyConfigFilter
{
    public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel)
    {
        if (cluster.HttpRequest?.ActivityTimeout is null)
        {
            var request = (cluster.HttpRequest ?? new ForwarderRequestConfig()) with { ActivityTimeout = settings.Options.BackendTimeout };
            cluster = cluster with { HttpRequest = request };
        }
        else if (!BackendTimeouts.IsAllowed(cluster.HttpRequest.ActivityTimeout.Value))
        {
            throw Refused(BackendTimeouts.ActivityTimeoutProblem(cluster.ClusterId)
                + $" (it is {cluster.HttpRequest.ActivityTimeout.Value.ToString("c", CultureInfo.InvariantCulture)})");
        }
        if (cluster.HttpRequest?.Version is { Major: >= 3 } || cluster.HttpRequest?.VersionPolicy == HttpVersionPolicy.RequestVersionOrHigher)
        {
            // HTTP/3 connections do not pass through the filter that keeps HTTP/2's silent
            // re-sends from happening (NoResendHttp2Stream), and over http:// it never connects.
            throw Refused($"ReverseProxy:Clusters:{cluster.ClusterId}:HttpRequest asks for HTTP/3 (Version {cluster.HttpRequest.Version}, VersionPolicy {cluster.HttpRequest.VersionPolicy}): backends are called over HTTP/1.1 or HTTP/2 only, where the gateway can keep the HTTP client from re-sending a request; use Version 1.1 or 2 with RequestVersionExact or RequestVersionOrLower");
        }
        foreach (var (id, destination) in cluster.Destinations ?? new Dictionary<string, DestinationConfig>())
        {
            if (!BackendAddress.IsValid(destination.Address))
            {
                throw Refused(BackendAddress.Problem(cluster.ClusterId, id, destination.Address));
            }
        }
        // The cluster's HTTP client connects within half of it (BackendHttpClientFactory).
        var metadata = new Dictionary<string, string>(cluster.Metadata ?? new Dictionary<string, string>(), StringComparer.OrdinalIgnoreCase)
        {
            [BackendHttpClientFactory.ConnectTimeoutKey] = BackendHttpClientFactory.ConnectTimeoutFor(cluster.HttpRequest!.ActivityTimeout!.Value).ToString("c", CultureInfo.InvariantCulture),
            // Only a cluster that no action calls (pass-through reads alone) lets its HTTP client
            // re-send what an HTTP/2 backend refused: a read sent twice is harmless.
            [BackendHttpClientFactory.ReadsOnlyKey] = catalog.All.Any(a => string.Equals(a.ClusterId, cluster.ClusterId, StringComparison.OrdinalIgnoreCase)) ? "false" : "true",
        };
        return ValueTask.FromResult(cluster with { Metadata = metadata });
    }

    /// <summary>
    /// A route whose action <c>/execute</c> runs (<c>OpenExec.ExecutePath</c>, read at start-up)
    /// takes no Transforms, on a reload either: /execute calls the cluster directly, so a
    /// transform (a credential header, a path prefix) would apply to proxied calls only
    /// (<see cref="RouteActions"/> refuses it at start-up).
    /// </summary>
    /// <remarks>
    /// Which routes there are, which action each is, which cluster it calls and where /execute
    /// calls it are read once, at start-up (the action catalog, /execute's cluster and path, the
    /// pass-through list): a reload that
    /// changes them is refused rather than leave /execute and the proxy disagreeing. A reload may
    /// change everything else (destinations, health checks, timeouts, matches).
    /// </remarks>
    public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel)
    {
        var action = catalog.ByRoute(route.RouteId);
        var declared = Metadata(route, RouteActions.ActionKey);
        var passThrough = routes.PassThroughRoutes.Contains(route.RouteId);
        // The flag is read as start-up reads it: a pass-through whose flag a reload removes (or an
        // action route given one) would keep running as it started while the file said otherwise.
        var markedPassThrough = string.Equals(Metadata(route, RouteActions.PassThroughKey), "true", StringComparison.OrdinalIgnoreCase);
        if (markedPassThrough != passThrough
            || (action is null ? !passThrough || declared is not null : declared != action.Name || !string.Equals(route.ClusterId, action.ClusterId, StringComparison.OrdinalIgnoreCase)))
        {
            throw Refused($"ReverseProxy:Routes:{route.RouteId}: routes, their actions, their clusters and which are pass-throughs ({RouteActions.PassThroughKey}) are read at start-up ({(action is null ? passThrough ? "a pass-through" : "no such route" : $"action '{action.Name}' on cluster '{action.ClusterId}'")}); a reload cannot change them, restart the gateway");
        }
        if (action is not null && !string.Equals(Metadata(route, RouteActions.ExecutePathKey), action.ExecutePath, StringComparison.Ordinal))
        {
            // Removed to close the /execute door, it would stay open without a word.
            throw Refused($"ReverseProxy:Routes:{route.RouteId}: {RouteActions.ExecutePathKey} is read at start-up ({(action.ExecutePath is null ? "none: /execute does not run this action" : $"'{action.ExecutePath}'")}); a reload cannot add, change or remove it, restart the gateway");
        }
        if (GatewayPaths.IsOwn(route.Match.Path))
        {
            throw Refused(GatewayPaths.Problem(route.RouteId, route.Match.Path));
        }
        if (GatewayPaths.OutranksOwn(route.Order))
        {
            throw Refused(GatewayPaths.OrderProblem(route.RouteId, route.Order));
        }
        if (route.Transforms is { Count: > 0 } && catalog.ByRoute(route.RouteId)?.ExecutePath is not null)
        {
            throw Refused(RouteActions.ExecutePathWithTransformsProblem(route.RouteId));
        }
        if (RouteRules.Problem(route, passThrough) is { } problem)
        {
            throw Refused(problem);
        }
        var loading = provider.Loading;
        var clusters = loading?.Clusters ?? [];
        foreach (var other in loading?.Routes ?? [])
        {
            // Each pair once it is whole: checked as its second route is configured (and again as
            // the first is, against the other's configuration in the same load).
            var overlap = passThrough && catalog.ByRoute(other.RouteId) is not null ? RouteOverlap.Problem(route, other, clusters)
                : action is not null && routes.PassThroughRoutes.Contains(other.RouteId) ? RouteOverlap.Problem(other, route, clusters)
                : null;
            if ((overlap ?? RouteOverlap.Ambiguous(route, other)) is { } clash)
            {
                throw Refused(clash);
            }
        }
        return ValueTask.FromResult(route);
    }

    /// <summary>A route's metadata value (keys in any case, as configuration reads them), or null.</summary>
    private static string? Metadata(RouteConfig route, string key)
        => route.Metadata?.FirstOrDefault(m => string.Equals(m.Key, key, StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>A proxy configuration the gateway refuses: at start-up it does not start; on a reload YARP keeps the previous one (and logs this).</summary>
    private static InvalidOperationException Refused(string problem)
        => new($"{problem}: the proxy configuration is refused (on a reload, the previous one stays in force)");
}
