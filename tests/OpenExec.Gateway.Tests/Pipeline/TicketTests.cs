using System.Net;
using System.Text;
using OpenExec.Gateway.Pipeline;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Infrastructure;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace OpenExec.Gateway.Tests.Pipeline;

/// <summary>
/// One object per attempt: the store is handed the attempt's ticket as its claim request (no copy
/// of its fields), with the exec id the agent is answered with; a step-5 refusal's is lookup-only.
/// </summary>
public sealed class TicketTests : IDisposable
{
    private readonly WireMockServer _backend = WireMockServer.Start();

    public TicketTests()
        => _backend.Given(Request.Create().WithPath("/v1/op")).RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""{"done":true}"""));

    public void Dispose() => _backend.Stop();

    [Fact]
    public async Task The_store_claims_with_the_attempts_own_ticket_at_both_doors()
    {
        FlakyStore? store = null;
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("op", "do_op", "v1", _backend.Urls[0] + "/"), configure: builder =>
            builder.Services.AddSingleton<IExecutionStore>(sp => store = new FlakyStore(sp.GetRequiredService<SqliteExecutionStore>())));

        var message = new HttpRequestMessage(HttpMethod.Post, "/v1/op") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        message.Headers.TryAddWithoutValidation("Idempotency-Key", "k-ticket");
        var proxied = await gateway.Client.SendAsync(message);
        Assert.Equal(HttpStatusCode.OK, proxied.StatusCode);
        var executed = await gateway.ExecuteAsync("echo", new { msg = "once" }, "n-ticket");
        Assert.Equal(HttpStatusCode.OK, executed.StatusCode);

        var claims = store!.Claims.ToArray();
        Assert.Equal(2, claims.Length);
        var proxiedTicket = Assert.IsAssignableFrom<ExecutionTicket>(claims[0]);
        Assert.Equal(proxied.Headers.GetValues("OpenExec-Exec-Id").Single(), proxiedTicket.ExecId);
        Assert.Equal(proxiedTicket.StartedAt, proxiedTicket.Now);
        Assert.Equal(Actions.BackendTimeouts.Lease(proxiedTicket.CallTimeout), proxiedTicket.Lease);
        Assert.False(proxiedTicket.LookupOnly);
        var executeTicket = Assert.IsAssignableFrom<ExecutionTicket>(claims[1]);
        Assert.Equal(executed.Headers.GetValues("OpenExec-Exec-Id").Single(), executeTicket.ExecId);
        Assert.Equal("echo", executeTicket.Action);
    }

    [Fact]
    public async Task A_step_5_refusal_only_looks_its_nonce_up()
    {
        FlakyStore? store = null;
        await using var gateway = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["OpenExec:AllowedActions"] = "add" }, configure: builder =>
            builder.Services.AddSingleton<IExecutionStore>(sp => store = new FlakyStore(sp.GetRequiredService<SqliteExecutionStore>())));

        var refused = await gateway.ExecuteAsync("echo", new { msg = "no" }, "n-refused");

        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        var claim = Assert.IsAssignableFrom<ExecutionTicket>(Assert.Single(store!.Claims));
        Assert.True(claim.LookupOnly);
        Assert.Equal(NonceState.Free, await store.LookupAsync(claim.NonceSha256, default));
    }
}
