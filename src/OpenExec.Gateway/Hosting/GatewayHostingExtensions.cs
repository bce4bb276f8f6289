using System.Reflection;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenExec.Gateway.Actions;
using OpenExec.Gateway.Configuration;
using OpenExec.Gateway.Http;
using OpenExec.Gateway.Pipeline;
using OpenExec.Gateway.Proxy;
using OpenExec.Gateway.Receipts;
using OpenExec.Gateway.Store;
using Yarp.ReverseProxy.Configuration;

namespace OpenExec.Gateway.Hosting;

/// <summary>Composes the gateway: <c>AddOpenExecGateway</c> for services, <c>UseOpenExecGateway</c> for the app.</summary>
internal static class GatewayHostingExtensions
{
    /// <summary>
    /// Every OpenExec setting that cannot be read as its type, each bound alone, so one start
    /// names them all rather than one per start.
    /// </summary>
    private static List<string> UnreadableSettings(IConfigurationSection section)
    {
        var problems = new List<string>();
        foreach (var property in Settings(typeof(OpenExecOptions)))
        {
            try
            {
                section.GetSection(property.Name).Get(property.PropertyType);
            }
            catch (InvalidOperationException ex)
            {
                problems.Add(BinderProblem(ex));
            }
        }
        return problems;
    }

    /// <summary>Every key under <paramref name="section"/> that names no setting of <paramref name="type"/>, at any depth.</summary>
    private static IEnumerable<string> UnknownSettings(IConfigurationSection section, Type type)
    {
        var settable = Settings(type).ToList();
        foreach (var child in section.GetChildren())
        {
            var property = settable.FirstOrDefault(p => string.Equals(p.Name, child.Key, StringComparison.OrdinalIgnoreCase));
            if (property is null && child.Key.StartsWith('_'))
            {
                continue; // "_comment", or a setting set aside on purpose ("_AllowedActions")
            }
            if (property is null)
            {
                yield return $"{child.Path} is not a setting (settings of {section.Path}: {string.Join(", ", settable.Select(p => p.Name))}): a misspelt setting would leave its default in force";
            }
            else if (IsGroup(property.PropertyType))
            {
                foreach (var unknown in UnknownSettings(child, property.PropertyType))
                {
                    yield return unknown;
                }
            }
        }
    }

