using System.Diagnostics;
using System.Net.Http.Headers;
using OpenExec.Core.Receipts;

namespace OpenExec.Gateway.Telemetry;

/// <summary>
/// Where each request's W3C trace context comes from. With an OpenTelemetry SDK loaded it is the
/// request's Activity (the SDK's instrumentation writes it into every backend call). Without one,
/// nothing records a span, and the front doors read the agent's <c>traceparent</c> and
/// <c>tracestate</c> themselves, as ASP.NET Core would (through <see cref="GatewayPropagator"/>),
/// and write them into their backend calls: no Activity is created per request only to carry it
/// (with the strings and execution-context copies that came with it, ~0.6 KB per request).
/// </summary>
internal sealed class TraceContextSource(bool sdkLoaded)
{
    private static readonly DistributedContextPropagator.PropagatorGetterCallback ReadHeader =
        static (object? carrier, string name, out string? value, out IEnumerable<string>? values) =>
        {
            values = null;
            // Several lines of one header read as one value joined with ',', as ASP.NET Core reads them.
            value = ((IHeaderDictionary)carrier!)[name];
        };

    /// <summary>True when an SDK records spans and writes trace context into backend calls.</summary>
    public bool SdkLoaded { get; } = sdkLoaded;

    /// <summary>The trace <paramref name="context"/>'s request belongs to.</summary>
    public RequestTrace For(HttpContext context)
    {
        if (SdkLoaded)
        {
            return new RequestTrace(Activity.Current is { } activity ? W3CTraceId.From(activity.TraceId) : null, sampled: false, traceState: null, writeToBackends: false);
        }
        GatewayPropagator.Instance.ExtractTraceIdAndState(context.Request.Headers, ReadHeader, out var traceparent, out var traceState);
        if (traceparent is null || !ActivityContext.TryParse(traceparent, traceState, isRemote: true, out var parent))
        {
            // One that cannot be read starts a trace of its own (its tracestate goes with it).
            return RequestTrace.NewTrace();
        }
        return new RequestTrace(W3CTraceId.From(parent.TraceId), (parent.TraceFlags & ActivityTraceFlags.Recorded) != 0, parent.TraceState, writeToBackends: true);
    }
}

/// <summary>
/// One request's trace: its trace id (the receipt's <c>trace_id</c>) and, without an SDK, the
/// trace context its backend call carries: <c>traceparent</c> with a span id of the gateway's own
/// (nothing records it) and the agent's sampled flag (the gateway makes no sampling decision, so a
/// backend that samples by its parent records exactly the traces the agent records), and the
/// agent's <c>tracestate</c>. Replaces any the agent sent; never baggage.
/// </summary>
internal readonly struct RequestTrace
{
    private const string TraceParent = "traceparent";
    private const string TraceState = "tracestate";

    private readonly bool _sampled;
    private readonly string? _traceState;
    private readonly bool _writeToBackends;

    public RequestTrace(W3CTraceId? traceId, bool sampled, string? traceState, bool writeToBackends)
    {
        TraceId = traceId;
        _sampled = sampled;
        _traceState = traceState;
        _writeToBackends = writeToBackends;
    }

    /// <summary>The request's trace id (a value: its hex is written where it goes), or null (an SDK that gave the request no Activity).</summary>
    public W3CTraceId? TraceId { get; }

    /// <summary>A trace of its own, for a request without readable trace context.</summary>
    public static RequestTrace NewTrace() => new(W3CTraceId.NewRandom(), sampled: false, traceState: null, writeToBackends: true);

    /// <summary>The <c>traceparent</c> of a backend call: version 00, this trace, a new span id, the agent's sampled flag.</summary>
    public string Traceparent()
    {
        // A span id is 8 random bytes, not all zero (W3C Trace Context).
        ulong spanId;
        do
        {
            spanId = (ulong)Random.Shared.NextInt64() ^ ((ulong)Random.Shared.Next(2) << 63);
        }
        while (spanId == 0);
        return string.Create(55, (TraceId: TraceId!.Value, Sampled: _sampled, SpanId: spanId), static (chars, s) =>
        {
            "00-".CopyTo(chars);
            s.TraceId.WriteHex(chars.Slice(3, W3CTraceId.HexLength));
            chars[35] = '-';
            Span<byte> id = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(id, s.SpanId);
            Convert.TryToHexStringLower(id, chars.Slice(36, 16), out _);
            chars[52] = '-';
            (s.Sampled ? "01" : "00").CopyTo(chars[53..]);
        });
    }

    /// <summary>A proxied call's trace context, in the agent's request headers the forwarder copies (in place of the agent's own).</summary>
    public void WriteTo(IHeaderDictionary headers)
    {
        if (!ForBackend(out var traceparent, out var traceState))
        {
            return;
        }
        headers[TraceParent] = traceparent;
        if (traceState is null)
        {
            headers.Remove(TraceState);
        }
        else
        {
            headers[TraceState] = traceState;
        }
    }

    /// <summary>A routed call's trace context.</summary>
    public void WriteTo(HttpRequestHeaders headers)
    {
        if (!ForBackend(out var traceparent, out var traceState))
        {
            return;
        }
        headers.TryAddWithoutValidation(TraceParent, traceparent);
        if (traceState is not null)
        {
            headers.TryAddWithoutValidation(TraceState, traceState);
        }
    }

    /// <summary>What a backend call carries (its <c>traceparent</c>, and <c>tracestate</c> or none), or false when an SDK writes it.</summary>
    private bool ForBackend(out string traceparent, out string? traceState)
    {
        traceparent = "";
        traceState = null;
        if (!_writeToBackends || TraceId is null)
        {
            return false;
        }
        traceparent = Traceparent();
        traceState = _traceState is { Length: > 0 } state ? state : null;
        return true;
    }
}
