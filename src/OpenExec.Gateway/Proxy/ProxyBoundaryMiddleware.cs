using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http.Features;
using OpenExec.Core.Buffers;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Actions;
using OpenExec.Gateway.Configuration;
using OpenExec.Gateway.Http;
using OpenExec.Gateway.Pipeline;
using OpenExec.Gateway.Telemetry;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace OpenExec.Gateway.Proxy;

/// <summary>
/// The second front door: a YARP proxy step (inside <c>MapReverseProxy</c>) that runs before the
/// forwarder. It reads the request (step 1), sends it through the same <see cref="ExecutionPipeline"/>
/// as <c>/execute</c> (steps 3–6), lets YARP forward it exactly once, then writes the receipt of
/// what the backend answered before that answer reaches the agent.
/// </summary>
internal sealed partial class ProxyBoundaryMiddleware(RequestDelegate next, ExecutionPipeline pipeline, ActionCatalog catalog, RouteActions routes, GatewaySettings settings, TraceContextSource traces, ILogger<ProxyBoundaryMiddleware> log)
{
    /// <summary>Failed forwards: a backend that is down fails every call to it for as long as it lasts.</summary>
    private readonly Hosting.LogThrottle _forwardLog = new(TimeSpan.FromSeconds(10));

    /// <summary>
    /// A forward that got no answer, logged by the gateway in place of YARP's own warning (held at
    /// Error): the exception at most every 10 s, one line otherwise. Names the route and YARP's
    /// error kind, never the path (it is part of the payload).
    /// </summary>
    private void LogForwardFailed(HttpContext context)
    {
        if (context.GetForwarderErrorFeature() is not { } error)
        {
            return;
        }
        var route = context.GetRouteModel().Config.RouteId;
        var exception = error.Exception is { } thrown ? Telemetry.BackendAnswerText.ForLog(thrown) : new InvalidOperationException(error.Error.ToString());
        _forwardLog.Log(exception, (log, Route: route, Kind: error.Error.ToString()),
            static (s, e) => LogForwardError(s.log, s.Route, s.Kind, e),
            static (s, reason) => LogForwardErrorAgain(s.log, s.Route, s.Kind, reason));
    }

    [LoggerMessage(1, LogLevel.Warning, "Forward to the backend of route {Route} failed ({Kind})")]
    private static partial void LogForwardError(ILogger logger, string route, string kind, Exception exception);

    [LoggerMessage(2, LogLevel.Warning, "Forward to the backend of route {Route} failed again ({Kind}: {Reason})")]
    private static partial void LogForwardErrorAgain(ILogger logger, string route, string kind, string reason);

    [LoggerMessage(3, LogLevel.Error, "A step of the proxy pipeline of route {Route} failed; the call is recorded from what reached the backend")]
    private static partial void LogStepFailed(ILogger logger, string route, Exception exception);

    // The request's state machine is reused from a pool (the Task the middleware contract needs
    // is a small wrapper); it was ~400 bytes per proxied request.
    public Task InvokeAsync(HttpContext context) => RunAsync(context).AsTask();

