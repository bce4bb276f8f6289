using Microsoft.AspNetCore.Http.Features;

namespace OpenExec.Gateway.Proxy;

/// <summary>
/// The HTTP/1.1 request of a client that offers to switch to cleartext HTTP/2 (<c>Upgrade: h2c</c>
/// with <c>HTTP2-Settings</c>, RFC 7540 section 3.2): the JDK's HttpClient and curl's
/// <c>--http2</c> send it with every request that has no body. The offer is optional and a
/// server that ignores it simply answers over HTTP/1.1; the gateway ignores it. Kestrel still
/// marks such a request upgradable, and YARP would then forward it as an upgrade (a backend's 101
/// opens a tunnel nothing checks), so the request's upgrade feature is replaced by this one,
/// which says it is not upgradable; the offer's headers are never forwarded.
/// </summary>
internal sealed class IgnoredUpgrade : IHttpUpgradeFeature
{
    private static readonly IgnoredUpgrade Instance = new();

    private IgnoredUpgrade()
    {
    }

    public bool IsUpgradableRequest => false;

    public Task<Stream> UpgradeAsync() => throw new InvalidOperationException("The gateway ignores an offer to upgrade to h2c; the request is not upgradable.");

    /// <summary>
    /// When the request's only upgrade is the h2c offer (one <c>Upgrade</c> header naming only
    /// <c>h2c</c>), marks it not upgradable and answers true; any other upgrade stays refused.
    /// </summary>
    public static bool IgnoreH2cOffer(HttpContext context)
    {
        var upgrade = context.Request.Headers.Upgrade;
        if (upgrade.Count != 1 || !string.Equals(upgrade[0]?.Trim(' ', '\t'), "h2c", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        context.Features.Set<IHttpUpgradeFeature>(Instance);
        return true;
    }
}
