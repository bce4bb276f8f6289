using Yarp.ReverseProxy.Configuration;

namespace OpenExec.Gateway.Proxy;

/// <summary>
/// What a route may set beyond its match, cluster and metadata, checked on every proxy
/// configuration load (<see cref="ProxyConfigGuard"/>: start-up and reloads).
/// </summary>
internal static class RouteRules
{
    /// <summary>Headers a route transform may not set: the method or path a backend would act on instead of the request's, or framing the gateway owns.</summary>
    private static readonly string[] RefusedRequestHeaders =
    [
        "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "X-Original-Method", "X-Override-Method",
        "X-Original-URL", "X-Rewrite-URL",
        // The HTTP client holds back a body sent with Expect: 100-continue, and a request whose
        // body has not begun is one it re-sends on a reused connection the backend closed.
        "Expect",
        // A chunked body drops the gateway's Content-Length (a bodyless request then goes out
        // without content, which the client may re-send as well).
        "Transfer-Encoding",
    ];

    /// <summary>Transforms that change the method or query the approval covers (action routes; path transforms are documented to apply after the hash).</summary>
    private static readonly string[] MethodAndQueryTransforms =
        ["HttpMethodChange", "QueryValueParameter", "QueryRouteParameter", "QueryRemoveParameter"];

    /// <summary>What a pass-through route's transforms may do: headers, forwarding headers, the answer's headers and trailers; never the method, path or query.</summary>
    private static readonly string[] PassThroughTransforms =
    [
        "RequestHeader", "RequestHeaderRouteValue", "RequestHeaderRemove", "RequestHeadersCopy", "RequestHeadersAllowed", "RequestHeaderOriginalHost",
        "X-Forwarded", "Forwarded", "ClientCert",
        "ResponseHeader", "ResponseHeaderRemove", "ResponseHeadersCopy", "ResponseHeadersAllowed",
        "ResponseTrailer", "ResponseTrailerRemove", "ResponseTrailersCopy", "ResponseTrailersAllowed",
    ];

    /// <summary>Every transform YARP knows by name (a transform is named by one of its keys; the others are its parameters).</summary>
    private static readonly string[] KnownTransforms =
        [.. PassThroughTransforms, .. MethodAndQueryTransforms, "PathSet", "PathPrefix", "PathRemovePrefix", "PathPattern"];

    /// <summary>
    /// The first problem with a route's settings, or null. Route settings for ASP.NET Core
    /// middleware the gateway does not run failed every call with a 500 (CORS, authorization,
    /// request timeouts) or undid the gateway's own limits (rate limiting, body size); transforms
    /// could make a pass-through read a write (a method change, a method-override header) or send
    /// it to an action's path, make an approved request another one (its method or query), or
    /// get it delivered twice (Expect: 100-continue).
    /// </summary>
    public static string? Problem(RouteConfig route, bool passThrough)
    {
        var where = $"ReverseProxy:Routes:{route.RouteId}";
        if (UnsupportedSetting(route) is { } setting)
        {
            return $"{where}:{setting.Name} is set: {setting.Why}";
        }
        foreach (var transform in route.Transforms ?? [])
        {
            var kind = transform.Keys.FirstOrDefault(k => KnownTransforms.Contains(k, StringComparer.OrdinalIgnoreCase)) ?? transform.Keys.FirstOrDefault() ?? "";
            if (Named(transform, "RequestHeader", "RequestHeaderRouteValue", "ClientCert") is { } header && RefusedRequestHeaders.Contains(header, StringComparer.OrdinalIgnoreCase))
            {
                return $"{where}:Transforms sets the request header '{header}': the gateway does not forward it (a backend would act on another method or path than the one approved, or the request could be delivered twice)";
            }
            if (!passThrough && Named(transform, "ResponseHeader") is { } answerHeader
                && (string.Equals(answerHeader, "Content-Length", StringComparison.OrdinalIgnoreCase) || string.Equals(answerHeader, "Transfer-Encoding", StringComparison.OrdinalIgnoreCase)))
            {
                return $"{where}:Transforms sets the response header '{answerHeader}': an answer's framing is its backend's (a whole answer no longer matching it is recorded as one that broke off, outcome_unknown)";
            }
            if (passThrough && !PassThroughTransforms.Contains(kind, StringComparer.OrdinalIgnoreCase))
            {
                return $"{where}:Transforms has a '{kind}' transform: a pass-through route forwards reads as the agent sent them, and may change only headers (a transform that changes the method, path or query could turn a read into a write, or send it to an action's path, without approval or receipt)";
            }
            if (!passThrough && MethodAndQueryTransforms.Contains(kind, StringComparer.OrdinalIgnoreCase))
            {
                return $"{where}:Transforms has a '{kind}' transform: an action route forwards the method and query the approval covers";
            }
        }
        return null;
    }

    private static (string Name, string Why)? UnsupportedSetting(RouteConfig route)
    {
        if (route.AuthorizationPolicy is not null)
        {
            return ("AuthorizationPolicy", "the gateway does not authenticate agents (approvals are its authorization), and every call of the route would fail");
        }
        if (route.CorsPolicy is not null)
        {
            return ("CorsPolicy", "the gateway runs no CORS middleware, and every call of the route would fail");
        }
        if (route.RateLimiterPolicy is not null)
        {
            return ("RateLimiterPolicy", "OpenExec:RateLimit applies to every route; a route's policy could only lift it");
        }
        if (route.TimeoutPolicy is not null || route.Timeout is not null)
        {
            return (route.TimeoutPolicy is not null ? "TimeoutPolicy" : "Timeout", "the gateway runs no request-timeout middleware, and every call of the route would fail; a call's time is its cluster's HttpRequest:ActivityTimeout (OpenExec:BackendTimeout)");
        }
        if (route.MaxRequestBodySize is not null)
        {
            return ("MaxRequestBodySize", "every request body is read under OpenExec:MaxRequestBodyBytes, which the route's would not change");
        }
        if (route.OutputCachePolicy is not null)
        {
            return ("OutputCachePolicy", "a cached answer would answer a request without running it or a receipt");
        }
        return null;
    }

    /// <summary>The value of the first of <paramref name="kinds"/> the transform has (its header name), or null.</summary>
    private static string? Named(IReadOnlyDictionary<string, string> transform, params string[] kinds)
    {
        foreach (var (key, value) in transform)
        {
            if (kinds.Contains(key, StringComparer.OrdinalIgnoreCase))
            {
                return value;
            }
        }
        return null;
    }
}
