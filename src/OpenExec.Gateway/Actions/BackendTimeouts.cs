using OpenExec.Gateway.Configuration;
using Yarp.ReverseProxy;

namespace OpenExec.Gateway.Actions;

/// <summary>
/// How long a routed action's backend may go without progress: its cluster's
/// <c>HttpRequest:ActivityTimeout</c> when it sets one, else <c>OpenExec:BackendTimeout</c>
/// (the value <see cref="Proxy.ProxyConfigGuard"/> gives every other cluster). Both
/// front doors and the claim's lease use this one answer.
/// </summary>
internal sealed class BackendTimeouts(IProxyStateLookup proxyState, ActionCatalog catalog, GatewaySettings settings)
{
    /// <summary>What a claim's lease adds to the timeout (SPEC section 3: backend timeout + 30 s).</summary>
    internal static readonly TimeSpan LeaseMargin = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long after its claim was sent a call may still start (with a store whose claims
    /// another instance can take over): a call started later could outlive its lease, and one
    /// whose holder was held up (paused, starved) past it could go out after another instance
    /// answered outcome_unknown for it. 10 s under <see cref="LeaseMargin"/>, so that a holder
    /// held up right after this check must stay so for the call's whole timeout and more to be
    /// taken over before it sends: as long as one held up while its call runs.
    /// </summary>
    internal static readonly TimeSpan SendWithin = LeaseMargin - TimeSpan.FromSeconds(10);

    /// <summary>The longest call timeout a claim's lease is sized for (<c>OpenExec:BackendTimeout</c> and every cluster's <c>HttpRequest:ActivityTimeout</c>).</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromHours(1);

    /// <summary>
    /// Whether a call may be given this timeout: above zero (YARP reads a negative
    /// <c>ActivityTimeout</c> as "none") and at most <see cref="MaxTimeout"/>. A call without a
    /// bounded timeout would outlive its claim's lease, and another instance could take the claim
    /// over and run it a second time. Checked at start-up (<see cref="RouteActions"/>,
    /// <see cref="GatewaySettings"/>) and on every proxy configuration load, reloads
    /// included (<see cref="Proxy.ProxyConfigGuard"/>).
    /// </summary>
    public static bool IsAllowed(TimeSpan timeout) => timeout > TimeSpan.Zero && timeout <= MaxTimeout;

    /// <summary>The problem line for a cluster whose <c>HttpRequest:ActivityTimeout</c> is unreadable or not <see cref="IsAllowed"/>.</summary>
    public static string ActivityTimeoutProblem(string clusterId)
        => $"ReverseProxy:Clusters:{clusterId}:HttpRequest:ActivityTimeout must be a time span ([d.]hh:mm:ss[.fffffff]) above 00:00:00 and at most 01:00:00 (as OpenExec:BackendTimeout): a call without a timeout would outlive its claim's lease";

    /// <summary>How long a claim's lease lasts from when it is taken (or renewed) for a call of <paramref name="timeout"/>.</summary>
    public static TimeSpan Lease(TimeSpan timeout) => timeout + LeaseMargin;

    /// <summary>The end of a lease taken (or renewed) at <paramref name="from"/> for a call of <paramref name="timeout"/>, on the gateway's clock.</summary>
    public static DateTimeOffset LeaseFrom(DateTimeOffset from, TimeSpan timeout) => from + Lease(timeout);

    public TimeSpan For(string actionName)
        => catalog.Find(actionName) is { ClusterId: { } clusterId } && proxyState.TryGetCluster(clusterId, out var cluster)
            ? cluster.Model?.Config.HttpRequest?.ActivityTimeout ?? settings.Options.BackendTimeout
            : settings.Options.BackendTimeout;
}
