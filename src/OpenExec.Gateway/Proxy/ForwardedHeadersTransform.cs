using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace OpenExec.Gateway.Proxy;

/// <summary>
/// Every route's transforms added by the gateway. YARP's default X-Forwarded headers (For, Proto, Prefix), but not <c>X-Forwarded-Host</c>: YARP fills it from the
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
        context.AddResponseTransform(KeepRedirectsBehindTheGateway);
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
