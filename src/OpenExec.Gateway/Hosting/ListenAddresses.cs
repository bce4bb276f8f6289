using System.Net;
using Microsoft.AspNetCore.Http;

namespace OpenExec.Gateway.Hosting;

/// <summary>The addresses Kestrel will listen on, as configured.</summary>
internal static class ListenAddresses
{
    /// <summary>Where the gateway listens when nothing is configured (SPEC section 1).</summary>
    public const string Default = "http://127.0.0.1:5000";

    /// <summary>
    /// True when every address is loopback (127.0.0.0/8, ::1, localhost), read exactly as Kestrel
    /// reads it: a port that is not a number (<c>http://127.0.0.1:</c>, <c>http://localhost:x</c>)
    /// leaves it in the host, which is then no IP address, and Kestrel listens on every interface.
    /// </summary>
    public static bool IsLoopbackOnly(IEnumerable<string> urls)
    {
        foreach (var url in urls)
        {
            BindingAddress address;
            try
            {
                address = BindingAddress.Parse(url);
            }
            catch (FormatException)
            {
                return false;
            }
            if (address.IsUnixPipe || address.IsNamedPipe)
            {
                return false;
            }
            // Kestrel's AddressBinder: "localhost" is loopback; an IP address is bound as parsed;
            // any other host (a name, "*", "+", "127.0.0.1:") means every interface.
            if (string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            if (!IPAddress.TryParse(address.Host, out var ip) || !IPAddress.IsLoopback(ip))
            {
                return false;
            }
        }
        return true;
    }
}
