using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using OpenExec.Gateway.Proxy;
using OpenExec.Gateway.Tests.Infrastructure;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using Yarp.ReverseProxy;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// The connect timeout is derived from the cluster's HttpRequest:ActivityTimeout. A timeout the
/// claim's lease cannot outlast is refused at start, and a configuration reload that brings one
/// in is refused (the previous configuration stays in force); and whatever value still reaches
/// the client factory, it never becomes a ConnectTimeout SocketsHttpHandler rejects, which failed
/// the whole proxy configuration.
/// </summary>
public sealed class ConnectTimeoutConfigTests
{
    [Theory]
    [InlineData("-00:00:00.001")] // Timeout.InfiniteTimeSpan: YARP's "no activity timeout"
    [InlineData("00:00:00")]
    [InlineData("01:00:01")]
    [InlineData("30s")] // YARP cannot read it: start-up crashed with a FormatException instead
    public void A_cluster_activity_timeout_out_of_range_is_refused_at_start_naming_it(string activity)
    {
        // A call without a timeout would outlive its claim's lease (sized by that timeout).
        var settings = ProxyConfig.Route("r", "op", "v1", "http://127.0.0.1:9/");
        settings["ReverseProxy:Clusters:r:HttpRequest:ActivityTimeout"] = activity;
        Assert.Contains(ProblemsAtStart(settings), p => p.Contains("ReverseProxy:Clusters:r:HttpRequest:ActivityTimeout", StringComparison.Ordinal));
    }

