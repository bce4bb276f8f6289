using System.Diagnostics;

namespace OpenExec.Gateway.Telemetry;

/// <summary>
/// The gateway's W3C trace context: what ASP.NET Core reads from an agent's request (registered
/// in place of its propagator), what the front doors read without an SDK
/// (<see cref="TraceContextSource"/>) and what the backends' clients write with one. Trace context only
/// (<c>traceparent</c>, <c>tracestate</c>), never baggage: the agent's <c>baggage</c> (or legacy
/// <c>Correlation-Context</c>, which the runtime read as baggage) is not taken into the request's
/// Activity and no backend call is given any. The runtime's propagator wrote the agent's baggage,
/// re-encoded and cut to 8 KB, into every backend call: a routed <c>/execute</c> call, which the
/// approval covers as action and payload only, carried whatever an agent put there, and a proxied
/// call got it in place of the agent's own header (its properties mangled, a
/// <c>Correlation-Context</c> turned into <c>baggage</c>). A proxied call now forwards the agent's
/// headers as sent, these two among them, as YARP does any other.
/// <para>
/// A <c>traceparent</c> of a later version with fields after the flags
/// (<c>01-{trace}-{parent}-01-more</c>) the runtime hands on whole, which no ActivityContext
/// parses: ASP.NET Core then asked for the request's Activity by that string, which a listener
/// without <c>SampleUsingParentId</c> declines, and the request had no
/// Activity at all (a receipt without <c>trace_id</c>, no <c>traceparent</c> to the backend); one
/// that answers gets a hierarchical Activity with no trace id, no better. Here a later version is
/// read as W3C Trace Context says, by its first four fields (the trace continues), and any other
/// value no ActivityContext parses is dropped (the request starts a trace of its own).
/// </para>
/// </summary>
internal sealed class GatewayPropagator : DistributedContextPropagator
{
    private const string TraceParent = "traceparent";
    private const string TraceState = "tracestate";

    /// <summary>The length of <c>{version}-{trace id}-{parent id}-{flags}</c>, what every version begins with.</summary>
    private const int FourFields = 2 + 1 + 32 + 1 + 16 + 1 + 2;

    public static readonly GatewayPropagator Instance = new(Current);

    /// <summary>
    /// For the backends' clients: removes the trace context copied from the agent's request (a
    /// proxied call), then writes the current one. Nothing else of the agent's request is touched.
    /// </summary>
    public static readonly DistributedContextPropagator ForBackends = new Yarp.ReverseProxy.Forwarder.ReverseProxyPropagator(Instance);

    private readonly DistributedContextPropagator _inner;

    private GatewayPropagator(DistributedContextPropagator inner) => _inner = inner;

    public override IReadOnlyCollection<string> Fields { get; } = [TraceParent, TraceState];

    public override void Inject(Activity? activity, object? carrier, PropagatorSetterCallback? setter)
    {
        if (activity is not { IdFormat: ActivityIdFormat.W3C, Id: { } id } || setter is null)
        {
            return;
        }
        setter(carrier, TraceParent, id);
        // Checked as it was read from the agent (the runtime's propagator drops what is malformed).
        if (activity.TraceStateString is { Length: > 0 } state)
        {
            setter(carrier, TraceState, state);
        }
    }

    public override IEnumerable<KeyValuePair<string, string?>>? ExtractBaggage(object? carrier, PropagatorGetterCallback? getter) => null;

    public override void ExtractTraceIdAndState(object? carrier, PropagatorGetterCallback? getter, out string? traceId, out string? traceState)
    {
        _inner.ExtractTraceIdAndState(carrier, getter, out traceId, out traceState);
        if (traceId is null || ActivityContext.TryParse(traceId, traceState, out _))
        {
            return;
        }
        traceId = LaterVersion(traceId);
        if (traceId is null)
        {
            traceState = null;
        }
    }

    /// <summary>
    /// The first four fields of a <c>traceparent</c> of a version above 00 (and not the invalid ff)
    /// whose fifth field begins after a '-', or null.
    /// </summary>
    private static string? LaterVersion(string traceparent)
        => traceparent.Length > FourFields
            && traceparent[FourFields] == '-'
            && traceparent.AsSpan(0, 2) is not ("00" or "ff")
            && ActivityContext.TryParse(traceparent[..FourFields], traceState: null, out _)
                ? traceparent[..FourFields]
                : null;
}
