using System.Net;
using OpenExec.Gateway.Http;

namespace OpenExec.Gateway.Tests.Http;

/// <summary>The rate limit's client: the peer address; for IPv6 its /64, which one host routinely holds whole.</summary>
public sealed class RateLimitClientTests
{
    [Theory]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:2::7:9", true)] // one /64: one allowance
    [InlineData("2001:db8:1:2::1", "2001:db8:1:3::1", false)]
    [InlineData("10.0.0.1", "10.0.0.2", false)]
    [InlineData("10.0.0.1", "::ffff:10.0.0.1", true)] // the same IPv4 client on a dual-stack socket
    public void Clients_share_an_allowance_only_within_one_address_or_IPv6_64(string a, string b, bool shared)
    {
        Assert.Equal(shared, RateLimitClient.Key(IPAddress.Parse(a)) == RateLimitClient.Key(IPAddress.Parse(b)));
    }

    [Fact]
    public void A_connection_without_a_peer_address_has_one_shared_allowance()
        => Assert.Equal("unknown", RateLimitClient.Key(null));
}
