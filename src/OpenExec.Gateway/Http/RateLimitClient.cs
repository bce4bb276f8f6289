using System.Net;

namespace OpenExec.Gateway.Http;

/// <summary>
/// Which client a request counts against for <c>OpenExec:RateLimit:PerClientPerSecond</c>: its
/// TCP peer's address; for IPv6 the peer's /64, since one host is routinely given a whole /64
/// and could otherwise use a fresh address (a fresh allowance) per request.
/// </summary>
internal static class RateLimitClient
{
    public static string Key(IPAddress? peer)
    {
        if (peer is null)
        {
            return "unknown";
        }
        if (peer.IsIPv4MappedToIPv6)
        {
            peer = peer.MapToIPv4();
        }
        if (peer.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return peer.ToString();
        }
        Span<byte> bytes = stackalloc byte[16];
        peer.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes).ToString() + "/64";
    }
}