    /// <summary>The settings of an options type: the public properties configuration binds.</summary>
    private static IEnumerable<PropertyInfo> Settings(Type options)
        => options.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite);

    /// <summary>A group of settings (<c>OpenExec:RateLimit</c>, <c>OpenExec:Telemetry</c>), not one value or a list.</summary>
    private static bool IsGroup(Type type) => type.IsClass && type != typeof(string) && !type.IsArray;

    private static string BinderProblem(InvalidOperationException ex) => $"{ex.Message} {ex.InnerException?.Message}".Trim();

    /// <summary>A refused value as a problem quotes it: its first 32 characters.</summary>
    private static string Shown(string value) => value.Length <= 32 ? value : value[..32] + "…";

    /// <summary>
    /// Reads and validates all configuration and registers the services. Returns every
    /// configuration problem (the gateway must not start) or an empty list.
    /// </summary>
    public static IReadOnlyList<string> AddOpenExecGateway(this WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        if (SettingsOfTheWrongShape(configuration) is { Count: > 0 } shapeProblems)
        {
            return shapeProblems;
        }
        OpenExecOptions options;
        try
        {
            options = configuration.GetSection(OpenExecOptions.Section).Get<OpenExecOptions>() ?? new OpenExecOptions();
        }
        catch (InvalidOperationException ex)
        {
            // The binder names the setting ("Failed to convert configuration value at
            // 'OpenExec:BackendTimeout' to type 'System.TimeSpan'") but stops at the first; nothing
            // else can be checked without the options.
            return UnreadableSettings(configuration.GetSection(OpenExecOptions.Section)) is { Count: > 0 } unreadable ? unreadable : [BinderProblem(ex)];
        }

        var urls = ListenUrls(configuration);
        if (urls.Count == 0)
        {
            urls = [ListenAddresses.Default];
            builder.WebHost.UseUrls(ListenAddresses.Default);
        }

        var settings = GatewaySettings.Create(options, urls, out var errors);
        var problems = new List<string>(errors);
        if (configuration["OpenExec:AuditTokens"] is { Length: > 0 })
        {
            // A list setting given one plain value binds to nothing: the receipts would stay open.
            problems.Add("OpenExec:AuditTokens is a list: set OpenExec:AuditTokens:0 (environment OpenExec__AuditTokens__0), :1, ... not a single value");
        }
        // An allow-list set to an empty string binds like none at all: every action would run,
        // the opposite of what it says. (A JSON null, the sample's way to show it unset, and a
        // JSON [] reach the configuration as one and the same: unset.)
        // " , " names none either. (OPENEXEC_ALLOWED_ACTIONS is checked with the seed's variables, by its own name.)
        if (configuration["OpenExec:AllowedActions"] is { } allowed)
        {
            problems.AddRange(OpenExecOptions.AllowListProblems(allowed, "OpenExec:AllowedActions", "remove the setting"));
        }
        // A misspelt setting binds to nothing and its default runs: "AllowedAction" would allow
        // every action, "Mdoe" run demo mode.
        problems.AddRange(UnknownSettings(configuration.GetSection(OpenExecOptions.Section), typeof(OpenExecOptions)));
        // Settings ASP.NET Core, Kestrel and OpenTelemetry read themselves, and would skip an
        // unreadable value without a word (the host keeps its 30 s; Kestrel its protocols; the
        // exporter sends nothing).
        if (configuration["shutdownTimeoutSeconds"] is { } shutdown
            && !(int.TryParse(shutdown, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _)))
        {
            problems.Add($"shutdownTimeoutSeconds is '{shutdown}'; use a whole number of seconds, 0 or more");
        }
        if (configuration["Kestrel:EndpointDefaults:Protocols"] is { } protocols
            && !Enum.TryParse<HttpProtocols>(protocols, ignoreCase: true, out _))
        {
            problems.Add($"Kestrel:EndpointDefaults:Protocols is '{protocols}'; use Http1, Http2, Http1AndHttp2, Http3 or Http1AndHttp2AndHttp3");
        }
        foreach (var signal in Telemetry.TelemetryServiceCollectionExtensions.OtlpSignals)
        {
            if (configuration[$"OTEL_EXPORTER_OTLP_{signal}ENDPOINT"] is { Length: > 0 } otlp
                && !(Uri.TryCreate(otlp, UriKind.Absolute, out var otlpUri) && (otlpUri.Scheme == Uri.UriSchemeHttp || otlpUri.Scheme == Uri.UriSchemeHttps)))
            {
                problems.Add($"OTEL_EXPORTER_OTLP_{signal}ENDPOINT is '{OpenExec.Core.Text.SecretText.Address(otlp)}'; use an absolute http:// or https:// address (e.g. http://127.0.0.1:4317)");
            }
            // Another value makes the exporter send nothing, without a word.
            if (configuration[$"OTEL_EXPORTER_OTLP_{signal}PROTOCOL"] is { Length: > 0 } protocol && protocol.Trim() is not ("grpc" or "http/protobuf"))
            {
                problems.Add($"OTEL_EXPORTER_OTLP_{signal}PROTOCOL is '{Shown(protocol)}'; use grpc or http/protobuf");
            }
            // Read as the exporter reads it: digits only, no sign or spaces, within an int. 0 aborted
            // the process as the host started (HttpClient refuses a zero timeout, exit 134); any
            // other value it cannot read was skipped without a word, its 10 s kept.
            if (configuration[$"OTEL_EXPORTER_OTLP_{signal}TIMEOUT"] is { } timeout && !string.IsNullOrWhiteSpace(timeout)
                && !(int.TryParse(timeout, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var milliseconds) && milliseconds > 0))
            {
                problems.Add($"OTEL_EXPORTER_OTLP_{signal}TIMEOUT is '{Shown(timeout)}'; use a whole number of milliseconds from 1 to {int.MaxValue} (e.g. 10000), digits only");
            }
            // One the exporter cannot read aborts the process as the host starts (exit 134).
            if (configuration[$"OTEL_EXPORTER_OTLP_{signal}HEADERS"] is { } headers && Telemetry.OtlpHeaders.Problem(headers) is { } headersProblem)
            {
                problems.Add($"OTEL_EXPORTER_OTLP_{signal}HEADERS cannot be read by the OTLP exporter: {headersProblem}. The value is not shown: it may hold API keys");
            }
        }
        foreach (var signal in new[] { "TRACES", "METRICS", "LOGS" })
        {
            // The OpenTelemetry .NET SDK does not read these: OTEL_TRACES_EXPORTER=none exported
            // traces all the same, to the OTLP endpoint set for every signal.
            if (configuration[$"OTEL_{signal}_EXPORTER"] is { Length: > 0 } exporter && !exporter.Trim().Equals("otlp", StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"OTEL_{signal}_EXPORTER is '{Shown(exporter)}', which the gateway does not support: once an OTLP endpoint is set, traces, metrics and logs are all exported by OTLP; leave it unset (or otlp), and to export nothing, set no OTEL_EXPORTER_OTLP_*ENDPOINT");
            }
        }
        var routes = RouteActions.Read(configuration.GetSection("ReverseProxy"), problems);
        var clientLimits = SlowClientLimits.Read(configuration.GetSection("Kestrel:Limits"), problems);
        KestrelLimits.Check(configuration.GetSection("Kestrel:Limits"), problems);
        StackExchange.Redis.ConfigurationOptions? redis = null;
        if (configuration.GetConnectionString("Redis") is { Length: > 0 } redisConfiguration)
        {
            // Checked element by element before StackExchange.Redis reads it, and named by position:
            // its own messages (and a host it would resolve and log) may quote a password.
            if (RedisExecutionStore.ConfigurationProblem(redisConfiguration) is { } redisProblem)
            {
                problems.Add($"ConnectionStrings:Redis (OPENEXEC_REDIS): {redisProblem}");
            }
            else
            {
                try
                {
                    redis = RedisExecutionStore.ParseConfiguration(redisConfiguration);
                }
                catch (ArgumentException)
                {
                    problems.Add("ConnectionStrings:Redis (OPENEXEC_REDIS) is not a StackExchange.Redis configuration string (its parser's message is not shown: it may quote a password)");
                }
            }
        }
        if (problems.Count > 0)
        {
            return problems;
        }

        GatewayIdentity identity;
        try
        {
            identity = GatewayIdentity.Open(Path.GetFullPath(options.DataDir), options.ReceiptKeyPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or Core.Crypto.KeyFormatException)
        {
            return [$"OpenExec:DataDir / OpenExec:ReceiptKeyPath: {ex.Message}"];
        }
        try
        {
            identity.CheckStore(redis: redis is not null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            identity.Dispose();
            return [$"OpenExec:DataDir: {ex.Message}"];
        }

        var services = builder.Services;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // A backend's answer headers pass through unchanged (SPEC section 5): its HTTP client
            // reads each header byte as one Latin-1 character, and Kestrel refused to write a
            // character outside ASCII back (an action that had answered whole became a 504
            // outcome_unknown); written as Latin-1, each goes out as the byte that came in. The
            // gateway's own headers are ASCII.
            kestrel.ResponseHeaderEncodingSelector = static _ => System.Text.Encoding.Latin1;
            KestrelLimits.Bind(configuration.GetSection("Kestrel:Limits"), kestrel.Limits);
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            clientLimits.ApplyTo(kestrel.Limits);
            if (configuration["Kestrel:Limits:MaxConcurrentConnections"] is null)
            {
                kestrel.Limits.MaxConcurrentConnections = ConnectionLimit.Default();
            }
        });
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<GatewayClock>();
        services.AddSingleton(settings);
        services.AddSingleton(_ => identity); // container-owned: disposing it releases the data-dir lock
        var warnings = new HealthWarnings();
        foreach (var route in routes.PassThroughRoutes)
        {
            warnings.Add($"Pass-through route '{route}' forwards GET, HEAD and OPTIONS without approval, nonce or receipt");
        }
        foreach (var cluster in configuration.GetSection("ReverseProxy:Clusters").GetChildren())
        {
            if (cluster.GetValue<bool>("HttpClient:DangerousAcceptAnyServerCertificate"))
            {
                warnings.Add($"Cluster '{cluster.Key}' accepts any TLS certificate from its backends (HttpClient:DangerousAcceptAnyServerCertificate, as configured at start-up): whoever is on the path can answer as the backend, and receipts record what it answered");
            }
        }
        // ASP.NET Core's switch (ASPNETCORE_FORWARDEDHEADERS_ENABLED) trusts X-Forwarded-For from
        // every peer: a client that reaches the gateway directly names a new address per request.
        if (string.Equals(configuration["FORWARDEDHEADERS_ENABLED"], "true", StringComparison.OrdinalIgnoreCase))
        {
            warnings.Add("ASPNETCORE_FORWARDEDHEADERS_ENABLED is on: X-Forwarded-For is taken from any peer, so the per-client rate limit can be evaded by a client that reaches the gateway directly");
        }
        services.AddSingleton(warnings);
        services.AddHostedService<StartupSettingsWatch>();
        if (redis is not null)
        {
            var retention = RedisExecutionStore.RetentionFor(options.NonceRetention, options.MaxApprovalLifetime, options.ClockSkew);
            // The identity through the container, which then owns it: captured directly, it was
            // never disposed when nothing else asked for it, and a stopped app kept the data dir locked.
            services.AddSingleton<IExecutionStore>(sp => new RedisExecutionStore(
                sp.GetRequiredService<GatewayIdentity>(),
                StackExchange.Redis.ConnectionMultiplexer.Connect(redis),
                retention,
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<HealthWarnings>(),
                sp.GetRequiredService<ILoggerFactory>()));
        }
        else
        {
            services.AddSingleton<SqliteExecutionStore>();
            services.AddSingleton<IExecutionStore>(sp => sp.GetRequiredService<SqliteExecutionStore>());
        }
        services.AddSingleton(new ActionCatalog(routes.Actions));
        services.AddSingleton(routes);
        services.AddSingleton<BackendTimeouts>();
        services.AddSingleton<ExecutionPipeline>();
        services.AddSingleton<RoutedActionClient>();
        services.AddSingleton<ExecuteEndpoint>();
        services.AddSingleton<SigningKeyDirectory>();
        services.AddReverseProxy()
            .LoadFromConfig(configuration.GetSection("ReverseProxy"))
            .AddConfigFilter<ProxyConfigGuard>()
            .AddTransforms<ForwardedHeadersTransform>();
        // A reload that removes a start-up route is refused before YARP sees it (the filter
        // above only sees the routes that are there).
        var configProvider = services.Last(d => d.ServiceType == typeof(IProxyConfigProvider));
        services.Remove(configProvider);
        services.AddSingleton(sp => new StartupRoutesConfigProvider(
            (IProxyConfigProvider)(configProvider.ImplementationInstance ?? configProvider.ImplementationFactory?.Invoke(sp) ?? ActivatorUtilities.CreateInstance(sp, configProvider.ImplementationType!)),
            sp.GetRequiredService<RouteActions>(),
            sp.GetRequiredService<ILogger<StartupRoutesConfigProvider>>()));
        services.AddSingleton<IProxyConfigProvider>(sp => sp.GetRequiredService<StartupRoutesConfigProvider>());
        // YARP registers ASP.NET Core data protection for its session-affinity cookies, whose
        // hosted service made a key ring at every start: a key file under $HOME/.aspnet, outside
        // the data dir, and a warning that it was stored unencrypted. Its keys live in the data
        // dir (owner-only; a cluster's affinity cookies then outlive a restart), made only when a
        // route uses session affinity.
        services.AddDataProtection().PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(identity.DataDir, GatewayIdentity.DataProtectionKeysDir)));
        foreach (var keyRingAtStart in services.Where(d => d.ServiceType == typeof(IHostedService) && d.ImplementationType?.FullName == "Microsoft.AspNetCore.DataProtection.Internal.DataProtectionHostedService").ToList())
        {
            services.Remove(keyRingAtStart);
        }
        services.AddSingleton<IConfigChangeListener>(sp => sp.GetRequiredService<StartupRoutesConfigProvider>());
        // YARP registers ASP.NET Core authorization too (its config check names a route's
        // AuthorizationPolicy), and WebApplication puts the authorization middleware in front of
        // every request whenever that service is there. The gateway authorizes by approvals and
        // refuses routes with an AuthorizationPolicy (RouteRules), so the middleware had nothing
        // to check and cost every request an async frame and an Items dictionary.
        services.RemoveAll<IAuthorizationHandlerProvider>();

        if (options.RateLimit.PerClientPerSecond > 0)
        {
            var perSecond = options.RateLimit.PerClientPerSecond;
            services.AddRateLimiter(limiter =>
            {
                limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                    RateLimitPartition.GetTokenBucketLimiter(RateLimitClient.Key(context.Connection.RemoteIpAddress), _ => new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = perSecond,
                        TokensPerPeriod = perSecond,
                        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    }));
                limiter.OnRejected = (context, _) => new ValueTask(ServiceEndpoints.WriteLimitedAsync(context.HttpContext, 429, "rate_limited", "Too many requests from this client; slow down. Nothing was executed."));
            });
        }
        return [];
    }

    /// <summary>The middleware and endpoints, in the order SPEC section 1 needs: limits before any work.</summary>
    public static WebApplication UseOpenExecGateway(this WebApplication app)
    {
        var settings = app.Services.GetRequiredService<GatewaySettings>();
        // Errors, and the in-flight limit (503 overloaded), first; then the rate limit (429).
        app.UseMiddleware<GatewayErrorMiddleware>(settings.Options.MaxConcurrentRequests);
        if (settings.Options.RateLimit.PerClientPerSecond > 0)
        {
            app.UseRateLimiter();
        }
        app.MapServiceEndpoints();
        app.MapPost("/execute", (HttpContext context, ExecuteEndpoint endpoint) => endpoint.HandleAsync(context));
        app.MapReceiptEndpoints();
        app.MapReverseProxy(proxy =>
        {
            proxy.UseMiddleware<ProxyBoundaryMiddleware>();
            proxy.UseSessionAffinity();
            proxy.UseLoadBalancing();
            proxy.UsePassiveHealthChecks();
        });
        return app;
    }

    /// <summary>
    /// Before serving: opens the store (Redis: starts copying receipts, registers the signing key)
    /// and turns claims a dead process left unfinished in the data dir's embedded claim table
    /// into outcome_unknown receipts (with Redis: a data dir once run with the embedded store).
    /// With Redis, a dead holder's claim in Redis is taken over when its lease has expired, by
    /// whichever gateway finds it first.
    /// </summary>
    public static async Task RecoverAsync(this WebApplication app)
    {
        // The OpenTelemetry SDK (when enabled) listens from when its meter provider is built,
        // otherwise as the host starts, after this: built now, the recovered claims' counts reach it.
        app.Services.GetService<OpenTelemetry.Metrics.MeterProvider>();
        await app.Services.GetRequiredService<ExecutionPipeline>().RecoverAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>
    /// One-value settings given as a list or an object ("Mode": ["clawshield"]): the binder keeps
    /// the default (demo mode) or fails without naming the setting; and groups given one value
    /// ("RateLimit": 0), which bind to nothing. Refused, each named.
    /// </summary>
    private static List<string> SettingsOfTheWrongShape(IConfiguration configuration)
    {
        var problems = new List<string>();
        Check(typeof(OpenExecOptions), OpenExecOptions.Section);
        return problems;

        void Check(Type options, string section)
        {
            foreach (var property in Settings(options))
            {
                var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
                var key = $"{section}:{property.Name}";
                if (IsGroup(type))
                {
                    if (configuration[key] is { Length: > 0 } value)
                    {
                        // "RateLimit": 0 (OpenExec__RateLimit=0) binds to nothing: the default limit runs.
                        var first = Settings(type).First().Name;
                        problems.Add($"{key} is a group of settings, not one value ('{value}' binds to nothing: the defaults would run); set {key}:{first} (environment {key.Replace(":", "__", StringComparison.Ordinal)}__{first})");
                    }
                    else
                    {
                        Check(type, key);
                    }
                    continue;
                }
                if (!(type == typeof(string) || type.IsPrimitive || type == typeof(TimeSpan)))
                {
                    continue;
                }
                if (configuration.GetSection(key).GetChildren().Any())
                {
                    problems.Add($"{key} is one value, not a list or an object (a JSON list binds to nothing: the default would run)");
                }
                else if (type == typeof(TimeSpan) && configuration[key]?.Trim() is { Length: > 0 } span && span.All(char.IsAsciiDigit) && span.Any(d => d != '0'))
                {
                    // Zero is zero in any unit, and a blank value is the binder's to refuse.
                    // .NET reads a bare number as days: "24" meant as hours would be 24 days.
                    var number = span.Trim();
                    problems.Add($"{key} is '{number}', a bare number, which would be read as {number} days; write the unit out: {number}:00:00 for {number} hours, {number}.00:00:00 for {number} days, 00:{number}:00 for {number} minutes");
                }
            }
        }
    }

    private static List<string> ListenUrls(IConfiguration configuration)
    {
        var urls = new List<string>();
        if (configuration["urls"] is { Length: > 0 } configured)
        {
            urls.AddRange(configured.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }
        // ASPNETCORE_HTTP_PORTS / HTTP_PORTS bind every address.
        foreach (var key in new[] { "http_ports", "https_ports" })
        {
            if (configuration[key] is { Length: > 0 } ports)
            {
                var scheme = key.StartsWith("https", StringComparison.Ordinal) ? "https" : "http";
                urls.AddRange(ports.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"{scheme}://*:{p}"));
            }
        }
        foreach (var endpoint in configuration.GetSection("Kestrel:Endpoints").GetChildren())
        {
            if (endpoint["Url"] is { Length: > 0 } url)
            {
                urls.Add(url);
            }
        }
        return urls;
    }
}

