using System.Diagnostics;
using Yarp.ReverseProxy.Forwarder;

namespace OpenExec.Gateway.Telemetry;

/// <summary>
/// The backends' HTTP clients (proxied calls and routed <c>/execute</c> calls) when no
/// OpenTelemetry SDK is loaded. Trace context still reaches every backend: the request's own
/// Activity is written as W3C <c>traceparent</c>/<c>tracestate</c> by one small handler, replacing
/// any the agent sent (as YARP does). HttpClient's diagnostics handler is left out: with nothing
/// recording, it created, tagged and stopped a client Activity per call only to write the same
/// header (about 1 KB allocated per proxied request). With the SDK loaded YARP's default client
/// stays, and with it the HTTP client span under <c>openexec.action.invoke</c>.
/// </summary>
internal sealed class TraceContextHttpClientFactory(ILogger<ForwarderHttpClientFactory> logger) : ForwarderHttpClientFactory(logger)
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
        // Removes the trace headers copied from the agent's request, then writes the current ones.
        private static readonly ReverseProxyPropagator Propagator = new(DistributedContextPropagator.Current);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var activity = Activity.Current;
            Propagator.Inject(activity, request, static (carrier, name, value) => ((HttpRequestMessage)carrier!).Headers.TryAddWithoutValidation(name, value));
            if (activity is { Recorded: false } && ParentSampled(activity) && request.Headers.TryGetValues(TraceParent, out var written))
            {
                // Nothing here records, so the gateway makes no sampling decision of its own: the
                // agent's stays (W3C Trace Context), and a backend that samples by its parent
                // records exactly the traces the agent records.
                var traceparent = written.First();
                request.Headers.Remove(TraceParent);
                request.Headers.TryAddWithoutValidation(TraceParent, string.Concat(traceparent.AsSpan(0, traceparent.Length - 2), "01"));
            }
            return base.SendAsync(request, cancellationToken);
        }

        private const string TraceParent = "traceparent";

        /// <summary>Whether the request's span continues a remote parent whose sampled flag is set.</summary>
        private static bool ParentSampled(Activity activity)
            => activity.ParentSpanId != default
                && activity.ParentId is { Length: 55 } parent
                && byte.TryParse(parent.AsSpan(53), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out var flags)
                && (flags & (byte)ActivityTraceFlags.Recorded) != 0;
    }
}