    [AsyncMethodBuilder(typeof(PerRequestAsync))]
    private async ValueTask RunAsync(HttpContext context)
    {
        var route = context.GetReverseProxyFeature().Route.Config;
        if (context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } && !IgnoredUpgrade.IgnoreH2cOffer(context))
        {
            // A backend that answered 101 would open a tunnel: bytes after it reach the backend
            // unchecked and without a receipt (a request written into it included), on a
            // pass-through route as on an action route. Kestrel keeps the request upgradable even
            // though the Upgrade header is not forwarded.
            await Problem.WriteAsync(context, 400, "invalid_request", "An Upgrade request (such as a WebSocket) cannot pass the gateway: what flows over an upgraded connection cannot be checked or receipted. Nothing was sent.").ConfigureAwait(false);
            return;
        }
        var passThrough = routes.PassThroughRoutes.Contains(route.RouteId);
        var checkAscii = context.GetReverseProxyFeature().Cluster.Config.HttpClient?.RequestHeaderEncoding is not { Length: > 0 };
        var (unsendable, underscored) = AgentHeaders.Scan(context.Request.Headers, actionRoute: !passThrough, checkAscii);
        if (unsendable is { } header)
        {
            // Kestrel accepts UTF-8 in header values; the forwarder's HTTP client refuses to send
            // them, but only once the call is under way, where a failure reads as "may have run"
            // (the nonce and the approval spent on a call that never left).
            await Problem.WriteAsync(context, 400, "invalid_request", $"The header '{header}' holds a character outside ASCII, which cannot be forwarded: send header values in ASCII (percent- or base64-encode others). Nothing was sent.").ConfigureAwait(false);
            return;
        }
        if (passThrough)
        {
            // Methods are case-sensitive (RFC 9110 section 9.1): "head" is not HEAD, and the
            // forwarder would send it as HEAD while Kestrel still owed the agent a body.
            if (!RouteActions.PassThroughMethods.Contains(context.Request.Method, StringComparer.Ordinal))
            {
                context.Response.Headers.Allow = string.Join(", ", RouteActions.PassThroughMethods);
                await Problem.WriteAsync(context, 405, "method_not_allowed", "A pass-through route forwards only GET, HEAD and OPTIONS").ConfigureAwait(false);
                return;
            }
            if (context.Request.ContentLength is > 0
                || (context.Request.ContentLength is null && context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true))
            {
                // Unchecked, so it carries no body: a backend that reads one whatever the method
                // (a GET-with-body search API, a GraphQL server that takes a mutation from the
                // body) would act on bytes no approval covered.
                await Problem.WriteAsync(context, 400, "invalid_request", "A pass-through route forwards reads without a body: this request has one, which would reach the backend unchecked. Send it through an action route. Nothing was sent.").ConfigureAwait(false);
                return;
            }
            // Unchecked reads of what the route names, and nothing else: "..;" (a dot segment to
            // servlet containers), an encoded '/' or a path re-encoded on the way would reach
            // another path of the backend, an action's among them.
            if (ProxiedRequestReader.PathProblem(context, out _, out _) is { } pathProblem)
            {
                await Problem.WriteAsync(context, 400, "path_not_canonical", pathProblem).ConfigureAwait(false);
                return;
            }
            // Unchecked, so it must not carry what could turn a read into a write (a method
            // override) or hand the backend an approval.
            AgentHeaders.Drop(context.Request.Headers, actionRoute: false, underscored);
            traces.For(context).WriteTo(context.Request.Headers);
            // Unchecked, so no receipt: a backend's own receipt headers must not pass for one.
            context.Response.OnStarting(static state =>
            {
                var headers = ((HttpResponse)state).Headers;
                headers.Remove(ReceiptedResponseBody.ExecIdHeader);
                headers.Remove(ReceiptedResponseBody.ReceiptHeader);
                return Task.CompletedTask;
            }, context.Response);
            await next(context).ConfigureAwait(false);
            LogForwardFailed(context);
            if (!context.Response.HasStarted && (context.GetReverseProxyFeature().ProxiedDestination is null || context.GetForwarderErrorFeature() is not null))
            {
                // YARP answers a forward that got no answer with a bare status; the agent gets a
                // problem with its code, as for every gateway error (no receipt: nothing was checked).
                await WritePassThroughFailureAsync(context).ConfigureAwait(false);
            }
            return;
        }

