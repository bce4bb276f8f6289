using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace OpenExec.Gateway.Proxy;

/// <summary>
/// YARP's default X-Forwarded headers (For, Proto, Prefix), but not <c>X-Forwarded-Host</c>: YARP fills it from the
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
    }
}
