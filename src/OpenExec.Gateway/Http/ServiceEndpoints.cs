using System.Reflection;
using System.Runtime.InteropServices;
using OpenExec.Gateway.Configuration;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Pipeline;
using OpenExec.Gateway.Store;

namespace OpenExec.Gateway.Http;

/// <summary><c>/</c>, <c>/health</c>, <c>/ready</c>, <c>/version</c> with the seed's field names (SPEC section 2).</summary>
internal static class ServiceEndpoints
{
    public static readonly string Version =
        typeof(ServiceEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>GET, and HEAD for load balancers' health checks (Kestrel sends no body for HEAD).</summary>
    private static readonly string[] ProbeMethods = ["GET", "HEAD"];

    public static IEndpointRouteBuilder MapServiceEndpoints(this IEndpointRouteBuilder endpoints)
    {
        // Liveness and identity touch no store: outside the rate and concurrency limits, so an
        // orchestrator's probe does not fail (and restart a busy gateway) because traffic is
        // heavy. /ready stays inside them: "take no more traffic" is its answer under overload.
        endpoints.MapMethods("/", ProbeMethods, () => Results.Json(new { service = "OpenExec", status = "running", version = Version })).OutsideLimits();
        endpoints.MapMethods("/health", ProbeMethods, Health).OutsideLimits();
        endpoints.MapMethods("/ready", ProbeMethods, ReadyAsync).WithMetadata(ReadinessProbe.Instance);
        endpoints.MapMethods("/version", ProbeMethods, (GatewayClock clock) => Results.Json(new Dictionary<string, object?>
        {
            ["version"] = Version,
            ["timestamp"] = clock.Now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture),
            ["build"] = typeof(ServiceEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion,
            ["runtime"] = RuntimeInformation.FrameworkDescription,
        })).OutsideLimits();
        return endpoints;
    }

    private static RouteHandlerBuilder OutsideLimits(this RouteHandlerBuilder endpoint)
        => endpoint.DisableRateLimiting().WithMetadata(OutsideConcurrencyLimit.Instance);

    /// <summary>
    /// The answer of a limit (429 <c>rate_limited</c>, 503 <c>overloaded</c>), with
    /// <c>Retry-After</c>. For <c>/ready</c> it is <c>/ready</c>'s own not-ready answer (SPEC
    /// section 2: 200 or 503 <c>{"ready":false,"reason"}</c>), the limit's code as its reason.
    /// </summary>
    public static Task WriteLimitedAsync(HttpContext context, int status, string code, string detail)
    {
        context.Response.Headers.RetryAfter = "1";
        return context.GetEndpoint()?.Metadata.GetMetadata<ReadinessProbe>() is not null
            ? Results.Json(new { ready = false, reason = code }, statusCode: 503).ExecuteAsync(context)
            : Problem.WriteAsync(context, status, code, detail);
    }

    /// <summary>Endpoint metadata: <c>/ready</c>, whose refusals keep its own answer's shape.</summary>
    private sealed class ReadinessProbe
    {
        public static readonly ReadinessProbe Instance = new();
    }

    private static IResult Health(GatewaySettings settings, IExecutionStore store, GatewayIdentity identity, HealthWarnings extra)
    {
        var options = settings.Options;
        var body = new Dictionary<string, object?>
        {
            ["status"] = "healthy",
            ["exec_mode"] = options.ModeName,
            ["signature_verification"] = options.IsClawShield ? "enabled" : "disabled",
            ["restriction"] = settings.AllowList is null ? "open" : "restricted",
        };
        if (settings.AllowList is { } allowList)
        {
            body["allow_list"] = allowList.Order(StringComparer.Ordinal).ToArray();
        }
        else
        {
            body["warning"] = "No execution allow-list configured";
        }
        body["store"] = store.Kind;
        body["gateway"] = identity.GatewayId;
        body["receipt_key_id"] = identity.SigningKey.Kid;
        body["warnings"] = settings.Warnings.Concat(extra.Current).ToArray();
        return Results.Json(body);
    }

    private static async Task<IResult> ReadyAsync(IExecutionStore store, HttpContext context)
    {
        bool ok;
        try
        {
            ok = await store.PingAsync(context.RequestAborted).ConfigureAwait(false);
        }
        catch (StoreUnavailableException)
        {
            ok = false;
        }
        return ok
            ? Results.Json(new { ready = true })
            : Results.Json(new { ready = false, reason = "store unavailable" }, statusCode: 503);
    }
}

/// <summary>
/// Warnings that are learned at run time: fixed ones (routes) and ones a check re-reads (the
/// store's own settings), which clear once the check no longer finds them.
/// </summary>
internal sealed class HealthWarnings
{
    private readonly List<string> _fixed = [];
    private readonly Dictionary<string, string[]> _bySource = new(StringComparer.Ordinal);

    public IReadOnlyList<string> Current
    {
        get
        {
            lock (_fixed)
            {
                return [.. _fixed, .. _bySource.OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value)];
            }
        }
    }

    /// <summary>A warning that holds for the life of the process.</summary>
    public void Add(string warning)
    {
        lock (_fixed)
        {
            if (!_fixed.Contains(warning))
            {
                _fixed.Add(warning);
            }
        }
    }

    /// <summary>Replaces what <paramref name="source"/> reported last time (empty clears it).</summary>
    public void Set(string source, IEnumerable<string> warnings)
    {
        var current = warnings.Distinct(StringComparer.Ordinal).ToArray();
        lock (_fixed)
        {
            _bySource[source] = current;
        }
    }
}