        var action = catalog.ByRoute(route.RouteId);
        if (action is null)
        {
            // Start-up refuses such routes; should one appear anyway, nothing passes unchecked.
            await Problem.WriteAsync(context, 400, "unknown_action", $"Route '{route.RouteId}' is not an action").ConfigureAwait(false);
            return;
        }
        if (HttpMethods.IsConnect(context.Request.Method))
        {
            // The forwarder cannot create a CONNECT request (it fails after the claim, having sent
            // nothing, which read as outcome_unknown): refused as input, before anything is claimed.
            await Problem.WriteAsync(context, 405, "method_not_allowed", "CONNECT cannot be forwarded").ConfigureAwait(false);
            return;
        }
        if (HttpMethods.IsHead(context.Request.Method) && context.Request.Method != HttpMethods.Head)
        {
            // Sent upper-case (the method the action hash covers), "head" would reach the backend
            // as HEAD, whose answer has no body, while Kestrel, for a method it does not know,
            // owes the agent the body the answer's Content-Length announces: the answer would be
            // cut off. Methods are case-sensitive (RFC 9110 section 9.1); refused as input.
            await Problem.WriteAsync(context, 405, "method_not_allowed", $"Method names are case-sensitive: '{context.Request.Method}' is not HEAD").ConfigureAwait(false);
            return;
        }

        ProxiedRequestReader.ReadResult read;
        using (GatewayTelemetry.Start(GatewayTelemetry.Spans.Validate))
        {
            read = await ProxiedRequestReader.ReadAsync(context, action.Name, settings.Options.IsClawShield, settings.Options.AllowAnyApprovalId, settings.Options.MaxRequestBodyBytes).ConfigureAwait(false);
        }
        if (read.Request is not { } request)
        {
            await Problem.WriteAsync(context, read.Status, read.Code!, read.Detail!).ConfigureAwait(false);
            return;
        }
        using var body = read.Body!;

        var trace = traces.For(context);
        var authorization = await pipeline.AuthorizeAsync(request, trace.TraceId, context.RequestAborted).ConfigureAwait(false);
        if (authorization.Denial is { } denial)
        {
            await Problem.WriteAsync(context, denial).ConfigureAwait(false);
            return;
        }
        var ticket = authorization.Ticket!;

        PrepareForwarding(context, body, request.Nonce, read.ContentType, underscored);
        trace.WriteTo(context.Request.Headers);
        context.Response.Headers[ReceiptedResponseBody.ExecIdHeader] = ticket.ExecId;

