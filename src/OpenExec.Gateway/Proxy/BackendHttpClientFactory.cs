using System.Globalization;
using Yarp.ReverseProxy.Forwarder;

namespace OpenExec.Gateway.Proxy;

/// <summary>
/// The backends' HTTP clients (proxied calls and routed <c>/execute</c> calls): YARP's, with a
/// connect timeout shorter than the cluster's call timeout. A connection that is never made
/// proves nothing was sent (502, the claim released); a call timeout can only say the action may
/// have run (504 <c>outcome_unknown</c>). A backend host that drops connection attempts must
/// give the first answer, not burn every nonce and approval sent to it.
/// </summary>
internal class BackendHttpClientFactory(ILogger<ForwarderHttpClientFactory> logger) : ForwarderHttpClientFactory(logger)
{
    /// <summary>The cluster metadata <see cref="ProxyConfigGuard"/> puts the connect timeout in.</summary>
    public const string ConnectTimeoutKey = "OpenExec.ConnectTimeout";

    /// <summary>The cluster metadata <see cref="ProxyConfigGuard"/> marks a cluster no action calls with ("true").</summary>
    public const string ReadsOnlyKey = "OpenExec.ReadsOnly";

    /// <summary>YARP's own connect timeout: the longest one.</summary>
    private static readonly TimeSpan LongestConnect = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Half the call's timeout, at most 15 s: the connect gives up well before the call would.
    /// A call without a timeout (YARP's <see cref="Timeout.InfiniteTimeSpan"/>) connects within
    /// the longest; a half too short to express is one tick (SocketsHttpHandler refuses zero).
    /// </summary>
    public static TimeSpan ConnectTimeoutFor(TimeSpan callTimeout)
    {
        if (callTimeout <= TimeSpan.Zero)
        {
            return LongestConnect;
        }
        var half = callTimeout / 2;
        return half >= LongestConnect ? LongestConnect : half > TimeSpan.Zero ? half : TimeSpan.FromTicks(1);
    }

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        // Trace context only, never the agent's baggage (YARP's own propagator writes that too).
        handler.ActivityHeadersPropagator = Telemetry.GatewayPropagator.ForBackends;
        // An HTTP/2 stream the backend refuses, or leaves out of a GOAWAY, is never re-sent, on
        // every cluster an action calls (a cluster of pass-through reads alone may re-send them).
        if (context.NewMetadata?.GetValueOrDefault(ReadsOnlyKey) != "true")
        {
            handler.PlaintextStreamFilter = NoResendHttp2Stream.Filter;
        }
        if (ConnectTimeoutOf(context.NewMetadata) is { } connect)
        {
            handler.ConnectTimeout = connect;
        }
    }

    /// <summary>A client is kept across a configuration reload only when its connect timeout (and whether it may re-send) is unchanged too.</summary>
    protected override bool CanReuseOldClient(ForwarderHttpClientContext context)
        => base.CanReuseOldClient(context) && ConnectTimeoutOf(context.OldMetadata) == ConnectTimeoutOf(context.NewMetadata)
            && context.OldMetadata?.GetValueOrDefault(ReadsOnlyKey) == context.NewMetadata?.GetValueOrDefault(ReadsOnlyKey);

    private static TimeSpan? ConnectTimeoutOf(IReadOnlyDictionary<string, string>? metadata)
        => metadata?.GetValueOrDefault(ConnectTimeoutKey) is { } value && TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out var timeout) ? timeout : null;
}
