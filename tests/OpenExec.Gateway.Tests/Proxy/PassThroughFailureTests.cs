using System.Net;
using System.Net.Sockets;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>A pass-through read whose backend gives no answer gets a problem with its code, as every gateway error does.</summary>
public sealed class PassThroughFailureTests
{
    [Fact]
    public async Task An_unreachable_pass_through_backend_is_a_502_problem_with_a_code()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("docs", "", "docs", $"http://127.0.0.1:{port}/", passThrough: true));

        // It was YARP's bare 502, no body and no code.
        var problem = await GatewayAssert.ProblemAsync(await gateway.Client.GetAsync("/docs/readme"), HttpStatusCode.BadGateway, "upstream_failed");
        Assert.False(problem.TryGetProperty("id", out _));
    }

    [Fact]
    public async Task A_pass_through_backend_that_never_answers_is_a_504_problem_with_a_code()
    {
        using var silent = new RecordingBackend(answer: "");
        var settings = ProxyConfig.Route("docs", "", "docs", silent.Address, passThrough: true);
        settings["OpenExec:BackendTimeout"] = "00:00:01";
        await using var gateway = await GatewayServer.StartAsync(settings);

        await GatewayAssert.ProblemAsync(await gateway.Client.GetAsync("/docs/readme"), HttpStatusCode.GatewayTimeout, "outcome_unknown");
        Assert.Equal(1, silent.Requests);
    }
}
