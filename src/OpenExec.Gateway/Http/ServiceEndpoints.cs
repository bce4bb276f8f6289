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

    public static IEndpointRouteBuilder MapServiceEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", () => Results.Json(new { service = "OpenExec", status = "running", version = Version }));
        endpoints.MapGet("/health", Health);
        endpoints.MapGet("/ready", ReadyAsync);
        endpoints.MapGet("/version", (GatewayClock clock) => Results.Json(new Dictionary<string, object?>
        {
            ["version"] = Version,
            ["timestamp"] = clock.Now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture),
            ["build"] = typeof(ServiceEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion,
            ["runtime"] = RuntimeInformation.FrameworkDescription,
        }));
        return endpoints;
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

/// <summary>Warnings that are learned at run time (routes, the store's own settings).</summary>
internal sealed class HealthWarnings
{
    private readonly List<string> _warnings = [];

    public IReadOnlyList<string> Current
    {
        get
        {
            lock (_warnings)
            {
                return _warnings.ToArray();
            }
        }
    }

    public void Add(string warning)
    {
        lock (_warnings)
        {
            if (!_warnings.Contains(warning))
            {
                _warnings.Add(warning);
            }
        }
    }
}
