using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace OpenExec.Gateway.Telemetry;

/// <summary>
/// OpenTelemetry wiring. The SDK is registered only when there is somewhere to send to
/// (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, or a signal's own <c>OTEL_EXPORTER_OTLP_TRACES_ENDPOINT</c>,
/// <c>_METRICS_</c> or <c>_LOGS_</c>) or <c>OpenExec:Telemetry:Enabled</c> is true; otherwise
/// nothing listens and spans cost nothing. Request URLs never leave: a proxied call's path and
/// query are part of its payload, so <c>url.path</c>, <c>url.query</c> and <c>url.full</c> are
/// dropped and <c>http.route</c> kept, and the per-request logs that print them are silenced.
/// </summary>
internal static class TelemetryServiceCollectionExtensions
{
    /// <summary>Log categories that print request paths or URLs at Information level.</summary>
    private static readonly string[] UrlLoggingCategories =
    [
        "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Http.Result",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Yarp.ReverseProxy.Forwarder",
        "Yarp.ReverseProxy.Health",
        "System.Net.Http.HttpClient",
    ];

    /// <summary>The infixes of the standard OTLP exporter settings: all signals, then each signal's own (<c>OTEL_EXPORTER_OTLP_{infix}ENDPOINT</c>).</summary>
    public static readonly string[] OtlpSignals = ["", "TRACES_", "METRICS_", "LOGS_"];

    /// <summary>True when an OTLP endpoint is set, for all signals or for one.</summary>
    public static bool OtlpEndpointSet(IConfiguration configuration)
        => OtlpSignals.Any(signal => !string.IsNullOrWhiteSpace(configuration[$"OTEL_EXPORTER_OTLP_{signal}ENDPOINT"]));

    /// <summary>YARP's forwarder: one warning with a stack per failed forward.</summary>
    private const string ForwarderCategory = "Yarp.ReverseProxy.Forwarder.HttpForwarder";