/// <summary>
/// How long a slow client may hold a connection (slowloris): the whole request head within
/// <c>Kestrel:Limits:RequestHeadersTimeout</c> (default 10 s; Kestrel's own 30 s is generous for
/// an API), the body at no less than <c>Kestrel:Limits:MinRequestBodyDataRate:BytesPerSecond</c>
/// (default 240) after <c>:GracePeriod</c> (default 5 s, over 1 s), and the answer read at
/// <c>Kestrel:Limits:MinResponseDataRate</c> likewise. The keys are Kestrel's standard names;
/// a data rate is read here because Kestrel's binder cannot build one.
/// </summary>
internal sealed record SlowClientLimits(TimeSpan RequestHeadersTimeout, MinDataRate MinRequestBodyDataRate, MinDataRate MinResponseDataRate)
{
    public static readonly TimeSpan DefaultRequestHeadersTimeout = TimeSpan.FromSeconds(10);

    public static SlowClientLimits Read(IConfigurationSection section, List<string> problems)
    {
        var headers = Value(section, "RequestHeadersTimeout", DefaultRequestHeadersTimeout, problems);
        if (headers <= TimeSpan.Zero)
        {
            problems.Add("Kestrel:Limits:RequestHeadersTimeout must be above 0");
            headers = DefaultRequestHeadersTimeout;
        }
        return new SlowClientLimits(headers, Rate(section, "MinRequestBodyDataRate", problems), Rate(section, "MinResponseDataRate", problems));
    }

