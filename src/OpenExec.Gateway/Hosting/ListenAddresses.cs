using System.Net;

namespace OpenExec.Gateway.Hosting;

/// <summary>The addresses Kestrel will listen on, as configured.</summary>
internal static class ListenAddresses
{
    /// <summary>Where the gateway listens when nothing is configured (SPEC section 1).</summary>
    public const string Default = "http://127.0.0.1:5000";

    /// <summary>True when every address is loopback (127.0.0.0/8, ::1, localhost).</summary>
    public static bool IsLoopbackOnly(IEnumerable<string> urls)
    {
        foreach (var url in urls)
        {
            var host = HostOf(url);
            if (host is null)
            {
                return false;
            }
            if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            if (!IPAddress.TryParse(host.Trim('[', ']'), out var ip) || !IPAddress.IsLoopback(ip))
            {
                return false;
            }
        }
        return true;
    }

    private static string? HostOf(string url)
    {
        var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            return null;
        }
        var rest = url[(schemeEnd + 3)..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            rest = rest[..slash];
        }
        if (rest.StartsWith('['))
        {
            var close = rest.IndexOf(']', StringComparison.Ordinal);
            return close < 0 ? null : rest[..(close + 1)];
        }
        var colon = rest.LastIndexOf(':');
        return colon >= 0 ? rest[..colon] : rest;
    }
}
