using System.Text.RegularExpressions;

namespace OpenExec.Gateway.Actions;

/// <summary>
/// The gateway's own endpoints (SPEC section 2): a YARP route matching one of them exactly would
/// tie with it in routing (an ambiguous match, answered 500), so such a route is refused at
/// start-up (<see cref="RouteActions"/>) and on every reload (<see cref="Proxy.ProxyConfigGuard"/>).
/// Routing ignores case and a trailing slash, so does this.
/// </summary>
internal static partial class GatewayPaths
{
    private static readonly HashSet<string> Own = new(StringComparer.OrdinalIgnoreCase)
    {
        "", "/health", "/ready", "/version", "/execute",
        "/receipts", "/receipts/head", "/receipts/gateways", "/receipts/verify", "/.well-known/openexec-keys",
    };

    /// <summary>The auditor's endpoints (<c>/receipts…</c>, <c>/.well-known/openexec-keys</c>), which read receipts and keys and execute nothing.</summary>
    public static bool ReadsEvidence(PathString path)
        => path.StartsWithSegments("/receipts", StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments("/.well-known", StringComparison.OrdinalIgnoreCase);

    public static bool IsOwn(string? routePath)
        => routePath is not null
            && (Own.Contains(routePath.Trim().TrimEnd('/')) || ReceiptById().IsMatch(routePath.Trim().TrimEnd('/')));

    /// <summary>
    /// A route ordered before the gateway's endpoints (their order is 0; a YARP route's is its
    /// <c>Order</c>, default 0) is chosen before them for every path it matches: a catch-all
    /// with <c>Order: -1</c> took /health, /execute and /receipts.
    /// </summary>
    public static bool OutranksOwn(int? order) => order < 0;

    public static string OrderProblem(string routeId, int? order)
        => $"ReverseProxy:Routes:{routeId}:Order ({order}) must not be negative: the route would be chosen before the gateway's own endpoints (/health, /execute, /receipts...) for every path it matches";

    public static string Problem(string routeId, string? routePath)
        => $"ReverseProxy:Routes:{routeId}:Match:Path '{routePath}' is one of the gateway's own endpoints (/, /health, /ready, /version, /execute, /receipts..., /.well-known/openexec-keys): give the route another path";

    /// <summary><c>/receipts/{anything}</c>: the same template as the receipt look-up (a catch-all ranks after it: no tie).</summary>
    [GeneratedRegex(@"^/receipts/\{(?!\*)[^/{}]+\}$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ReceiptById();
}
