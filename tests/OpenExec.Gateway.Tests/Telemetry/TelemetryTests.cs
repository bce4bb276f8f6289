using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Gateway.Tests.Infrastructure;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace OpenExec.Gateway.Tests.Telemetry;

/// <summary>Traces, attributes and what must never be exported (SPEC section 7).</summary>
[Collection(ActivityListenerCollection.Name)]
public sealed class TelemetryTests : IDisposable
{
    private const string Tenant = "tenant-otel";
    private readonly LockedList<Activity> _spans = new();
    private readonly LogCapture _logs = new();
    private readonly WireMockServer _backend = WireMockServer.Start();

    public void Dispose() => _backend.Stop();

    private Task<GatewayServer> StartAsync(Dictionary<string, string?>? settings = null, Dictionary<string, string?>? environment = null, Action<WebApplicationBuilder>? configure = null)
    {
        settings ??= [];
        settings["OpenExec:Telemetry:Enabled"] = "true";
        settings["Logging:LogLevel:Default"] = "Trace";
        return GatewayServer.StartAsync(settings, environment, configure: builder =>
        {
            builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddInMemoryExporter(_spans));
            builder.Logging.AddProvider(_logs);
            configure?.Invoke(builder);
        });
    }

    /// <summary>The gateway's own store, wrapped to fail on demand.</summary>
    private static Action<WebApplicationBuilder> Flaky(Action<FlakyStore> set)
        => builder => builder.Services.AddSingleton<OpenExec.Gateway.Store.IExecutionStore>(sp =>
        {
            var store = new FlakyStore(sp.GetRequiredService<OpenExec.Gateway.Store.SqliteExecutionStore>());
            set(store);
            return store;
        });

    /// <summary>Sends <paramref name="request"/> with a user agent of its own, and returns its answer and the trace of its server span.</summary>
    private async Task<(HttpResponseMessage Response, List<Activity> Trace)> SendTracedAsync(GatewayServer gateway, HttpRequestMessage request)
    {
        var agent = "traced/" + Guid.NewGuid().ToString("N");
        request.Headers.TryAddWithoutValidation("User-Agent", agent);
        var response = await gateway.Client.SendAsync(request);
        await SpansSettledAsync(a => a.Kind == ActivityKind.Server && (string?)a.GetTagItem("user_agent.original") == agent);
        // The gateway's (a backend in this process sees the same user agent, forwarded, in the same trace).
        var server = _spans.First(a => a.Kind == ActivityKind.Server && (string?)a.GetTagItem("user_agent.original") == agent);
        return (response, TraceOf(server.TraceId.ToHexString()));
    }

    private static HttpRequestMessage ExecuteRequest(string action, string payloadJson, string nonce, string? artifactJson = null)
        => new(HttpMethod.Post, "/execute")
        {
            Content = new StringContent($$"""{"action":"{{action}}","payload":{{payloadJson}},"nonce":"{{nonce}}"{{(artifactJson is null ? "" : ",\"approval_artifact\":" + artifactJson)}}}""", Encoding.UTF8, "application/json"),
        };

    /// <summary>
    /// Spans are exported when they end, the server span just after the answer left: wait (10 s
    /// at most) until the span <paramref name="expected"/> looks for (by default the last
    /// request's server span) has arrived and nothing new came for 300 ms.
    /// </summary>
    private async Task SpansSettledAsync(Func<Activity, bool>? expected = null)
    {
        expected ??= a => a.Kind == ActivityKind.Server && a.GetTagItem("openexec.decision") is not null;
        var seen = -1;
        var quiet = 0;
        for (var i = 0; i < 100; i++)
        {
            await Task.Delay(100);
            var count = _spans.Count;
            quiet = count == seen ? quiet + 1 : 0;
            seen = count;
            if (quiet >= 3 && _spans.Any(expected))
            {
                return;
            }
        }
    }

    /// <summary>Everything a span carries as text: name, status, attributes, events and their attributes, baggage.</summary>
    private static string SpanText(Activity span)
    {
        var text = new StringBuilder(span.DisplayName).Append(' ').Append(span.StatusDescription);
        foreach (var tag in span.TagObjects)
        {
            text.Append(' ').Append(tag.Key).Append('=').Append(tag.Value);
        }
        foreach (var e in span.Events)
        {
            text.Append(' ').Append(e.Name);
            foreach (var tag in e.Tags)
            {
                text.Append(' ').Append(tag.Key).Append('=').Append(tag.Value);
            }
        }
        foreach (var item in span.Baggage)
        {
            text.Append(' ').Append(item.Key).Append('=').Append(item.Value);
        }
        return text.ToString();
    }

    private List<Activity> TraceOf(string traceId) => _spans.Where(a => a.TraceId.ToHexString() == traceId).ToList();

    // The gateway's own server span (a backend in this process may add its own to the trace).
    private static Activity Server(List<Activity> trace) => Assert.Single(trace, a => a.Kind == ActivityKind.Server && a.GetTagItem("openexec.decision") is not null);

    private static void AssertUnder(Activity child, Activity ancestor, List<Activity> trace)
    {
        var current = child;
        while (current.ParentSpanId != default)
        {
            if (current.ParentSpanId == ancestor.SpanId)
            {
                return;
            }
            current = trace.Single(a => a.SpanId == current.ParentSpanId);
        }
        Assert.Fail($"{child.DisplayName} is not under {ancestor.DisplayName}");
    }

    [Fact]
    public async Task Executed_request_has_the_pipeline_span_tree_and_its_attributes()
    {
        await using var gateway = await StartAsync();
        var response = await Json.ReadAsync(await gateway.ExecuteAsync("echo", new { msg = "hi" }, "otel-1"));
        var traceId = response.GetProperty("receipt_document").GetProperty("body").Str("trace_id");
        await SpansSettledAsync(a => a.Kind == ActivityKind.Server && a.TraceId.ToHexString() == traceId);

        var trace = TraceOf(traceId);
        var server = Server(trace);
        foreach (var name in new[] { "openexec.validate", "openexec.action.invoke", "openexec.receipt.write" })
        {
            AssertUnder(Assert.Single(trace, a => a.DisplayName == name), server, trace);
        }
        // Step 4's look-up and step 6's claim are one store operation.
        AssertUnder(Assert.Single(trace, a => a.DisplayName == "openexec.nonce.claim"), server, trace);
        Assert.Equal("echo", server.GetTagItem("openexec.action"));
        Assert.Equal(response.Str("id"), server.GetTagItem("openexec.exec_id"));
        Assert.Equal("executed", server.GetTagItem("openexec.decision"));
        Assert.Equal(response.Str("receipt"), server.GetTagItem("openexec.receipt"));
        Assert.Equal("default", server.GetTagItem("openexec.tenant"));
        Assert.NotEqual(ActivityStatusCode.Error, server.Status);
        Assert.Null(server.GetTagItem("url.path"));
        Assert.Equal("/execute", server.GetTagItem("http.route"));
    }

    [Fact]
    public async Task A_request_refused_before_the_pipeline_has_its_code_on_the_server_span()
    {
        await using var gateway = await StartAsync();

        // A user agent of its own picks this request's span out of all the process records.
        var agent = "refusal-test/" + Guid.NewGuid().ToString("N");
        var request = new HttpRequestMessage(HttpMethod.Post, "/execute") { Content = new StringContent("""{"action":"echo","nonce":"n-1","nonce":"n-2"}""", Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("User-Agent", agent);
        var refused = await gateway.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        await SpansSettledAsync(a => a.Kind == ActivityKind.Server && (string?)a.GetTagItem("user_agent.original") == agent);

        var server = Assert.Single(_spans, a => a.Kind == ActivityKind.Server && (string?)a.GetTagItem("user_agent.original") == agent);
        Assert.Equal("duplicate_key", server.GetTagItem("openexec.code"));
        Assert.Equal(ActivityStatusCode.Error, server.Status);
    }

    [Fact]
    public async Task Replayed_and_rejected_requests_are_error_spans_with_their_code()
    {
        var governance = ReceiptSigningKey.Generate();
        await using var gateway = await StartAsync(environment: new()
        {
            ["OPENEXEC_MODE"] = "clawshield",
            ["CLAWSHIELD_PUBLIC_KEY"] = governance.ExportPublicPem(),
            ["CLAWSHIELD_TENANT_ID"] = Tenant,
        });
        var payload = new StrictObject([new("msg", new StrictString("x"))]);
        var now = DateTimeOffset.UtcNow;
        var approval = new ApprovalMinter(governance).Mint(Tenant, ActionHash.Compute("echo", payload), now, now.AddMinutes(1));
        var artifact = System.Text.Json.JsonDocument.Parse(approval.ToJson()).RootElement;

        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("echo", new { msg = "x" }, "r-1", artifact)).StatusCode);
        var replay = await Json.ReadAsync(await gateway.ExecuteAsync("echo", new { msg = "x" }, "r-1", artifact));
        var forged = ReceiptSigningKey.Generate();
        var bad = new ApprovalMinter(forged).Mint(Tenant, ActionHash.Compute("echo", payload), now, now.AddMinutes(1));
        var rejected = await Json.ReadAsync(await gateway.ExecuteAsync("echo", new { msg = "x" }, "r-2", System.Text.Json.JsonDocument.Parse(bad.ToJson()).RootElement));
        await SpansSettledAsync(a => a.Kind == ActivityKind.Server && (string?)a.GetTagItem("openexec.exec_id") == rejected.Str("id"));

        var replayServer = Assert.Single(_spans, a => a.Kind == ActivityKind.Server && (string?)a.GetTagItem("openexec.exec_id") == replay.Str("id"));
        Assert.Equal("replay_denied", replayServer.GetTagItem("openexec.decision"));
        Assert.Equal("replay_denied", replayServer.GetTagItem("openexec.code"));
        Assert.Equal(ActivityStatusCode.Error, replayServer.Status);

        var rejectedServer = Assert.Single(_spans, a => a.Kind == ActivityKind.Server && (string?)a.GetTagItem("openexec.exec_id") == rejected.Str("id"));
        Assert.Equal("rejected", rejectedServer.GetTagItem("openexec.decision"));
        Assert.Equal("invalid_signature", rejectedServer.GetTagItem("openexec.code"));
        var verify = Assert.Single(TraceOf(rejectedServer.TraceId.ToHexString()), a => a.DisplayName == "openexec.approval.verify");
        Assert.Equal(ActivityStatusCode.Error, verify.Status);
        governance.Dispose();
        forged.Dispose();
    }

    [Fact]
    public async Task A_store_that_cannot_be_reached_marks_the_claim_and_receipt_spans_failed_with_its_code()
    {
        using var governance = ReceiptSigningKey.Generate();
        using var forged = ReceiptSigningKey.Generate();
        await using var gateway = await StartAsync(
            environment: new()
            {
                ["OPENEXEC_MODE"] = "clawshield",
                ["CLAWSHIELD_PUBLIC_KEY"] = governance.ExportPublicPem(),
                ["CLAWSHIELD_TENANT_ID"] = Tenant,
            },
            configure: Flaky(store => store.Down = true));
        var payload = new StrictObject([new("msg", new StrictString("x"))]);
        var now = DateTimeOffset.UtcNow;
        var approved = new ApprovalMinter(governance).Mint(Tenant, ActionHash.Compute("echo", payload), now, now.AddMinutes(1)).ToJson();
        var bad = new ApprovalMinter(forged).Mint(Tenant, ActionHash.Compute("echo", payload), now, now.AddMinutes(1)).ToJson();

        // The claim cannot be made: nothing ran.
        var (claimed, claimTrace) = await SendTracedAsync(gateway, ExecuteRequest("echo", """{"msg":"x"}""", "down-1", approved));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, claimed.StatusCode);
        var claim = Assert.Single(claimTrace, a => a.DisplayName == "openexec.nonce.claim");
        Assert.Equal(ActivityStatusCode.Error, claim.Status);
        Assert.Equal("store_unavailable", claim.StatusDescription);
        Assert.Equal("store_unavailable", claim.GetTagItem("openexec.code"));
        Assert.DoesNotContain(claimTrace, a => a.DisplayName == "openexec.receipt.write");

        // A refusal's receipt cannot be written.
        var (refused, refusalTrace) = await SendTracedAsync(gateway, ExecuteRequest("echo", """{"msg":"x"}""", "down-2", bad));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        var write = Assert.Single(refusalTrace, a => a.DisplayName == "openexec.receipt.write");
        Assert.Equal(ActivityStatusCode.Error, write.Status);
        Assert.Equal("store_unavailable", write.GetTagItem("openexec.code"));
    }

    [Fact]
    public async Task An_outcome_that_cannot_be_recorded_marks_its_receipt_span_failed_with_outcome_unknown()
    {
        _backend.Given(Request.Create().WithPath("/v1/op")).RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""{"done":true}"""));
        await using var gateway = await StartAsync(ProxyConfig.Route("op", "do_op", "v1", _backend.Urls[0] + "/"), configure: Flaky(store => store.FailOutcomes = 1));
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/op") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", "unrecorded-1");

        var (response, trace) = await SendTracedAsync(gateway, request);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        // The request's own write (the one retried in the background, later, joins this trace).
        var write = trace.Where(a => a.DisplayName == "openexec.receipt.write").OrderBy(a => a.StartTimeUtc).First();
        Assert.Equal(ActivityStatusCode.Error, write.Status);
        Assert.Equal("outcome_unknown", write.GetTagItem("openexec.code"));
        Assert.Null(write.GetTagItem("openexec.receipt"));
    }

    [Fact]
    public async Task A_replayed_built_in_call_has_one_receipt_span_for_its_one_receipt()
    {
        await using var gateway = await StartAsync();
        var (first, firstTrace) = await SendTracedAsync(gateway, ExecuteRequest("echo", """{"msg":"x"}""", "replayed-1"));
        var (replay, replayTrace) = await SendTracedAsync(gateway, ExecuteRequest("echo", """{"msg":"x"}""", "replayed-1"));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, replay.StatusCode);

        // Executed: the claim and its receipt are one write, and the receipt's span is beneath the claim's.
        var claim = Assert.Single(firstTrace, a => a.DisplayName == "openexec.nonce.claim");
        var executed = Assert.Single(firstTrace, a => a.DisplayName == "openexec.receipt.write");
        Assert.Equal(claim.SpanId, executed.ParentSpanId);
        Assert.Equal((await Json.ReadAsync(first)).Str("receipt"), executed.GetTagItem("openexec.receipt"));

        // Replayed: the claim wrote no receipt; the refusal's receipt is the one written.
        var refusal = Assert.Single(replayTrace, a => a.DisplayName == "openexec.receipt.write");
        Assert.Equal((await Json.ReadAsync(replay)).Str("receipt"), refusal.GetTagItem("openexec.receipt"));
        Assert.DoesNotContain(replayTrace, a => a.ParentSpanId == Assert.Single(replayTrace, c => c.DisplayName == "openexec.nonce.claim").SpanId);
    }

    [Theory]
    [InlineData("proxy", "ok", 200, null)]
    [InlineData("proxy", "fail", 500, "upstream_failed")]
    [InlineData("proxy", "down", 502, "upstream_failed")]
    [InlineData("proxy", "slow", 504, "outcome_unknown")]
    [InlineData("execute", "ok", 200, null)]
    [InlineData("execute", "fail", 502, "upstream_failed")]
    [InlineData("execute", "down", 502, "upstream_failed")]
    [InlineData("execute", "slow", 504, "outcome_unknown")]
    public async Task A_call_to_a_backend_that_failed_marks_the_action_span_failed_with_its_code(string door, string backend, int status, string? code)
    {
        _backend.Given(Request.Create().WithPath("/v1/ok")).RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""{"done":true}"""));
        _backend.Given(Request.Create().WithPath("/v1/fail")).RespondWith(Response.Create().WithStatusCode(500).WithBody("{}"));
        _backend.Given(Request.Create().WithPath("/v1/slow")).RespondWith(Response.Create().WithStatusCode(200).WithBody("{}").WithDelay(TimeSpan.FromSeconds(8)));
        // A loopback port where nothing listens: connections are refused, nothing is sent.
        using var closed = new ClosedPort();
        var settings = ProxyConfig.Route("r", "op", "v1", backend == "down" ? closed.Url : _backend.Urls[0] + "/", executePath: $"/v1/{backend}");
        settings["OpenExec:BackendTimeout"] = "00:00:03";
        await using var gateway = await StartAsync(settings);
        var request = door == "proxy"
            ? new HttpRequestMessage(HttpMethod.Post, $"/v1/{backend}") { Content = new StringContent("{}", Encoding.UTF8, "application/json") }
            : ExecuteRequest("op", "{}", "invoked-" + backend);
        request.Headers.TryAddWithoutValidation("Idempotency-Key", "invoked-" + backend);

        var (response, trace) = await SendTracedAsync(gateway, request);

        Assert.Equal(status, (int)response.StatusCode);
        var invoke = Assert.Single(trace, a => a.DisplayName == "openexec.action.invoke");
        if (code is null)
        {
            Assert.Equal(ActivityStatusCode.Unset, invoke.Status);
            Assert.Null(invoke.GetTagItem("openexec.code"));
        }
        else
        {
            Assert.Equal(ActivityStatusCode.Error, invoke.Status);
            Assert.Equal(code, invoke.StatusDescription);
            Assert.Equal(code, invoke.GetTagItem("openexec.code"));
        }
    }


    [Fact]
    public async Task Proxied_call_carries_the_trace_to_the_backend_and_into_the_receipt()
    {
        _backend.Given(Request.Create().WithPath("/v1/fail")).RespondWith(Response.Create().WithStatusCode(500).WithBody("{}"));
        await using var gateway = await StartAsync(ProxyConfig.Route("r", "flaky", "v1", _backend.Urls[0] + "/"));

        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/fail?secret=q") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", "trace-1");
        var response = await gateway.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var execId = response.Headers.GetValues("OpenExec-Exec-Id").Single();
        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{execId}"));
        var traceId = receipt.GetProperty("body").Str("trace_id");
        await SpansSettledAsync(a => a.Kind == ActivityKind.Server && a.TraceId.ToHexString() == traceId);

        var traceparent = _backend.LogEntries.Single().RequestMessage.Headers!["traceparent"].Single();
        Assert.Equal(traceId, traceparent.Split('-')[1]);

        var trace = TraceOf(traceId);
        var server = Server(trace);
        Assert.Equal("upstream_failed", server.GetTagItem("openexec.decision"));
        Assert.Equal(ActivityStatusCode.Error, server.Status);
        // The route's template, never the path as sent (SPEC section 7).
        Assert.Equal("/v1/{**rest}", server.GetTagItem("http.route"));
        var invoke = Assert.Single(trace, a => a.DisplayName == "openexec.action.invoke");
        Assert.Contains(trace, a => a.Kind == ActivityKind.Client && a.ParentSpanId == invoke.SpanId);
        foreach (var span in trace)
        {
            foreach (var tag in span.TagObjects)
            {
                Assert.DoesNotContain("/v1/fail", tag.Value?.ToString() ?? "", StringComparison.Ordinal);
                Assert.DoesNotContain("secret=q", tag.Value?.ToString() ?? "", StringComparison.Ordinal);
            }
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task Payloads_results_and_nonces_appear_in_no_span_attribute_event_or_log_line(bool providerLevel, bool categoryLevel)
    {
        const string marker = "MARKER-7f3a9c";
        _backend.Given(Request.Create().WithPath("/v1/*")).RespondWith(Response.Create().WithStatusCode(200).WithBody($$"""{"echo":"{{marker}}-result"}"""));
        var settings = ProxyConfig.Route("r", "tool", "v1", _backend.Urls[0] + "/");
        if (providerLevel)
        {
            // One output turned up on its own (Logging:Console:LogLevel:Default=... in practice):
            // a provider's own rule outranks rules for all providers.
            settings[$"Logging:{typeof(LogCapture).FullName}:LogLevel:Default"] = "Trace";
        }
        if (categoryLevel)
        {
            // Categories turned up below the ones the gateway holds at Warning: the most specific
            // rule wins, and the forwarder printed "Proxying to http://.../v1/{path}?{query}".
            settings["Logging:LogLevel:Yarp.ReverseProxy.Forwarder.HttpForwarder"] = "Trace";
            settings["Logging:LogLevel:Microsoft.AspNetCore.Routing.EndpointMiddleware"] = "Trace";
            settings["Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics.Extra"] = "Trace";
            settings[$"Logging:{typeof(LogCapture).FullName}:LogLevel:Yarp.ReverseProxy.Forwarder.*"] = "Trace";
        }
        await using var gateway = await StartAsync(settings);

        await gateway.ExecuteAsync("echo", new { msg = marker + "-payload" }, marker + "-nonce");
        await gateway.ExecuteAsync("echo", new { msg = marker + "-payload" }, marker + "-nonce");
        var proxied = new HttpRequestMessage(HttpMethod.Post, $"/v1/{marker}-path?q={marker}-query") { Content = new StringContent($$"""{"m":"{{marker}}-body"}""", Encoding.UTF8, "application/json") };
        proxied.Headers.TryAddWithoutValidation("Idempotency-Key", marker + "-key");
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.SendAsync(proxied)).StatusCode);
        await gateway.PostJsonAsync("/execute", $$"""{"action":"echo","nonce":"{{marker}}-n2","bogus":"{{marker}}-field"}""");
        await SpansSettledAsync();

        Assert.NotEmpty(_spans);
        Assert.NotEmpty(_logs.Lines);
        foreach (var span in _spans)
        {
            Assert.DoesNotContain(marker, SpanText(span), StringComparison.Ordinal);
        }
        foreach (var line in _logs.Lines)
        {
            Assert.DoesNotContain(marker, line, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_backend_answer_that_is_not_http_is_quoted_in_no_span_event_or_log_line()
    {
        // HttpClient's message for an answer it cannot read quotes the answer ("Received an invalid
        // header line: '...'"): the span's exception event and the forward failure's log line
        // carried the backend's bytes, which are its result.
        const string marker = "MARKER-5be1d0";
        using var backend = new RecordingBackend($"HTTP/1.1 200 OK\r\n{marker} no colon here\r\nContent-Length: 2\r\n\r\n{{}}");
        await using var gateway = await StartAsync(ProxyConfig.Route("r", "tool", "v1", backend.Address, executePath: "/v1/run"));

        var proxied = new HttpRequestMessage(HttpMethod.Post, "/v1/run") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        proxied.Headers.TryAddWithoutValidation("Idempotency-Key", "not-http-1");
        var answer = await gateway.Client.SendAsync(proxied);
        Assert.Equal(HttpStatusCode.GatewayTimeout, answer.StatusCode);
        Assert.Equal(HttpStatusCode.GatewayTimeout, (await gateway.ExecuteAsync("tool", new { }, "not-http-2")).StatusCode);
        await SpansSettledAsync(a => a.Kind == ActivityKind.Server && a.GetTagItem("openexec.decision") is not null && _spans.Count(s => s.Kind == ActivityKind.Client) >= 2);

        // Recorded all the same, described without the answer.
        var clients = _spans.Where(a => a.Kind == ActivityKind.Client && (string?)a.GetTagItem("url.full") == backend.Address.TrimEnd('/')).ToList();
        Assert.Equal(2, clients.Count);
        Assert.All(clients, client => Assert.Contains(client.Events, e => e.Name == "exception"
            && e.Tags.Any(t => t.Key == "exception.message" && (string?)t.Value == OpenExec.Gateway.Telemetry.BackendAnswerText.Withheld)));
        foreach (var span in _spans)
        {
            Assert.DoesNotContain(marker, SpanText(span), StringComparison.Ordinal);
        }
        Assert.Contains(_logs.Lines, line => line.Contains("route r", StringComparison.Ordinal));
        foreach (var line in _logs.Lines)
        {
            Assert.DoesNotContain(marker, line, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(null, "my-gw")]
    [InlineData("named-by-variable", "named-by-variable")]
    public async Task The_service_name_and_instance_id_of_OTEL_RESOURCE_ATTRIBUTES_are_kept(string? serviceNameVariable, string expected)
    {
        // The gateway's own service name and a random instance id replaced them: the standard
        // variable names a service that way when OTEL_SERVICE_NAME is not set.
        var settings = new Dictionary<string, string?>
        {
            ["OTEL_RESOURCE_ATTRIBUTES"] = "service.name=my-gw,service.instance.id=inst-1,deployment.environment=prod%2Ceu",
        };
        if (serviceNameVariable is not null)
        {
            settings["OTEL_SERVICE_NAME"] = serviceNameVariable;
        }
        await using var gateway = await StartAsync(settings);

        var resource = gateway.Services.GetRequiredService<TracerProvider>().GetResource().Attributes.ToDictionary(a => a.Key, a => a.Value);
        Assert.Equal(expected, resource["service.name"]);
        Assert.Equal("inst-1", resource["service.instance.id"]);
        Assert.Equal("prod,eu", resource["deployment.environment"]);
    }

    [Fact]
    public async Task Otlp_http_export_reaches_a_collector()
    {
        _backend.Given(Request.Create().WithPath("/v1/traces").UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        _backend.Given(Request.Create().WithPath("/v1/metrics").UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        await using var gateway = await GatewayServer.StartAsync(new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _backend.Urls[0],
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
            ["OTEL_SERVICE_NAME"] = "openexec-under-test",
        });

        await gateway.ExecuteAsync("echo", new { msg = "x" }, "otlp-1");

        for (var i = 0; i < 100 && !_backend.LogEntries.Any(e => e.RequestMessage.Path == "/v1/traces"); i++)
        {
            await Task.Delay(100);
        }
        // The batch processor may send several exports; together they carry the request's spans.
        for (var i = 0; i < 50 && !Exported().Contains("openexec.validate", StringComparison.Ordinal); i++)
        {
            await Task.Delay(100);
        }
        var exports = _backend.LogEntries.Where(e => e.RequestMessage.Path == "/v1/traces").Select(e => e.RequestMessage).ToList();
        Assert.NotEmpty(exports);
        Assert.All(exports, export => Assert.Equal("application/x-protobuf", export.Headers!["Content-Type"].Single()));
        Assert.Contains("openexec.validate", Exported(), StringComparison.Ordinal);
        Assert.Contains("openexec-under-test", Exported(), StringComparison.Ordinal);

        string Exported() => string.Concat(_backend.LogEntries
            .Where(e => e.RequestMessage.Path == "/v1/traces")
            .Select(e => Encoding.UTF8.GetString(e.RequestMessage.BodyAsBytes ?? [])));
    }

    [Fact]
    public async Task A_signal_endpoint_alone_turns_export_on_and_is_used_as_given()
    {
        // The standard per-signal setting, with no general endpoint: the URL is used as it is
        // (no /v1/traces appended), as the OTLP exporter documents for http/protobuf.
        _backend.Given(Request.Create().WithPath("/collector/spans").UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        await using var gateway = await GatewayServer.StartAsync(new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = _backend.Urls[0] + "/collector/spans",
            ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
        });

        await gateway.ExecuteAsync("echo", new { msg = "x" }, "otlp-traces-1");

        for (var i = 0; i < 100 && !Exported().Contains("openexec.validate", StringComparison.Ordinal); i++)
        {
            await Task.Delay(100);
        }
        Assert.Contains("openexec.validate", Exported(), StringComparison.Ordinal);

        string Exported() => string.Concat(_backend.LogEntries
            .Where(e => e.RequestMessage.Path == "/collector/spans")
            .Select(e => Encoding.UTF8.GetString(e.RequestMessage.BodyAsBytes ?? [])));
    }

    /// <summary>A collection the exporter may add to from several threads.</summary>
    private sealed class LockedList<T> : ICollection<T>
    {
        private readonly List<T> _items = [];

        public int Count
        {
            get
            {
                lock (_items)
                {
                    return _items.Count;
                }
            }
        }

        public bool IsReadOnly => false;

        public void Add(T item)
        {
            lock (_items)
            {
                _items.Add(item);
            }
        }

        public void Clear()
        {
            lock (_items)
            {
                _items.Clear();
            }
        }

        public bool Contains(T item)
        {
            lock (_items)
            {
                return _items.Contains(item);
            }
        }

        public void CopyTo(T[] array, int arrayIndex)
        {
            lock (_items)
            {
                _items.CopyTo(array, arrayIndex);
            }
        }

        public bool Remove(T item)
        {
            lock (_items)
            {
                return _items.Remove(item);
            }
        }

        public IEnumerator<T> GetEnumerator()
        {
            lock (_items)
            {
                return _items.ToList().GetEnumerator();
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
