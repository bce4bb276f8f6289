using OpenExec.Gateway.Configuration;
using Yarp.ReverseProxy;

namespace OpenExec.Gateway.Actions;

/// <summary>
/// How long a routed action's backend may go without progress: its cluster's
/// <c>HttpRequest:ActivityTimeout</c> when it sets one, else <c>OpenExec:BackendTimeout</c>
/// (the value <see cref="Proxy.BackendTimeoutConfigFilter"/> gives every other cluster). Both
/// front doors and the claim's lease use this one answer.
/// </summary>
internal sealed class BackendTimeouts(IProxyStateLookup proxyState, ActionCatalog catalog, GatewaySettings settings)
{
    /// <summary>What a claim's lease adds to the timeout (SPEC section 3: backend timeout + 30 s).</summary>
    private static readonly TimeSpan LeaseMargin = TimeSpan.FromSeconds(30);

    /// <summary>The end of a lease taken (or renewed) at <paramref name="from"/> for a call of <paramref name="timeout"/>.</summary>
    public static DateTimeOffset LeaseFrom(DateTimeOffset from, TimeSpan timeout) => from + timeout + LeaseMargin;

    public TimeSpan For(string actionName)
        => catalog.Find(actionName) is { ClusterId: { } clusterId } && proxyState.TryGetCluster(clusterId, out var cluster)
            ? cluster.Model?.Config.HttpRequest?.ActivityTimeout ?? settings.Options.BackendTimeout
            : settings.Options.BackendTimeout;
}
