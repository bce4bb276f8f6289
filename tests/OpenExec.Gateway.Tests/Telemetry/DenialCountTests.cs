using System.Net;
using System.Text;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Infrastructure;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace OpenExec.Gateway.Tests.Telemetry;

/// <summary>
/// <c>openexec.denials</c> counts each refused attempt once: a receipt written in the background
/// after the agent already had its 503 or 504 adds a decision, not a second denial.
/// </summary>
[Collection(MeterListenerCollection.Name)]
public sealed class DenialCountTests
{
    [Fact]
    public async Task An_outcome_recorded_after_its_504_counts_as_one_denial()
    {
        var backend = WireMockServer.Start();
        try
        {
            backend.Given(Request.Create().WithPath("/v1/op")).RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""{"done":true}"""));
            using var counts = new DecisionCounts();
            await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("op", "do_op", "v1", backend.Urls[0] + "/"), configure: builder =>
                builder.Services.AddSingleton<IExecutionStore>(sp => new FlakyStore(sp.GetRequiredService<SqliteExecutionStore>()) { FailOutcomes = 1 }));
            HttpRequestMessage Post()
            {
                var message = new HttpRequestMessage(HttpMethod.Post, "/v1/op") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
                message.Headers.TryAddWithoutValidation("Idempotency-Key", "k-counted");
                return message;
            }

            var first = await gateway.Client.SendAsync(Post());
            Assert.Equal(HttpStatusCode.GatewayTimeout, first.StatusCode);
            // Until the outcome, retried in the background, is recorded.
            for (var i = 0; i < 100 && (await Json.ReadAsync(await gateway.Client.SendAsync(Post()))).Str("code") != "replay_denied"; i++)
            {
                await Task.Delay(100);
            }

            Assert.Contains(counts.Executions, e => e.Decision == "outcome_unknown");
            Assert.Single(counts.Denials, code => code == "outcome_unknown");
        }
        finally
        {
            backend.Stop();
        }
    }
}
