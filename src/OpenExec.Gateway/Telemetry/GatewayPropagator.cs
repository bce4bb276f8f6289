using System.Diagnostics;

namespace OpenExec.Gateway.Telemetry;

/// <summary>
/// How the gateway reads W3C trace context from an agent's request (ASP.NET Core's propagator,
/// registered in its place). The runtime's hands on a <c>traceparent</c> of a later version with
/// fields after the flags (<c>01-{trace}-{parent}-01-more</c>) as it is, which no ActivityContext
/// parses: ASP.NET Core then asked for the request's Activity by that string, which a listener
/// without <c>SampleUsingParentId</c> (ours, without the SDK) declines, and the request had no
/// Activity at all (a receipt without <c>trace_id</c>, no <c>traceparent</c> to the backend). One
/// that does answer gets a hierarchical Activity with no trace id, which is no better. Here a later
/// version is read as W3C Trace Context says, by its first four fields (the trace continues), and
/// any other value no ActivityContext parses is dropped (the request starts a trace of its own).
/// </summary>
internal sealed class GatewayPropagator : DistributedContextPropagator
{
    /// <summary>The length of <c>{version}-{trace id}-{parent id}-{flags}</c>, what every version begins with.</summary>
    private const int FourFields = 2 + 1 + 32 + 1 + 16 + 1 + 2;

    public static readonly GatewayPropagator Instance = new(Current);

    private readonly DistributedContextPropagator _inner;

    private GatewayPropagator(DistributedContextPropagator inner) => _inner = inner;

    public override IReadOnlyCollection<string> Fields => _inner.Fields;

    public override void Inject(Activity? activity, object? carrier, PropagatorSetterCallback? setter) => _inner.Inject(activity, carrier, setter);

    public override IEnumerable<KeyValuePair<string, string?>>? ExtractBaggage(object? carrier, PropagatorGetterCallback? getter) => _inner.ExtractBaggage(carrier, getter);

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
