using Yarp.ReverseProxy.Forwarder;

namespace OpenExec.Gateway.Telemetry;

/// <summary>
/// The backends' HTTP clients (proxied calls and routed <c>/execute</c> calls) when no
/// OpenTelemetry SDK is loaded: without HttpClient's diagnostics handler, which with nothing
/// recording created, tagged and stopped a client Activity per call only to write trace headers
/// (about 1 KB allocated per proxied request), and without any propagator, which would replace
/// the trace context the front doors write into each call (<see cref="RequestTrace"/>). With the
/// SDK loaded YARP's default client stays (<see cref="Proxy.BackendHttpClientFactory"/>), and with
/// it the HTTP client span under <c>openexec.action.invoke</c>.
/// </summary>
internal sealed class TraceContextHttpClientFactory(ILogger<ForwarderHttpClientFactory> logger) : Proxy.BackendHttpClientFactory(logger)
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        // No propagator: SocketsHttpHandler then builds its chain without the diagnostics handler.
        handler.ActivityHeadersPropagator = null;
    }
}
