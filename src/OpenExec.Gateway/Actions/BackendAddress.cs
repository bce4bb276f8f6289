namespace OpenExec.Gateway.Actions;

/// <summary>
/// A destination's <c>Address</c> must be an absolute <c>http://</c> or <c>https://</c> URI.
/// YARP takes any text, and a request to "127.0.0.1:5100" (no scheme) fails while it is being
/// built, on every call; checked at start-up (<see cref="RouteActions"/>) and on every proxy
/// configuration load, reloads included (<see cref="Proxy.ProxyConfigGuard"/>).
/// </summary>
internal static class BackendAddress
{
    public static bool IsValid(string? address)
        => Uri.TryCreate(address, UriKind.Absolute, out var uri)
            && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            && uri.Host.Length > 0
            && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.Fragment) && uri.UserInfo.Length == 0;

    public static string Problem(string clusterId, string destinationId, string? address)
        => $"ReverseProxy:Clusters:{clusterId}:Destinations:{destinationId}:Address '{OpenExec.Core.Text.SecretText.Address(address)}' must be an absolute http:// or https:// address (e.g. http://127.0.0.1:5100), with no query, fragment or user info";
}
