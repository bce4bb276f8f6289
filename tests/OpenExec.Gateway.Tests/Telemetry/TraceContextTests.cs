using System.Net;
using System.Text;
using OpenExec.Gateway.Tests.Infrastructure;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace OpenExec.Gateway.Tests.Telemetry;

/// <summary>
/// With no OpenTelemetry SDK configured, W3C trace context still reaches backends and receipts
/// (SPEC section 7): each backend call carries one <c>traceparent</c> of the receipt's trace.
/// With or without the SDK, the gateway carries trace context only, never an agent's baggage.
/// </summary>
[Collection(ActivityListenerCollection.Name)]
public sealed class TraceContextTests : IDisposable
{
    private const string AgentTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string AgentSpan = "00f067aa0ba902b7";
    private readonly WireMockServer _backend = WireMockServer.Start();

    public TraceContextTests()
        => _backend.Given(Request.Create().UsingPost()).RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("{\"ok\":true}"));

    public void Dispose() => _backend.Stop();

    /// <summary>Baggage of 20 KB: the runtime's propagator cut it to about 7 KB, re-encoded, and sent it on.</summary>
    private static readonly string LargeBaggage = string.Join(",", Enumerable.Range(0, 190).Select(i => $"k{i}=" + new string('v', 100)));

    private Task<GatewayServer> StartAsync(bool sdk = false)
    {
        var settings = ProxyConfig.Route("r", "traced", "v1", _backend.Urls[0] + "/", executePath: "/run");
        if (sdk)
        {
            settings["OpenExec:Telemetry:Enabled"] = "true";
        }
        return GatewayServer.StartAsync(settings);
    }

    /// <summary>
    /// Sends exactly the headers of <paramref name="request"/>: this process's HttpClient writes
    /// trace context of its own, over the agent's, once an SDK listens.
    /// </summary>
    private static async Task<HttpResponseMessage> SendAsAgentAsync(GatewayServer gateway, HttpRequestMessage request)
    {
        using var agent = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = null }) { BaseAddress = gateway.BaseAddress };
        using (OpenTelemetry.SuppressInstrumentationScope.Begin())
        {
            return await agent.SendAsync(request);
        }
    }

    private string[] TraceparentsSent() => [.. _backend.LogEntries.Single().RequestMessage.Headers!["traceparent"]];

    /// <summary>The values of header <paramref name="name"/> the backend got, whatever its case.</summary>
    private string[] HeaderSent(string name)
        => [.. _backend.LogEntries.Single().RequestMessage.Headers!.Where(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).SelectMany(h => h.Value)];

    private static (string Version, string Trace, string Parent, string Flags) Parse(string traceparent)
    {
        var parts = traceparent.Split('-');
        Assert.Equal(4, parts.Length);
        Assert.Matches("^[0-9a-f]{32}$", parts[1]);
        Assert.Matches("^[0-9a-f]{16}$", parts[2]);
        return (parts[0], parts[1], parts[2], parts[3]);
    }

    private static async Task<string> ReceiptTraceAsync(GatewayServer gateway, HttpResponseMessage response)
    {
        var execId = response.Headers.GetValues("OpenExec-Exec-Id").Single();
        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{execId}"));
        return receipt.GetProperty("body").Str("trace_id");
    }

    private static HttpRequestMessage Proxied(string nonce, string? traceparent)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/send") { Content = new StringContent("{\"to\":\"a\"}", Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", nonce);
        if (traceparent is not null)
        {
            request.Headers.TryAddWithoutValidation("traceparent", traceparent);
        }
        return request;
    }

    [Fact]
    public async Task A_proxied_call_without_trace_context_starts_one_and_the_backend_and_receipt_share_it()
    {
        await using var gateway = await StartAsync();

        var response = await gateway.Client.SendAsync(Proxied("tc-1", traceparent: null));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Parse(Assert.Single(TraceparentsSent()));
        Assert.Equal("00", sent.Version);
        Assert.Equal(await ReceiptTraceAsync(gateway, response), sent.Trace);
    }

    [Fact]
    public async Task A_proxied_call_continues_the_agents_trace_with_the_gateways_span_as_parent()
    {
        await using var gateway = await StartAsync();

        var response = await gateway.Client.SendAsync(Proxied("tc-2", $"00-{AgentTrace}-{AgentSpan}-01"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // One header, not the agent's copied beside the gateway's.
        var sent = Parse(Assert.Single(TraceparentsSent()));
        Assert.Equal(AgentTrace, sent.Trace);
        Assert.NotEqual(AgentSpan, sent.Parent);
        Assert.Equal(AgentTrace, await ReceiptTraceAsync(gateway, response));
    }

    [Fact]
    public async Task A_routed_execute_call_carries_the_receipts_trace_to_the_backend()
    {
        await using var gateway = await StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/execute")
        {
            Content = new StringContent("""{"action":"traced","payload":{"to":"a"},"nonce":"tc-3"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("traceparent", $"00-{AgentTrace}-{AgentSpan}-01");

        var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var executed = await Json.ReadAsync(response);
        Assert.Equal(AgentTrace, executed.GetProperty("receipt_document").GetProperty("body").Str("trace_id"));
        Assert.Equal(AgentTrace, Parse(Assert.Single(TraceparentsSent())).Trace);
    }

    private static HttpRequestMessage Execute(string nonce, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/execute")
        {
            Content = new StringContent($$"""{"action":"traced","payload":{"to":"a"},"nonce":"{{nonce}}"}""", Encoding.UTF8, "application/json"),
        };
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        return request;
    }

    [Theory]
    [InlineData("/execute", false)]
    [InlineData("proxied", false)]
    [InlineData("/execute", true)]
    [InlineData("proxied", true)]
    public async Task A_later_trace_context_version_with_more_fields_is_continued_by_its_first_four(string door, bool sdk)
    {
        // W3C Trace Context: a version above 00 is read by the four fields 00 has. The runtime
        // handed it on whole, no ActivityContext parsed it, and the request had no Activity: a
        // receipt without trace_id and no traceparent to the backend (with the SDK, a new trace).
        const string later = $"01-{AgentTrace}-{AgentSpan}-01-more-fields";
        await using var gateway = await StartAsync(sdk);
        var request = door == "proxied" ? Proxied("tc-later", later) : Execute("tc-later", ("traceparent", later));

        var response = await SendAsAgentAsync(gateway, request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Parse(Assert.Single(TraceparentsSent()));
        Assert.Equal("00", sent.Version);
        Assert.Equal(AgentTrace, sent.Trace);
        Assert.Equal(AgentTrace, await ReceiptTraceAsync(gateway, response));
    }

    [Theory]
    [InlineData($"00-{AgentTrace}-{AgentSpan}-01-more")] // version 00 has exactly four fields
    [InlineData($"01-{AgentTrace}-{AgentSpan}-01more")] // a later version's fifth field follows a '-'
    [InlineData($"ff-{AgentTrace}-{AgentSpan}-01")] // ff is no version
    [InlineData($"01-{AgentTrace}-{AgentSpan}")]
    [InlineData("garbage")]
    public async Task A_traceparent_that_cannot_be_read_starts_a_trace_of_its_own(string traceparent)
    {
        await using var gateway = await StartAsync();

        var response = await gateway.Client.SendAsync(Execute("tc-bad", ("traceparent", traceparent)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Parse(Assert.Single(TraceparentsSent()));
        Assert.NotEqual(AgentTrace, sent.Trace);
        Assert.Equal(sent.Trace, await ReceiptTraceAsync(gateway, response));
    }

    [Theory]
    [InlineData("baggage", false)]
    [InlineData("Correlation-Context", false)]
    [InlineData("baggage", true)]
    [InlineData("Correlation-Context", true)]
    public async Task A_routed_execute_call_carries_trace_context_and_none_of_the_agents_baggage(string header, bool sdk)
    {
        // The approval covers action and payload: the call is a POST of the canonical payload with
        // the gateway's own headers. The agent's baggage (a legacy Correlation-Context read as
        // baggage) went along, re-encoded and cut to about 7 KB.
        await using var gateway = await StartAsync(sdk);

        var response = await SendAsAgentAsync(gateway, Execute(
            "tc-baggage",
            ("traceparent", $"00-{AgentTrace}-{AgentSpan}-01"),
            ("tracestate", "vendor=opaque"),
            (header, LargeBaggage)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(AgentTrace, Parse(Assert.Single(TraceparentsSent())).Trace);
        Assert.Equal("vendor=opaque", Assert.Single(HeaderSent("tracestate")));
        Assert.Empty(HeaderSent("baggage"));
        Assert.Empty(HeaderSent("Correlation-Context"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_proxied_call_forwards_the_agents_baggage_as_sent_and_adds_none(bool sdk)
    {
        // Agent headers pass through a proxied call. The runtime's propagator wrote its own baggage
        // in place of the agent's: re-encoded (";prop" as "%3Bprop"), cut to about 7 KB, and a
        // Correlation-Context dropped once turned into baggage.
        await using var gateway = await StartAsync(sdk);
        var request = Proxied("tc-proxied-baggage", $"00-{AgentTrace}-{AgentSpan}-01");
        request.Headers.TryAddWithoutValidation("baggage", "a=1,b=2;prop," + LargeBaggage);
        request.Headers.TryAddWithoutValidation("Correlation-Context", "c=3");

        var response = await SendAsAgentAsync(gateway, request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(AgentTrace, Parse(Assert.Single(TraceparentsSent())).Trace);
        Assert.Equal("a=1,b=2;prop," + LargeBaggage, Assert.Single(HeaderSent("baggage")));
        Assert.Equal("c=3", Assert.Single(HeaderSent("Correlation-Context")));
    }

    [Theory]
    [InlineData("01")]
    [InlineData("00")]
    public async Task Without_an_sdk_the_backend_gets_the_agents_sampling_decision(string flags)
    {
        // The gateway records nothing without an SDK, so it makes no sampling decision of its own:
        // a backend that samples by its parent records exactly when the agent's trace is recorded.
        await using var gateway = await StartAsync();

        var response = await gateway.Client.SendAsync(Proxied("tc-flags-" + flags, $"00-{AgentTrace}-{AgentSpan}-{flags}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Parse(Assert.Single(TraceparentsSent()));
        Assert.Equal(AgentTrace, sent.Trace);
        Assert.Equal(flags, sent.Flags);
    }

    [Fact]
    public async Task Without_an_sdk_the_trace_sent_on_is_the_agents_whatever_else_in_the_process_records()
    {
        // Without an SDK the gateway creates no Activity per request (~0.6 KB each) and reads the
        // agent's trace context itself. Another listener in the process (a host's own tracing)
        // that records ASP.NET Core's spans made the request's Activity recorded, and its flags
        // (01) went to the backend in place of the agent's decision.
        using var other = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == "Microsoft.AspNetCore",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(other);
        await using var gateway = await StartAsync();

        var response = await gateway.Client.SendAsync(Proxied("tc-other-listener", $"00-{AgentTrace}-{AgentSpan}-00"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Parse(Assert.Single(TraceparentsSent()));
        Assert.Equal((AgentTrace, "00"), (sent.Trace, sent.Flags));
        Assert.NotEqual(AgentSpan, sent.Parent);
        Assert.Equal(AgentTrace, await ReceiptTraceAsync(gateway, response));
    }

    [Theory]
    [InlineData("vendor=opaque")]
    [InlineData(null)]
    public async Task A_pass_through_read_carries_the_agents_trace_and_tracestate_only(string? tracestate)
    {
        var settings = ProxyConfig.Route("r", "traced", "v1", _backend.Urls[0] + "/", passThrough: true);
        _backend.Given(Request.Create().UsingGet()).RespondWith(Response.Create().WithStatusCode(200).WithBody("read"));
        await using var gateway = await GatewayServer.StartAsync(settings);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/item");
        request.Headers.TryAddWithoutValidation("traceparent", $"00-{AgentTrace}-{AgentSpan}-01");
        if (tracestate is not null)
        {
            request.Headers.TryAddWithoutValidation("tracestate", tracestate);
        }

        var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Parse(Assert.Single(TraceparentsSent()));
        Assert.Equal((AgentTrace, "01"), (sent.Trace, sent.Flags));
        Assert.NotEqual(AgentSpan, sent.Parent);
        Assert.Equal(tracestate is null ? [] : [tracestate], HeaderSent("tracestate"));
    }
}
