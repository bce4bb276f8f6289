using System.Buffers;
using System.Net.Http.Headers;
using OpenExec.Gateway.Pipeline;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace OpenExec.Gateway.Proxy;

/// <summary>
/// Every route's transforms added by the gateway, after the route's own: on action routes the
/// request headers at-most-once depends on (<see cref="KeepTheGatewaysRequestHeaders"/>); and YARP's default X-Forwarded headers (For, Proto, Prefix), but not <c>X-Forwarded-Host</c>: YARP fills it from the
/// agent's own <c>Host</c> (or HTTP/2 <c>:authority</c>), which the approval does not cover, and
/// a backend that picks a tenant or builds links by it could be steered after approval. A route
/// that configures its own X-Forwarded transforms keeps them (the operator's choice).
/// </summary>
internal sealed class ForwardedHeadersTransform : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        if (context.UseDefaultForwarders ?? true)
        {
            context.UseDefaultForwarders = false;
            context.AddXForwardedFor();
            context.AddXForwardedProto();
            context.AddXForwardedPrefix();
            // No X-Forwarded-Host from the agent's Host. The agent's own X-Forwarded-Host and
            // Forwarded headers are dropped before forwarding (ProxyBoundaryMiddleware), so a
            // route transform that sets one still reaches the backend.
        }
        // The answer's head is mended by the gateway's first response transform, before anything
        // copies from it; its headers are copied by the second instead of before the transforms.
        context.ResponseTransforms.Insert(0, new ResponseFuncTransform(MendAnswerHead));
        if (context.CopyResponseHeaders ?? true)
        {
            context.CopyResponseHeaders = false;
            context.ResponseTransforms.Insert(1, new ResponseFuncTransform(CopyAnswerHeaders));
        }
        context.AddResponseTransform(RenewLeaseOnHead);
        context.AddResponseTransform(KeepRedirectsBehindTheGateway);
        // The gateway's own two headers, which a backend's answer never supplies (removed from its
        // head where the answer is sent), are not taken from its trailers either (nor from a route's
        // trailer transforms, which run before these): an HTTP/2 agent got them there.
        context.AddResponseTrailerRemove(ReceiptedResponseBody.ExecIdHeader);
        context.AddResponseTrailerRemove(ReceiptedResponseBody.ReceiptHeader);
        // Added after the route's own transforms, so it runs after them.
        context.AddRequestTransform(KeepTheGatewaysRequestHeaders);
    }

    /// <summary>
    /// On an action route the outgoing request's <c>Content-Length</c> (0 included), the
    /// <c>Content-Type</c> the hash covers and the <c>Idempotency-Key</c> are the gateway's, set
    /// again after the route's transforms. A route with <c>RequestHeadersCopy: false</c> or
    /// <c>RequestHeadersAllowed</c> (a usual hardening) dropped them: a bodyless request then went
    /// out without content, which the HTTP client silently re-sends on a reused connection the
    /// backend closed (three approved DELETEs reached the backend five times), a body went chunked
    /// with no Content-Type, and the backend never got the key to deduplicate by.
    /// </summary>
    private static readonly string[] GatewayRequestHeaders = ["Content-Length", "Content-Type", "Idempotency-Key"];

    internal static ValueTask KeepTheGatewaysRequestHeaders(RequestTransformContext context)
    {
        var http = context.HttpContext;
        if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>() is not ReceiptedResponseBody call)
        {
            // A pass-through route: forwarded as its transforms make it, unchecked.
            return ValueTask.CompletedTask;
        }
        if (!call.MaySend())
        {
            // The last step before the request leaves (added after the route's own transforms).
            // Failing here, nothing has been sent: 502, released.
            throw new InvalidOperationException(ExecutionPipeline.TooLateDetail);
        }
        var request = http.Request;
        var length = request.ContentLength ?? 0;
        if (context.ProxyRequest.Content is null && length != 0)
        {
            // Nothing has been sent: the call fails as not sent, never with its body left out.
            throw new InvalidOperationException("The approved request has a body, but the forwarder prepared none");
        }
        // YARP's own header helpers: a content header on a request without content gets the
        // empty content YARP uses for it (it refuses any other replacement of its content).
        foreach (var name in GatewayRequestHeaders)
        {
            RequestTransform.RemoveHeader(context, name);
        }
        // Never sent from an action route, whatever set them (RouteRules refuses a transform
        // that does): a body held back for 100-continue leaves the request one the HTTP client
        // re-sends on a reused connection the backend closed, and chunked framing drops the
        // Content-Length that keeps a bodyless request from being re-sent.
        RequestTransform.RemoveHeader(context, "Expect");
        RequestTransform.RemoveHeader(context, "Transfer-Encoding");
        RequestTransform.AddHeader(context, "Content-Length", length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (request.ContentType is { } type)
        {
            RequestTransform.AddHeader(context, "Content-Type", type);
        }
        RequestTransform.AddHeader(context, "Idempotency-Key", request.Headers["Idempotency-Key"]);
        var proxy = context.HttpContext.GetReverseProxyFeature();
        if (proxy.Route.Config.Transforms is { Count: > 0 }
            && proxy.Cluster.Config.HttpClient?.RequestHeaderEncoding is not { Length: > 0 }
            && UnsendableHeader(context.ProxyRequest) is { } unsendable)
        {
            // The agent's own headers were checked before the claim; one a route transform made
            // from the request (RequestHeaderRouteValue from a path with 'é') would make the HTTP
            // client fail once the call is under way, read as "may have run" (504 outcome_unknown,
            // the nonce spent) when nothing left. Failing here, nothing has been sent: 502, released.
            throw new InvalidOperationException($"The header '{unsendable}' a route transform set holds a character outside ASCII, which cannot be sent");
        }
        return ValueTask.CompletedTask;
    }

    private static string? UnsendableHeader(HttpRequestMessage outgoing)
    {
        foreach (var header in outgoing.Headers.NonValidated)
        {
            foreach (var value in header.Value)
            {
                if (!System.Text.Ascii.IsValid(value))
                {
                    return header.Key;
                }
            }
        }
        return null;
    }

    /// <summary>
    /// The answer's head as it is passed on, mended before any transform copies from it (YARP's
    /// own copy or a route's <c>ResponseHeadersAllowed</c>), on every route: its status noted
    /// first, for the receipt, since a head that still cannot be sent fails the copy. A
    /// <c>Content-Length</c> field the backend repeated with the same value is sent on as one (RFC
    /// 9110 section 8.6): Kestrel refuses to write a response with two, and an answer the backend
    /// had sent whole became a 504 outcome_unknown (the <c>/execute</c> door took it as one
    /// length). Two different lengths stay as they are, and fail as malformed (Kestrel refuses
    /// them). A control character in a header's value (RFC 9110 section 5.5: invalid; a proxy may
    /// replace it with SP) is sent as a space: Kestrel refuses to write it, and the answer to an
    /// action that certainly ran became a 504 outcome_unknown.
    /// </summary>
    internal static ValueTask MendAnswerHead(ResponseTransformContext context)
    {
        if (context.ProxyResponse is { } answer)
        {
            if (context.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>() is ReceiptedResponseBody call)
            {
                call.HeadArrived((int)answer.StatusCode);
            }
            if (BackendDelivery.DeclaredLength(answer, out var declared, out var fields) && fields > 1)
            {
                answer.Content.Headers.Remove("Content-Length");
                answer.Content.Headers.TryAddWithoutValidation("Content-Length", declared);
            }
            ReplaceControlCharacters(answer.Headers);
            ReplaceControlCharacters(answer.Content.Headers);
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>What no header value may hold: the C0 controls but HTAB, and DEL.</summary>
    private static readonly SearchValues<char> ControlCharacters = SearchValues.Create(
        "\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u000A\u000B\u000C\u000D\u000E\u000F\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F\u007F");

    private static void ReplaceControlCharacters(HttpHeaders headers)
    {
        List<string>? names = null;
        foreach (var header in headers.NonValidated)
        {
            foreach (var value in header.Value)
            {
                if (value.AsSpan().ContainsAny(ControlCharacters))
                {
                    (names ??= []).Add(header.Key);
                    break;
                }
            }
        }
        foreach (var name in names ?? [])
        {
            string[] values = [.. headers.NonValidated[name]];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = string.Create(values[i].Length, values[i], static (chars, value) =>
                {
                    for (var at = 0; at < chars.Length; at++)
                    {
                        chars[at] = ControlCharacters.Contains(value[at]) ? ' ' : value[at];
                    }
                });
            }
            headers.Remove(name);
            headers.TryAddWithoutValidation(name, values);
        }
    }

    /// <summary>YARP's own copy of the answer's headers (what it does when a route keeps the default), made from the mended head.</summary>
    internal static ValueTask CopyAnswerHeaders(ResponseTransformContext context)
    {
        var copied = HttpTransformer.Default.TransformResponseAsync(context.HttpContext, context.ProxyResponse, context.CancellationToken);
        if (!copied.IsCompletedSuccessfully)
        {
            return Copied(copied, context);
        }
        context.HeadersCopied = true;
        return ValueTask.CompletedTask;

        static async ValueTask Copied(ValueTask<bool> copied, ResponseTransformContext context)
        {
            await copied.ConfigureAwait(false);
            context.HeadersCopied = true;
        }
    }

    /// <summary>
    /// The answer's head arrived: noted (also where a route copies the answer's headers itself),
    /// and progress of an action route's call, which renews its claim's lease when due
    /// (<see cref="ReceiptedResponseBody.Progressed"/>). Its body may take up to the backend
    /// timeout again.
    /// </summary>
    internal static ValueTask RenewLeaseOnHead(ResponseTransformContext context)
    {
        if (context.ProxyResponse is { } answer
            && context.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>() is ReceiptedResponseBody call)
        {
            call.HeadArrived((int)answer.StatusCode);
            call.Progressed();
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// A backend's redirect to its own address (<c>Location: http://backend:5100/x</c>) would send
    /// a client that follows it, body, nonce and approval header included, straight to the
    /// backend: no check, no receipt. It is made relative (<c>/x</c>), so that it resolves
    /// against the gateway's address, as a reverse proxy rewrites its upstream's redirects.
    /// </summary>
    internal static ValueTask KeepRedirectsBehindTheGateway(ResponseTransformContext context)
    {
        if (context.ProxyResponse?.Headers.Location is { } location
            && context.ProxyResponse.RequestMessage?.RequestUri is { } sent
            // A scheme-relative "//backend:5100/x" is relative to .NET: resolved, it names the backend too.
            && (location.IsAbsoluteUri || location.OriginalString.StartsWith("//", StringComparison.Ordinal) || location.OriginalString.StartsWith(@"\\", StringComparison.Ordinal))
            && Uri.TryCreate(sent, location, out var target)
            && Uri.Compare(target, sent, UriComponents.SchemeAndServer, UriFormat.UriEscaped, StringComparison.OrdinalIgnoreCase) == 0)
        {
            context.HttpContext.Response.Headers.Location = target.GetComponents(UriComponents.PathAndQuery | UriComponents.Fragment, UriFormat.UriEscaped);
        }
        return ValueTask.CompletedTask;
    }
}