    public void ApplyTo(KestrelServerLimits limits)
    {
        limits.RequestHeadersTimeout = RequestHeadersTimeout;
        limits.MinRequestBodyDataRate = MinRequestBodyDataRate;
        limits.MinResponseDataRate = MinResponseDataRate;
    }

    private static MinDataRate Rate(IConfigurationSection limits, string name, List<string> problems)
    {
        var section = limits.GetSection(name);
        var bytesPerSecond = Value(section, "BytesPerSecond", 240d, problems);
        var grace = Value(section, "GracePeriod", TimeSpan.FromSeconds(5), problems);
        if (bytesPerSecond <= 0 || grace <= TimeSpan.FromSeconds(1))
        {
            problems.Add($"Kestrel:Limits:{name} needs BytesPerSecond above 0 and a GracePeriod over 1 s (above 00:00:01)");
            return new MinDataRate(240, TimeSpan.FromSeconds(5));
        }
        return new MinDataRate(bytesPerSecond, grace);
    }

    private static T Value<T>(IConfigurationSection section, string key, T fallback, List<string> problems)
    {
        try
        {
            return section.GetValue(key, fallback)!;
        }
        catch (InvalidOperationException)
        {
            problems.Add($"{section.Path}:{key} is not a valid {(typeof(T) == typeof(TimeSpan) ? "time span (hh:mm:ss)" : "number")}: '{section[key]}'");
            return fallback;
        }
    }
}
