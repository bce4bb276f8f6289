using System.Net;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// An agent that speaks HTTP/2 to the gateway in cleartext (prior knowledge): the gateway's
/// endpoint must then speak HTTP/2 alone, and every request must ask for exactly HTTP/2.
/// </summary>
public static class Http2Agent
{
    /// <summary>Makes the gateway these settings start serve HTTP/2 only.</summary>
    public static Dictionary<string, string?> Serve(Dictionary<string, string?> settings)
    {
        settings["Kestrel:EndpointDefaults:Protocols"] = "Http2";
        return settings;
    }

    /// <summary>The gateway's client asks for HTTP/2 on its own requests (GetAsync and the like).</summary>
    public static GatewayServer Use(GatewayServer gateway)
    {
        gateway.Client.DefaultRequestVersion = HttpVersion.Version20;
        gateway.Client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        return gateway;
    }

    /// <summary>This request goes out as HTTP/2, or not at all.</summary>
    public static HttpRequestMessage Exact(HttpRequestMessage request)
    {
        request.Version = HttpVersion.Version20;
        request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        return request;
    }
}