        var originalBody = context.Features.Get<IHttpResponseBodyFeature>()!;
        var lifetime = context.Features.Get<IHttpRequestLifetimeFeature>();
        // Disposed when this call ends: returns the held answer's pooled buffer (and the hash context).
        using var receipted = new ReceiptedResponseBody(originalBody, context.Response, ticket, pipeline, settings.Options.MaxBufferedResponse, lifetime?.RequestAborted ?? CancellationToken.None);
        context.Features.Set<IHttpResponseBodyFeature>(receipted);
        // Disposed as soon as the forwarder is done (before the pooled buffer is returned).
        var forwardedBody = ForwardedRequestBody.Over(body, receipted);
        context.Request.Body = forwardedBody;
        // Once forwarded, a held answer runs to its end even if the agent hangs up: its outcome is
        // evidence. (A streaming one ends when the agent goes.) The forwarder's abort or reset is
        // remembered there and carried out once the receipt is written.
        context.Features.Set<IHttpRequestLifetimeFeature>(receipted);
        var reset = context.Features.Get<IHttpResetFeature>();
        if (reset is not null)
        {
            context.Features.Set<IHttpResetFeature>(receipted);
        }
        bool answered;
        ExecutionOutcome outcome;
        // The forwarder's HTTP client span is a child of this one, which ends with the call's outcome.
        using (var invoke = GatewayTelemetry.Start(GatewayTelemetry.Spans.ActionInvoke))
        {
            var stepFailed = false;
            try
            {
                await next(context).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // A step of YARP's pipeline that threw (a load-balancing or health policy of the
                // operator's) left the call unfinished: its claim in progress, no receipt, a bare
                // 500. Recorded as a call without a complete answer: nothing sent when no
                // destination was picked, otherwise outcome_unknown.
                stepFailed = true;
                LogStepFailed(log, context.GetRouteModel().Config.RouteId, Telemetry.BackendAnswerText.ForLog(ex));
            }
            finally
            {
                forwardedBody.Dispose();
                context.Features.Set<IHttpResponseBodyFeature>(originalBody);
                if (lifetime is not null)
                {
                    context.Features.Set(lifetime);
                }
                if (reset is not null)
                {
                    context.Features.Set(reset);
                }
            }

            // The forwarder names the destination it sends to before it sends anything: without one,
            // a step of YARP's pipeline answered by itself (session affinity's Return503Error, no
            // available destination) and no byte reached a backend, whatever status it set.
            var forwarded = context.GetReverseProxyFeature().ProxiedDestination is not null;
            // The backend's whole answer is in hand: no forwarder error, or only the request body's,
            // reported once the answer had been passed on; and every byte its head announced.
            answered = forwarded && !stepFailed
                && (context.GetForwarderErrorFeature() is not { } error || AnsweredBeforeRequestBodyFailed(context, error, receipted))
                && receipted.MatchesDeclaredLength(context.Request.Method);
            receipted.FitBodylessStatus();
            LogForwardFailed(context);
            outcome = answered ? Answered(context, receipted) : NothingSent(context) ? BackendDelivery.NotSent() : BackendDelivery.Unknown(receipted.BackendStatus);
            GatewayTelemetry.Invoked(invoke, outcome);
        }
        ReceiptDocument document;
        try
        {
            document = await pipeline.CompleteAsync(ticket, outcome, CancellationToken.None, receipted.LeaseRenewedAt).ConfigureAwait(false);
        }
        finally
        {
            if (receipted.Streaming && (receipted.AbortRequested || !answered))
            {
                // The backend broke off a streamed answer (or sent other than its head announced):
                // once its receipt is written (or could not be), the agent's connection (HTTP/2:
                // its stream) is cut too, so a truncated answer never ends as a complete one.
                receipted.CutAgent(lifetime, reset);
            }
        }
        if (receipted.Streaming)
        {
            return;
        }
        if (!answered)
        {
            // The backend gave no complete answer: answer for the gateway, naming the receipt.
            receipted.DiscardBuffered();
            ResetResponse(context, ticket.ExecId);
            // Named in the headers as a held answer is, as well as in the problem's body.
            context.Response.Headers[ReceiptedResponseBody.ReceiptHeader] = document.Hash;
            var status = outcome.Decision == Decisions.OutcomeUnknown ? 504 : 502;
            var detail = status == 504
                ? BackendDelivery.UnknownDetail
                : BackendDelivery.NotSentDetail;
            await Problem.WriteAsync(context, status, outcome.Code!, detail, ticket.ExecId, document.Hash).ConfigureAwait(false);
            return;
        }
        await receipted.ReleaseAsync(document.Hash, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>The receipt of a whole answer from the backend: its status decides (SPEC section 5).</summary>
    private static ExecutionOutcome Answered(HttpContext context, ReceiptedResponseBody receipted)
    {
        var status = context.Response.StatusCode;
        return new ExecutionOutcome(status >= 500 ? Decisions.UpstreamFailed : Decisions.Executed, status >= 500 ? "upstream_failed" : null, receipted.Sha256(), "bytes", status);
    }

    /// <summary>
    /// True when the forwarder reported the request body's failure only after it had passed on the
    /// backend's whole answer: a backend may answer before it has read the body (a refused upload,
    /// or a small answer that never looks at the body) and, over HTTP/2, then reset the rest of it
    /// (RFC 9113 section 8.1). That answer is complete and is the agent's, whatever its status,
    /// held or streamed. The failure shows as the destination's or, when the reset lands while the
    /// forwarder reads the next bytes from the gateway's in-memory copy of the body, as the
    /// client's: that copy cannot fail on its own. When it lands before the forwarder's first
    /// flush of the request (the one that sends its head) has returned, the HTTP client cancels
    /// that flush and the copy shows as canceled: on a new connection, ~1 % of such calls.
    /// Whenever the forwarder could not pass on a whole answer, it cleared the response (the
    /// <c>OpenExec-Exec-Id</c> set before forwarding with it) or, once the answer had begun, asked
    /// to abort or reset the agent's connection; except for a canceled body with no answer at all
    /// (the call itself canceled), where it keeps the response: the answer's head must have arrived.
    /// </summary>
    private static bool AnsweredBeforeRequestBodyFailed(HttpContext context, IForwarderErrorFeature error, ReceiptedResponseBody receipted)
        => error.Error is ForwarderError.RequestBodyDestination or ForwarderError.RequestBodyClient or ForwarderError.RequestBodyCanceled
            && receipted.BackendStatus is not null
            && !receipted.AbortRequested
            && context.Response.Headers.ContainsKey(ReceiptedResponseBody.ExecIdHeader);

    /// <summary>
    /// True when the forward provably carried no byte to a backend (SPEC section 5): no
    /// destination was chosen (a step of YARP's pipeline answered by itself), none was available,
    /// the request message could not be built (a transform failed: YARP builds it before sending),
    /// or the connection was never made. A connect timeout reaches YARP as a cancellation:
    /// RequestTimedOut, nothing sent all the same.
    /// </summary>
    private static bool NothingSent(HttpContext context)
        => context.GetReverseProxyFeature().ProxiedDestination is null
            || context.GetForwarderErrorFeature() is { } error
                && (error.Error is ForwarderError.NoAvailableDestinations or ForwarderError.RequestCreation
                    || error.Error is ForwarderError.Request or ForwarderError.RequestTimedOut && BackendDelivery.NothingSent(error.Exception));

    /// <summary>A pass-through read without an answer: 502 when nothing was sent, 504 when it went out and none came back.</summary>
    private static Task WritePassThroughFailureAsync(HttpContext context)
    {
        var notSent = NothingSent(context);
        context.Response.Clear();
        return notSent
            ? Problem.WriteAsync(context, 502, "upstream_failed", "The backend could not be reached; nothing was sent")
            : Problem.WriteAsync(context, 504, "outcome_unknown", "The backend did not answer in time or the connection was lost after sending");
    }

    /// <summary>Exactly the method and bytes that were hashed go out, with a correct length and no smuggling headers.</summary>
    private static void PrepareForwarding(HttpContext context, PooledBufferWriter body, string nonce, string? contentType, bool underscored)
    {
        var request = context.Request;
        // The method the action hash covers, upper-case (SPEC section 5): methods are
        // case-sensitive, and the forwarder sends an unfamiliar one ("purge") as written.
        request.Method = request.Method.ToUpperInvariant();
        AgentHeaders.Drop(request.Headers, actionRoute: true, underscored);
        foreach (var header in AgentHeaders.Nonce)
        {
            request.Headers.Remove(header);
        }
        // The receipt hashes the answer's bytes as the backend sends them: compressed, they are
        // not what the agent's client reads (it decompresses), and the agent could not check its
        // result against the receipt. Asked for the identity coding (no header at all would
        // mean any coding is acceptable, RFC 9110 section 12.5.3).
        request.Headers.AcceptEncoding = "identity";
        request.Headers.TransferEncoding = default;
        // Exactly the Content-Type the hash covers (parameters included), as it was checked.
        request.ContentType = contentType;
        request.Headers["Idempotency-Key"] = RequestRules.IdempotencyKey(nonce);
        // Always a Content-Length, even 0: YARP then sends the request with content, and
        // SocketsHttpHandler never silently re-sends a request whose content it began to send
        // (a bodyless one it may re-send on a reused connection the backend closed).
        request.ContentLength = body.WrittenCount;
    }

    private static void ResetResponse(HttpContext context, string execId)
    {
        var response = context.Response;
        response.Headers.Clear();
        response.Headers[ReceiptedResponseBody.ExecIdHeader] = execId;
        response.ContentLength = null;
    }
}