    /// <summary>The problems a start with these settings is refused for (it must be refused).</summary>
    private static IReadOnlyList<string> ProblemsAtStart(Dictionary<string, string?> settings)
    {
        var dataDir = TempDir.Create();
        try
        {
            var app = OpenExec.Gateway.Hosting.GatewayApp.Build(
                ["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", .. settings.Select(kv => $"--{kv.Key}={kv.Value}")],
                out var problems, new Dictionary<string, string?>());
            Assert.Null(app);
            return problems;
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    /// <summary>A proxied call to the test route's backend, which answers 200 while the configuration in force is sound.</summary>
    private static async Task<HttpStatusCode> SendAsync(GatewayServer gateway, string nonce)
    {
        var call = new HttpRequestMessage(HttpMethod.Post, "/v1/send") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json") };
        call.Headers.TryAddWithoutValidation("Idempotency-Key", nonce);
        return (await gateway.Client.SendAsync(call)).StatusCode;
    }

    [Theory]
    [InlineData("127.0.0.1:5100")] // no scheme: every call failed while YARP built it, recorded outcome_unknown
    [InlineData("not a url")]
    [InlineData("ftp://127.0.0.1/")]
    [InlineData("/v1")]
    public void A_destination_address_that_is_no_absolute_http_address_is_refused_at_start_naming_it(string address)
    {
        var settings = ProxyConfig.Route("r", "op", "v1", address, executePath: "/v1/op");
        Assert.Contains(ProblemsAtStart(settings), p => p.StartsWith("ReverseProxy:Clusters:r:Destinations:d1:Address", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/health", false)] // HEAD /health answered a bare 500 (an ambiguous match)
    [InlineData("/Ready/", true)]
    [InlineData("/", false)]
    [InlineData("/receipts/{id}", false)]
    [InlineData("/.well-known/openexec-keys", true)]
    public void A_route_on_one_of_the_gateways_own_paths_is_refused_at_start_naming_it(string path, bool passThrough)
    {
        var settings = ProxyConfig.Route("r", "op", "v1", "http://127.0.0.1:9/", passThrough: passThrough);
        settings["ReverseProxy:Routes:r:Match:Path"] = path;
        Assert.Contains(ProblemsAtStart(settings), p => p.StartsWith($"ReverseProxy:Routes:r:Match:Path '{path}' is one of the gateway's own endpoints", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/health/deep")]
    [InlineData("/execute/{**rest}")]
    [InlineData("/receipts/{id}/pdf")]
    [InlineData("/{**catchall}")] // ranked after the gateway's literal paths: no tie
    [InlineData("/receipts/{**rest}")]
    public async Task A_route_beside_the_gateways_own_paths_starts(string path)
    {
        var settings = ProxyConfig.Route("r", "op", "v1", "http://127.0.0.1:9/");
        settings["ReverseProxy:Routes:r:Match:Path"] = path;
        await using var gateway = await GatewayServer.StartAsync(settings);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync("/health")).StatusCode);
    }

    [Fact]
    public void A_route_ordered_before_the_gateways_endpoints_is_refused_at_start()
    {
        // A catch-all with Order -1 answered /health, /execute and /receipts from the backend.
        var settings = ProxyConfig.Route("r", "op", "v1", "http://127.0.0.1:9/");
        settings["ReverseProxy:Routes:r:Match:Path"] = "/{**catchall}";
        settings["ReverseProxy:Routes:r:Order"] = "-1";
        Assert.Contains(ProblemsAtStart(settings), p => p.StartsWith("ReverseProxy:Routes:r:Order (-1) must not be negative", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_configuration_reload_moving_a_route_onto_a_gateway_path_is_refused_and_the_previous_one_kept()
    {
        using var backend = StartSendBackend();
        var settings = ProxyConfig.Route("r", "send", "v1", backend.Urls[0] + "/");
        var (gateway, reloadable, logs) = await StartReloadableAsync(settings);
        await using var _ = gateway;

        reloadable.Provider.Reload("ReverseProxy:Routes:r:Match:Path", "/ready");
        await Until(() => logs.Lines.Any(l => l.Contains("is one of the gateway's own endpoints", StringComparison.Ordinal)));
        Assert.Contains(logs.Lines, l => l.Contains("ReverseProxy:Routes:r:Match:Path '/ready'", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(gateway, "after-refused-move"));
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/ready"))).StatusCode);
    }

    [Fact]
    public async Task A_configuration_reload_with_a_destination_address_without_a_scheme_is_refused_and_the_previous_one_kept()
    {
        using var backend = StartSendBackend();
        var settings = ProxyConfig.Route("r", "send", "v1", backend.Urls[0] + "/");
        var (gateway, reloadable, logs) = await StartReloadableAsync(settings);
        await using var _ = gateway;
        var destinationKey = settings.Keys.Single(k => k.StartsWith("ReverseProxy:Clusters:r:Destinations:", StringComparison.Ordinal));
        var proxyState = gateway.Services.GetRequiredService<IProxyStateLookup>();
        string? Address() => proxyState.TryGetCluster("r", out var cluster) ? cluster.Destinations.Values.Single().Model.Config.Address : null;
        var before = Address();

        reloadable.Provider.Reload(destinationKey, backend.Urls[0].Replace("http://", "", StringComparison.Ordinal));
        await Until(() => Address() != before || logs.Lines.Any(l => l.Contains("must be an absolute http://", StringComparison.Ordinal)));
        Assert.Equal(before, Address());
        Assert.Contains(logs.Lines, l => l.Contains("must be an absolute http://", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(gateway, "after-refused-reload"));
    }

    [Fact]
    public async Task A_configuration_reload_with_a_cluster_activity_timeout_out_of_range_is_refused_and_the_previous_one_kept()
    {
        // ASP.NET Core reloads appsettings.json when it changes, and YARP applies the reload: a
        // negative timeout (YARP's "none") or one above an hour must not slip in that way.
        using var backend = StartSendBackend();
        var settings = ProxyConfig.Route("r", "send", "v1", backend.Urls[0] + "/");
        settings["ReverseProxy:Clusters:r:HttpRequest:ActivityTimeout"] = "00:00:05";
        var (gateway, reloadable, logs) = await StartReloadableAsync(settings);
        await using var _ = gateway;
        var proxyState = gateway.Services.GetRequiredService<IProxyStateLookup>();
        TimeSpan? Effective() => proxyState.TryGetCluster("r", out var cluster) ? cluster.Model?.Config.HttpRequest?.ActivityTimeout : null;
        Assert.Equal(TimeSpan.FromSeconds(5), Effective());

        var refusals = 0;
        foreach (var outOfRange in new[] { "-00:00:01", "02:00:00" })
        {
            reloadable.Provider.Reload("ReverseProxy:Clusters:r:HttpRequest:ActivityTimeout", outOfRange);
            refusals++;
            // Until YARP has either applied the reload or refused it (logged).
            await Until(() => Effective() != TimeSpan.FromSeconds(5)
                || logs.Lines.Count(l => l.Contains("ReverseProxy:Clusters:r:HttpRequest:ActivityTimeout", StringComparison.Ordinal)) >= refusals);
            Assert.Equal(TimeSpan.FromSeconds(5), Effective());
            Assert.Contains(logs.Lines, l => l.Contains($"(it is {outOfRange})", StringComparison.Ordinal));
        }
        Assert.Equal(HttpStatusCode.OK, await SendAsync(gateway, "after-refused-reloads"));

        // A reload within the range is applied: reloads do reach YARP.
        reloadable.Provider.Reload("ReverseProxy:Clusters:r:HttpRequest:ActivityTimeout", "00:00:07");
        await Until(() => Effective() == TimeSpan.FromSeconds(7));
        Assert.Equal(TimeSpan.FromSeconds(7), Effective());
    }

    [Fact]
    public async Task A_configuration_reload_adding_transforms_to_a_route_run_by_execute_is_refused_and_the_previous_one_kept()
    {
        // Start-up refuses OpenExec.ExecutePath with Transforms (/execute would skip them); a
        // reloaded appsettings.json must not bring them in either.
        using var backend = StartSendBackend();
        var settings = ProxyConfig.Route("r", "send", "v1", backend.Urls[0] + "/", executePath: "/v1/send");
        var (gateway, reloadable, logs) = await StartReloadableAsync(settings);
        await using var _ = gateway;
        var proxyState = gateway.Services.GetRequiredService<IProxyStateLookup>();
        int? Transforms() => proxyState.TryGetRoute("r", out var route) ? route.Config.Transforms?.Count ?? 0 : null;
        Assert.Equal(0, Transforms());

        reloadable.Provider.Reload(("ReverseProxy:Routes:r:Transforms:0:RequestHeader", "Authorization"), ("ReverseProxy:Routes:r:Transforms:0:Set", "Bearer tool-key"));
        await Until(() => Transforms() != 0 || logs.Lines.Any(l => l.Contains("cannot be combined with Transforms", StringComparison.Ordinal)));
        Assert.Equal(0, Transforms());
        Assert.Contains(logs.Lines, l => l.Contains("ReverseProxy:Routes:r", StringComparison.Ordinal) && l.Contains("Transforms", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Routes:r:Metadata:OpenExec.Action=send_other")]
    [InlineData("Routes:r:ClusterId=other")]
    [InlineData("Routes:added:ClusterId=r;Routes:added:Match:Path=/v2/added;Routes:added:Metadata:OpenExec.Action=added_op")]
    [InlineData("Routes:r:Metadata:OpenExec.ExecutePath=/v1/other")]
    [InlineData("Routes:r:Metadata:OpenExec.ExecutePath=(removed)")]
    public async Task A_configuration_reload_that_changes_which_routes_there_are_or_what_they_run_is_refused(string change)
    {
        // The action catalog, /execute's cluster and the pass-through list are read at start-up:
        // a reload changing them would leave /execute and the proxy disagreeing.
        using var backend = StartSendBackend();
        var settings = ProxyConfig.Route("r", "send", "v1", backend.Urls[0] + "/", executePath: "/v1/send");
        settings["ReverseProxy:Clusters:other:Destinations:d1:Address"] = backend.Urls[0] + "/";
        var (gateway, reloadable, logs) = await StartReloadableAsync(settings);
        await using var _ = gateway;
        var proxyState = gateway.Services.GetRequiredService<IProxyStateLookup>();
        string Routes() => string.Join(",", proxyState.GetRoutes().Select(r => $"{r.Config.RouteId}:{r.Config.ClusterId}:{r.Config.Metadata?.GetValueOrDefault("OpenExec.Action")}:{r.Config.Metadata?.GetValueOrDefault("OpenExec.ExecutePath")}").Order(StringComparer.Ordinal));
        var before = Routes();

        reloadable.Provider.Reload([.. change.Split(';').Select(c => c.Split('=')).Select(kv => ("ReverseProxy:" + kv[0], kv[1]))]);
        await Until(() => Routes() != before || logs.Lines.Any(l => l.Contains("read at start-up", StringComparison.Ordinal)));
        Assert.Equal(before, Routes());
        Assert.Contains(logs.Lines, l => l.Contains(change.Contains("ExecutePath", StringComparison.Ordinal) ? "a reload cannot add, change or remove it" : "a reload cannot change them", StringComparison.Ordinal));
        // /execute still runs the action where it did.
        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("send", new { to = "x" }, $"after-{change.GetHashCode():x}")).StatusCode);
    }

    [Theory]
    [InlineData("Routes:ro:Metadata:OpenExec.PassThrough=false")]
    [InlineData("Routes:ro:Metadata:OpenExec.PassThrough=")]
    [InlineData("Routes:r:Metadata:OpenExec.PassThrough=true")]
    public async Task A_configuration_reload_that_changes_a_routes_pass_through_flag_is_refused(string change)
    {
        // A pass-through whose flag a reload removed kept forwarding unchecked, the reload applied
        // (and logged nothing), while the file, read at the next start, said it was no route at all.
        using var backend = StartSendBackend();
        var settings = ProxyConfig.Route("r", "send", "v1", backend.Urls[0] + "/");
        ProxyConfig.Route("ro", "", "ro", backend.Urls[0] + "/", passThrough: true, into: settings);
        var (gateway, reloadable, logs) = await StartReloadableAsync(settings);
        await using var _ = gateway;
        var proxyState = gateway.Services.GetRequiredService<IProxyStateLookup>();
        string Routes() => string.Join(",", proxyState.GetRoutes().Select(r => $"{r.Config.RouteId}:{r.Config.Metadata?.GetValueOrDefault("OpenExec.PassThrough")}").Order(StringComparer.Ordinal));
        var before = Routes();

        var (key, value) = (change.Split('=')[0], change.Split('=')[1]);
        reloadable.Provider.Reload(("ReverseProxy:" + key, value.Length == 0 ? "(removed)" : value));
        await Until(() => Routes() != before || logs.Lines.Any(l => l.Contains("read at start-up", StringComparison.Ordinal)));
        Assert.Equal(before, Routes());
        Assert.Contains(logs.Lines, l => l.Contains("which are pass-throughs (OpenExec.PassThrough) are read at start-up", StringComparison.Ordinal) && l.Contains("a reload cannot change them", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_configuration_reload_that_changes_OpenExec_settings_is_logged_as_not_applied()
    {
        // YARP applies a saved appsettings.json's proxy part; the OpenExec part is read at
        // start-up only. Revoking a governance key or narrowing the allow-list that way did
        // nothing, without a word.
        using var backend = StartSendBackend();
        var settings = ProxyConfig.Route("r", "send", "v1", backend.Urls[0] + "/");
        settings["OpenExec:AllowedActions"] = "echo,send";
        var (gateway, reloadable, logs) = await StartReloadableAsync(settings);
        await using var _ = gateway;

        reloadable.Provider.Reload(("OpenExec:AllowedActions", "send"), ("OpenExec:AuditTokens:0", "secret-token-value"));
        await Until(() => logs.Lines.Any(l => l.Contains("NOT applied", StringComparison.Ordinal)));
        var line = Assert.Single(logs.Lines, l => l.Contains("NOT applied", StringComparison.Ordinal));
        Assert.Contains("OpenExec:AllowedActions, OpenExec:AuditTokens:0", line, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-token-value", line, StringComparison.Ordinal);
        // As the log says: the allow-list in force is the start's.
        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("echo", new { a = 1 }, "after-reload")).StatusCode);

        // A reload of the proxy part alone, with the OpenExec part as it started, says nothing.
        var before = logs.Lines.Count(l => l.Contains("NOT applied", StringComparison.Ordinal));
        reloadable.Provider.Reload(("OpenExec:AllowedActions", "echo,send"), ("OpenExec:AuditTokens:0", "(removed)"), ("ReverseProxy:Clusters:r:HttpRequest:ActivityTimeout", "00:00:07"));
        var proxyState = gateway.Services.GetRequiredService<IProxyStateLookup>();
        await Until(() => proxyState.TryGetCluster("r", out var cluster) && cluster.Model?.Config.HttpRequest?.ActivityTimeout == TimeSpan.FromSeconds(7));
        Assert.Equal(before, logs.Lines.Count(l => l.Contains("NOT applied", StringComparison.Ordinal)));
    }

    /// <summary>A backend whose /v1/send answers 200 (disposing it stops it).</summary>
    private static WireMockServer StartSendBackend()
    {
        var backend = WireMockServer.Start();
        backend.Given(Request.Create().WithPath("/v1/send")).RespondWith(Response.Create().WithStatusCode(200).WithBody("""{"ok":true}"""));
        return backend;
    }

    /// <summary>A gateway whose configuration the test reloads, as a changed file would be, and its log.</summary>
    private static async Task<(GatewayServer Gateway, ReloadableSource Reloadable, LogCapture Logs)> StartReloadableAsync(Dictionary<string, string?> settings)
    {
        var logs = new LogCapture();
        var reloadable = new ReloadableSource();
        var gateway = await GatewayServer.StartAsync(settings, configure: b =>
        {
            b.Logging.AddProvider(logs);
            ((IConfigurationBuilder)b.Configuration).Add(reloadable); // after the command line: its values win
        });
        return (gateway, reloadable, logs);
    }

    private static async Task Until(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
    }

    /// <summary>A configuration source that changes, and signals the change, as a reloaded file does.</summary>
    private sealed class ReloadableSource : IConfigurationSource
    {
        public ReloadableProvider Provider { get; } = new();

        public IConfigurationProvider Build(IConfigurationBuilder builder) => Provider;
    }

    private sealed class ReloadableProvider : ConfigurationProvider
    {
        public void Reload(string key, string value) => Reload((key, value));

        /// <summary>Several values changed at once, as one saved file; "(removed)" takes a value away (null over the start's).</summary>
        public void Reload(params (string Key, string Value)[] values)
        {
            foreach (var (key, value) in values)
            {
                Data[key] = value == "(removed)" ? null : value;
            }
            OnReload();
        }
    }

    [Theory]
    [InlineData("-00:00:00.001")]
    [InlineData("00:00:00")]
    [InlineData("00:00:00.0000001")]
    public void The_connect_timeout_is_always_one_sockets_http_handler_accepts(string call)
    {
        var connect = BackendHttpClientFactory.ConnectTimeoutFor(TimeSpan.Parse(call, System.Globalization.CultureInfo.InvariantCulture));
        using var handler = new SocketsHttpHandler();
        handler.ConnectTimeout = connect; // throws ArgumentOutOfRangeException for zero or negative
        Assert.True(connect > TimeSpan.Zero);
    }
}
