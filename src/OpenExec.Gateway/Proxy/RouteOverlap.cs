using Microsoft.AspNetCore.Routing.Patterns;
using Yarp.ReverseProxy.Configuration;

namespace OpenExec.Gateway.Proxy;

/// <summary>
/// Whether an agent could send a request an action route takes through a pass-through route
/// instead (unchecked, no receipt), by what it controls: its Host, headers and query, which
/// route matchers read. ASP.NET Core routing picks among the routes that match a request by
/// Order, then by how specific the path is, then by the other matchers; so a pass-through that
/// matches some of an action route's requests is safe only when the action route wins every
/// time: a lower Order, or the same Order and a more specific path, and no matcher of its own
/// that the agent could leave unmet (Hosts, Headers, QueryParameters).
/// </summary>
internal static class RouteOverlap
{
    /// <summary>
    /// The problem with the pair, or null when the action route always wins the requests both
    /// could take, or the two call different backends. Hosts never keep them apart: the agent
    /// sends the Host it likes (and a host without a port matches any port).
    /// </summary>
    public static string? Problem(RouteConfig passThrough, RouteConfig action, IReadOnlyList<ClusterConfig> clusters)
    {
        var read = passThrough.Match.Methods is { Count: > 0 } p ? p.Intersect(Actions.RouteActions.PassThroughMethods, StringComparer.OrdinalIgnoreCase).ToList() : [.. Actions.RouteActions.PassThroughMethods];
        // A backend runs its GET handler for a HEAD (Flask, Express, Rails): a pass-through HEAD
        // beside an action's GET reaches the same handler.
        if (action.Match.Methods is { Count: > 0 } a
            && !a.Concat(a.Contains("GET", StringComparer.OrdinalIgnoreCase) ? ["HEAD"] : []).Intersect(read, StringComparer.OrdinalIgnoreCase).Any())
        {
            return null;
        }
        if (!SameBackend(passThrough.ClusterId, action.ClusterId, clusters))
        {
            return null;
        }
        var passPattern = RoutePatternFactory.Parse(passThrough.Match.Path ?? "/{**catchall}");
        var actionPattern = RoutePatternFactory.Parse(action.Match.Path ?? "/{**catchall}");
        if (!MayOverlap(passPattern.PathSegments, 0, actionPattern.PathSegments, 0))
        {
            return null;
        }
        var agentControlled = action.Match.Hosts is { Count: > 0 } || action.Match.Headers is { Count: > 0 } || action.Match.QueryParameters is { Count: > 0 };
        var actionWins = (action.Order ?? 0) < (passThrough.Order ?? 0)
            || ((action.Order ?? 0) == (passThrough.Order ?? 0) && Precedence(actionPattern) < Precedence(passPattern));
        if (actionWins && !agentControlled)
        {
            return null;
        }
        return $"ReverseProxy:Routes:{passThrough.RouteId} (a pass-through) can take requests of action route '{action.RouteId}' ({string.Join(", ", action.Match.Methods is { Count: > 0 } m ? m.Intersect(read, StringComparer.OrdinalIgnoreCase) : read)} {action.Match.Path}): "
            + (agentControlled
                ? "the action route matches by Hosts, Headers or QueryParameters, which an agent can leave unmet to reach the pass-through, and an agent could reach the action's backend with no approval, nonce or receipt; narrow the pass-through's Match (Path, Methods) or drop those matchers from the action route"
                : "it is ordered before the action route, or its path is as specific, and an agent could reach the action's backend with no approval, nonce or receipt; narrow the pass-through's Match (Path, Methods) or give the action route a lower Order");
    }

