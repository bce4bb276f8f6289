using System.Diagnostics;
using Yarp.ReverseProxy.Forwarder;

namespace OpenExec.Gateway.Telemetry;

/// <summary>
/// The backends' HTTP clients (proxied calls and routed <c>/execute</c> calls) when no
/// OpenTelemetry SDK is loaded. Trace context still reaches every backend: the request's own
/// Activity is written as W3C <c>traceparent</c>/<c>tracestate</c> by one small handler, replacing
/// any the agent sent (as YARP does), and nothing else (<see cref="GatewayPropagator"/>). HttpClient's diagnostics handler is left out: with nothing
/// recording, it created, tagged and stopped a client Activity per call only to write the same
/// header (about 1 KB allocated per proxied request). With the SDK loaded YARP's default client
/// stays (<see cref="Proxy.BackendHttpClientFactory"/>), and with it the HTTP client span under
/// <c>openexec.action.invoke</c>.
/// </summary>
internal sealed class TraceContextHttpClientFactory(ILogger<ForwarderHttpClientFactory> logger) : Proxy.BackendHttpClientFactory(logger)
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        // No propagator: SocketsHttpHandler then builds its chain without the diagnostics handler.
        handler.ActivityHeadersPropagator = null;
    }

    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler)
        => new TraceContextHandler(base.WrapHandler(context, handler));

    private sealed class TraceContextHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        private const string TraceParent = "traceparent";

        // Removes the trace headers copied from the agent's request, then writes the current ones.
        private static readonly DistributedContextPropagator Propagator = GatewayPropagator.ForBackends;

        private static readonly DistributedContextPropagator.PropagatorSetterCallback Write =
            static (carrier, name, value) => ((HttpRequestMessage)carrier!).Headers.TryAddWithoutValidation(name, value);

        // Nothing here records, so the gateway makes no sampling decision of its own: the agent's
        // stays (W3C Trace Context), and a backend that samples by its parent records exactly the
        // traces the agent records. The request's span is unrecorded (flags 00); its traceparent
        // goes out with the sampled flag the agent sent.
        private static readonly DistributedContextPropagator.PropagatorSetterCallback WriteSampled =
            static (carrier, name, value) => Write(carrier, name, name == TraceParent && value is { Length: 55 } ? string.Concat(value.AsSpan(0, 53), "01") : value);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var activity = Activity.Current;
            Propagator.Inject(activity, request, activity is { Recorded: false } && ParentSampled(activity) ? WriteSampled : Write);
            return base.SendAsync(request, cancellationToken);
        }

        /// <summary>Whether the request's span continues a remote parent whose sampled flag is set.</summary>
        private static bool ParentSampled(Activity activity)
            => activity.ParentSpanId != default
                && activity.ParentId is { Length: 55 } parent
                && byte.TryParse(parent.AsSpan(53), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out var flags)
                && (flags & (byte)ActivityTraceFlags.Recorded) != 0;
    }
}
