namespace OpenExec.Gateway.Pipeline;

/// <summary>
/// How a call to a backend ended when it ended without an answer, for both front doors
/// (<c>/execute</c> of a routed action and the proxy): only a connection never made proves
/// that nothing was sent; anything else may have run.
/// </summary>
internal static class BackendDelivery
{
    public const string NotSentDetail = "The backend could not be reached; nothing was sent, the nonce and approval may be retried";

    public const string UnknownDetail = "The backend did not answer in time or the connection was lost after sending; the action may have run";

    /// <summary>Nothing was sent: the claim is released so the same nonce and approval may retry.</summary>
    public static ExecutionOutcome NotSent() => new(Decisions.UpstreamFailed, "upstream_failed", null, null, null, ReleaseClaim: true);

    /// <summary>Sent, outcome unknown: the claim is kept.</summary>
    public static ExecutionOutcome Unknown(int? upstreamStatus = null) => new(Decisions.OutcomeUnknown, "outcome_unknown", null, null, upstreamStatus);

    /// <summary>
    /// Whether an answer of <paramref name="received"/> bytes is the whole one its head announced
    /// (both front doors ask): a body of another length than its <c>Content-Length</c> makes the
    /// answer malformed, so incomplete (RFC 9113 section 8.1.1; over HTTP/2 HttpClient does not
    /// check it). A 204, 205 or 304, and the answer to a HEAD, declare a length they never send.
    /// </summary>
    public static bool WholeAnswer(long? declared, int status, bool toHead, long received)
        => declared is not { } length || status is 204 or 205 or 304 || toHead || received == length;

    /// <summary>
    /// The <c>Content-Length</c> an answer's head declared, as the backend sent it: false when it
    /// declares two different ones (malformed, RFC 9112 section 6.3; HttpClient frames by the
    /// first). Fields that repeat one value declare that value (RFC 9110 section 8.6), as does a
    /// single field; null when there is none. <paramref name="fields"/>: how many fields it sent.
    /// </summary>
    public static bool DeclaredLength(HttpResponseMessage answer, out string? declared, out int fields)
    {
        declared = null;
        fields = 0;
        if (!answer.Content.Headers.NonValidated.TryGetValues("Content-Length", out var values))
        {
            return true;
        }
        foreach (var value in values)
        {
            if (declared is not null && value != declared)
            {
                return false;
            }
            declared = value;
            fields++;
        }
        return true;
    }

    /// <summary>True only when the failure proves no byte of the request left the gateway.</summary>
    public static bool NothingSent(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            // The request is written only on an established connection, after the TLS handshake:
            // a connection or handshake that failed carried none of it. SocketsHttpHandler says so
            // by the HttpRequestError of its exception. A SocketException alone proves nothing: a
            // read on an established connection fails with HostUnreachable or NetworkUnreachable
            // too (an ICMP error after the request went out, the backend host gone mid-call).
            // Two more failures come before the request is written: a forward proxy that would not
            // open the tunnel to the backend (ProxyTunnelError), and a connection on which the
            // HTTP version the cluster demands could not be agreed (VersionNegotiationError, as
            // TLS's ALPN ends); both read as "may have run" and spent the nonce.
            if (e is HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError or HttpRequestError.SecureConnectionError or HttpRequestError.ProxyTunnelError or HttpRequestError.VersionNegotiationError }
                // SocketsHttpHandler's ConnectTimeout (BackendHttpClientFactory): a cancellation
                // whose cause is a timeout. The backends' clients are HttpMessageInvokers with no
                // timeout of their own (that is HttpClient's), and the call timeouts cancel
                // without one, so this is the connection that was never made.
                || e is OperationCanceledException { InnerException: TimeoutException })
            {
                return true;
            }
        }
        return false;
    }
}