    public static void AddOpenExecTelemetry(this WebApplicationBuilder builder)
    {
        // Off entirely: while enabled at any level, ASP.NET Core wraps every log line of a
        // request in a scope that carries its path.
        // YARP's forwarder logs every failed forward as a warning with its stack (1.5-4.6 KB each,
        // for as long as a backend is down): the gateway logs those itself, throttled
        // (ProxyBoundaryMiddleware), and holds YARP's at Error.
        var silenced = UrlLoggingCategories.Select(c => (Category: c, Level: LogLevel.Warning))
            .Append(("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None))
            .Append((ForwarderCategory, LogLevel.Error)).ToArray();
        // A rule for one provider (Logging:Console:LogLevel:Default=Information, the usual way to
        // turn one output up) takes precedence over rules for all providers, so each provider
        // named in the configuration gets these rules too, added last so they win.
        // The most specific category wins too, so a rule for a category beneath one of these
        // (Yarp.ReverseProxy.Forwarder.HttpForwarder, or a wildcard below it) is held at the same
        // level, never lowered.
        builder.Services.PostConfigure<LoggerFilterOptions>(options =>
        {
            var configured = options.Rules.ToList();
            var providers = configured.Select(r => r.ProviderName).Append(null).Distinct().ToList();
            foreach (var provider in providers)
            {
                foreach (var (category, level) in silenced)
                {
                    options.Rules.Add(new LoggerFilterRule(provider, category, level, filter: null));
                }
            }
            foreach (var rule in configured)
            {
                // The highest level held for this category or any category above it.
                LogLevel? held = null;
                foreach (var (category, level) in silenced)
                {
                    if (rule.CategoryName is { } name && (BeneathOrAt(name, category) || WildcardMatches(name, category))
                        && (held is null || level > held))
                    {
                        held = level;
                    }
                }
                if (held is { } floor)
                {
                    options.Rules.Add(new LoggerFilterRule(rule.ProviderName, rule.CategoryName, rule.LogLevel is { } own && own > floor ? own : floor, filter: null));
                }
            }
        });
        // ...which also stopped it creating each request's Activity: without an SDK none is
        // created, and the front doors carry W3C trace context themselves (TraceContextSource).
        // Read by ASP.NET Core for each request's trace context (a later W3C version too, no
        // baggage), and by the front doors without an SDK.
        builder.Services.AddSingleton<System.Diagnostics.DistributedContextPropagator>(GatewayPropagator.Instance);

        var configuration = builder.Configuration;
        // A signal's own endpoint alone (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, as the standard allows)
        // turns export on too: it was ignored without a word.
        var exporting = OtlpEndpointSet(configuration);
        var enabled = exporting || configuration.GetValue<bool>("OpenExec:Telemetry:Enabled");
        builder.Services.AddSingleton(new TraceContextSource(sdkLoaded: enabled));
        if (!enabled)
        {
            builder.Services.AddSingleton<Yarp.ReverseProxy.Forwarder.IForwarderHttpClientFactory, TraceContextHttpClientFactory>();
            return;
        }
        builder.Services.AddSingleton<Yarp.ReverseProxy.Forwarder.IForwarderHttpClientFactory, Proxy.BackendHttpClientFactory>();
        BackendAnswerText.ListenToClientSpans();

        // The SDK's default propagator reads the agent's baggage into Baggage.Current (ASP.NET Core's
        // instrumentation) and writes it into every backend call (HttpClient's): trace context
        // only, as without the SDK. Process-wide, as the SDK's own is.
        Sdk.SetDefaultTextMapPropagator(new OpenTelemetry.Context.Propagation.TraceContextPropagator());
        // The service's name, version and instance id as the OpenTelemetry spec has them:
        // OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES' service.name (which AddService would
        // otherwise replace, with the instance id it was given), else the gateway's own.
        var resourceAttributes = ResourceAttributes(configuration["OTEL_RESOURCE_ATTRIBUTES"]);
        var serviceName = configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name
            : resourceAttributes.TryGetValue("service.name", out var named) && named.Length > 0 ? named
            : "openexec-gateway";
        var serviceVersion = resourceAttributes.TryGetValue("service.version", out var version) && version.Length > 0 ? version : Http.ServiceEndpoints.Version;
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName, serviceVersion: serviceVersion, autoGenerateServiceInstanceId: !resourceAttributes.ContainsKey("service.instance.id")))
            .WithTracing(tracing =>
            {
                tracing.AddSource(GatewayTelemetry.Name);
                tracing.AddAspNetCoreInstrumentation(options =>
                {
                    options.RecordException = false;
                    options.EnrichWithHttpRequest = (activity, _) => activity.SetTag("url.query", null);
                    options.EnrichWithHttpResponse = (activity, response) =>
                    {
                        activity.SetTag("url.path", null);
                        activity.SetTag("url.query", null);
                    };
                });
                tracing.AddHttpClientInstrumentation(options =>
                {
                    options.RecordException = false;
                    options.EnrichWithHttpRequestMessage = (activity, request) =>
                    {
                        if (request.RequestUri is { } uri)
                        {
                            activity.SetTag("url.full", uri.GetLeftPart(UriPartial.Authority));
                        }
                        activity.SetTag("url.path", null);
                        activity.SetTag("url.query", null);
                    };
                });
            })
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(GatewayTelemetry.Name);
                metrics.AddAspNetCoreInstrumentation();
            });
        if (exporting)
        {
            // Endpoints, protocol (grpc | http/protobuf), headers and timeouts, for all signals or
            // per signal: the standard OTEL_* settings (a signal without an endpoint of its own or
            // a general one goes to the standard default, localhost:4317 or :4318).
            otel.UseOtlpExporter();
        }
    }

    /// <summary>Whether a rule for <paramref name="name"/> (perhaps ending in a wildcard) is one for <paramref name="category"/> or a category beneath it.</summary>
    private static bool BeneathOrAt(string name, string category)
        => name.StartsWith(category, StringComparison.OrdinalIgnoreCase) && (name.Length == category.Length || name[category.Length] is '.' or '*');

    /// <summary>
    /// Whether a rule whose name holds a wildcard (<c>*Microsoft.AspNetCore.Hosting.Diagnostics</c>)
    /// matches <paramref name="category"/> itself and is longer than it: the longer name is the more
    /// specific rule (its '*' counted), so it won over the held category's own. A shorter one
    /// (<c>*</c>, <c>Microsoft*</c>) loses to it and is left as it is.
    /// </summary>
    private static bool WildcardMatches(string name, string category)
    {
        var star = name.IndexOf('*', StringComparison.Ordinal);
        if (star < 0 || name.Length <= category.Length)
        {
            return false;
        }
        var (prefix, suffix) = (name[..star], name[(star + 1)..]);
        return category.Length >= prefix.Length + suffix.Length
            && category.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)
            && category.EndsWith(suffix, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// <c>OTEL_RESOURCE_ATTRIBUTES</c> read as the OpenTelemetry spec writes it: <c>key=value</c>
    /// pairs separated by commas, values percent-encoded; a pair without '=' is skipped.
    /// </summary>
    internal static Dictionary<string, string> ResourceAttributes(string? text)
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && pair[..equals].Trim() is { Length: > 0 } key)
            {
                attributes[key] = Uri.UnescapeDataString(pair[(equals + 1)..].Trim());
            }
        }
        return attributes;
    }
}
