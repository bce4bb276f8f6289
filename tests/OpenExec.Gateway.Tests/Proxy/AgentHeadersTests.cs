using Microsoft.AspNetCore.Http;
using OpenExec.Gateway.Proxy;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>
/// The header rules themselves run on every proxied request; what reaches a backend is tested
/// end to end in ProxyInputTests. Here: an ordinary request's headers are scanned and dropped
/// without an allocation (the forwarder enumerates them afterwards, and Kestrel reuses its
/// enumerator only for a request's first enumeration).
/// </summary>
public class AgentHeadersTests
{
    private static HeaderDictionary Ordinary() => new()
    {
        ["Content-Type"] = "application/json",
        ["Idempotency-Key"] = "run-1-42",
        ["Accept"] = "*/*",
        ["User-Agent"] = "agent/1.0",
        ["X-Custom"] = new(["one", "two"]),
    };

    [Fact]
    public void Scanning_and_dropping_an_ordinary_requests_headers_allocates_nothing()
    {
        var warm = Ordinary();
        AgentHeaders.Scan(warm, actionRoute: true, checkAscii: true);
        AgentHeaders.Drop(warm, actionRoute: true, underscored: false);
        var headers = Ordinary();

        var before = GC.GetAllocatedBytesForCurrentThread();
        var (unsendable, underscored) = AgentHeaders.Scan(headers, actionRoute: true, checkAscii: true);
        AgentHeaders.Drop(headers, actionRoute: true, underscored);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Null(unsendable);
        Assert.False(underscored);
        Assert.Equal(5, headers.Count);
    }

    [Fact]
    public void The_scan_names_a_header_it_cannot_send_and_sees_underscores()
    {
        var headers = Ordinary();
        headers["X-Name"] = "Zoë";
        headers["X_HTTP_Method_Override"] = "DELETE";
        headers["OpenExec-Approval"] = "é"; // never forwarded: its spelling does not matter

        Assert.Equal("X-Name", AgentHeaders.Scan(headers, actionRoute: true, checkAscii: true).Unsendable);
        var (unsendable, underscored) = AgentHeaders.Scan(headers, actionRoute: true, checkAscii: false);
        Assert.Null(unsendable);
        Assert.True(underscored);

        AgentHeaders.Drop(headers, actionRoute: true, underscored);
        Assert.False(headers.ContainsKey("X_HTTP_Method_Override"));
        Assert.False(headers.ContainsKey("OpenExec-Approval"));
        Assert.True(headers.ContainsKey("X-Name"));
    }

    [Fact]
    public void Headers_named_in_Connection_are_dropped_and_not_checked()
    {
        var headers = Ordinary();
        headers["Connection"] = "keep-alive, X-Hop";
        headers["X-Hop"] = "Zoë";

        Assert.Null(AgentHeaders.Scan(headers, actionRoute: false, checkAscii: true).Unsendable);
        AgentHeaders.Drop(headers, actionRoute: false, underscored: false);
        Assert.False(headers.ContainsKey("X-Hop"));
        Assert.False(headers.ContainsKey("Connection"));
    }
}