    /// <summary>
    /// Two routes routing cannot choose between: the same Path and Order, a method in common and
    /// no other matcher on either. Every request they both match failed with a 500 (ASP.NET
    /// Core's AmbiguousMatchException), with no problem body.
    /// </summary>
    public static string? Ambiguous(RouteConfig x, RouteConfig y)
    {
        static bool Plain(RouteMatch match) => match.Hosts is not { Count: > 0 } && match.Headers is not { Count: > 0 } && match.QueryParameters is not { Count: > 0 };
        static string PathOf(RouteMatch match) => (match.Path ?? "/{**catchall}").TrimEnd('/');
        if (string.Equals(x.RouteId, y.RouteId, StringComparison.OrdinalIgnoreCase)
            || (x.Order ?? 0) != (y.Order ?? 0) || !Plain(x.Match) || !Plain(y.Match)
            || !string.Equals(PathOf(x.Match), PathOf(y.Match), StringComparison.OrdinalIgnoreCase)
            || (x.Match.Methods is { Count: > 0 } a && y.Match.Methods is { Count: > 0 } b && !a.Intersect(b, StringComparer.OrdinalIgnoreCase).Any()))
        {
            return null;
        }
        return $"ReverseProxy:Routes:{x.RouteId} and ReverseProxy:Routes:{y.RouteId} match the same requests (Path {x.Match.Path}, the same Order and a method in common, no other matcher): routing cannot choose between them and every such request would fail; give one another Order, Path or Methods";
    }

    /// <summary>The same cluster, or clusters with a destination address in common.</summary>
    private static bool SameBackend(string? passThroughCluster, string? actionCluster, IReadOnlyList<ClusterConfig> clusters)
    {
        if (string.Equals(passThroughCluster, actionCluster, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        static HashSet<string> Addresses(ClusterConfig? cluster)
            => new((cluster?.Destinations?.Values ?? []).Select(d => d.Address.TrimEnd('/')), StringComparer.OrdinalIgnoreCase);
        var ofAction = Addresses(clusters.FirstOrDefault(c => string.Equals(c.ClusterId, actionCluster, StringComparison.OrdinalIgnoreCase)));
        return Addresses(clusters.FirstOrDefault(c => string.Equals(c.ClusterId, passThroughCluster, StringComparison.OrdinalIgnoreCase))).Overlaps(ofAction);
    }

    /// <summary>ASP.NET Core's inbound precedence: lower is more specific, and wins.</summary>
    private static decimal Precedence(RoutePattern pattern)
        => Microsoft.AspNetCore.Routing.Template.RoutePrecedence.ComputeInbound(new Microsoft.AspNetCore.Routing.Template.RouteTemplate(pattern));

    /// <summary>Whether some path matches both, segment by segment (a parameter takes any segment, a catch-all the rest).</summary>
    private static bool MayOverlap(IReadOnlyList<RoutePatternPathSegment> x, int i, IReadOnlyList<RoutePatternPathSegment> y, int j)
    {
        if (i < x.Count && IsCatchAll(x[i]) || j < y.Count && IsCatchAll(y[j]))
        {
            return true;
        }
        if (i == x.Count || j == y.Count)
        {
            // One ended: the other must end too, or have only optional parameters left.
            return (i == x.Count || Optional(x, i)) && (j == y.Count || Optional(y, j));
        }
        if (Literal(x[i]) is { } a && Literal(y[j]) is { } b && !string.Equals(a, b, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        return MayOverlap(x, i + 1, y, j + 1);
    }

    private static bool IsCatchAll(RoutePatternPathSegment segment)
        => segment.Parts.Any(p => p is RoutePatternParameterPart { IsCatchAll: true });

    /// <summary>Whether a request may leave out every segment from <paramref name="from"/> on: optional parameters, ones with a default (<c>{page=1}</c>), a catch-all.</summary>
    private static bool Optional(IReadOnlyList<RoutePatternPathSegment> segments, int from)
        => segments.Skip(from).All(s => s.IsSimple && s.Parts[0] is RoutePatternParameterPart { IsOptional: true } or RoutePatternParameterPart { IsCatchAll: true } or RoutePatternParameterPart { Default: not null });

    /// <summary>The segment's text when it is all literal, else null (a parameter may take any text).</summary>
    private static string? Literal(RoutePatternPathSegment segment)
        => segment.Parts.All(p => p is RoutePatternLiteralPart) ? string.Concat(segment.Parts.Cast<RoutePatternLiteralPart>().Select(p => p.Content)) : null;
}
