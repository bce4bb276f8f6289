using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using OpenExec.Gateway.Tests.Infrastructure;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace OpenExec.Gateway.Tests.Pipeline;

/// <summary>
/// Embedded store: a claim whose outcome write fails for longer than its lease is still finished
/// once the store answers (nobody else takes an embedded claim over): its nonce does not read
/// in_progress until a restart, and the attempt answered 504 gets its receipt.
/// </summary>
public sealed class EmbeddedStuckClaimTests : IDisposable
{
    private readonly WireMockServer _backend = WireMockServer.Start();

    public void Dispose() => _backend.Stop();

    private static HttpRequestMessage Post(string path, string key)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes("{}")) };
        message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/json");
        message.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        return message;
    }

    [Fact]
    public async Task An_outcome_write_failing_past_the_lease_is_recorded_once_the_store_answers()
    {
        _backend.Given(Request.Create().WithPath("/v1/op")).RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""{"done":true}"""));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        FlakyStore? flaky = null;
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("op", "do_op", "v1", _backend.Urls[0] + "/"), time: time, configure: builder =>
            builder.Services.AddSingleton<OpenExec.Gateway.Store.IExecutionStore>(sp => flaky = new FlakyStore(sp.GetRequiredService<OpenExec.Gateway.Store.SqliteExecutionStore>()) { FailOutcomes = int.MaxValue }));

        // The store cannot write outcomes (a full disk, a lock held by a backup tool) ...
        var first = await gateway.Client.SendAsync(Post("/v1/op", "k-stuck"));
        Assert.Equal(HttpStatusCode.GatewayTimeout, first.StatusCode);
        var execId = Assert.Single(first.Headers.GetValues("OpenExec-Exec-Id"));

        // ... for longer than the claim's lease (backend timeout + 30 s) ...
        time.Advance(TimeSpan.FromMinutes(5));
        await Task.Delay(1000);
        // ... and then it is fixed.
        Volatile.Write(ref flaky!.FailOutcomes, 0);
        await Task.Delay(6000);

        var replay = await gateway.Client.SendAsync(Post("/v1/op", "k-stuck"));
        using var doc = JsonDocument.Parse(await replay.Content.ReadAsStringAsync());
        // Expected: the attempt got its outcome_unknown receipt once the store answered again.
        Assert.Equal("replay_denied", doc.RootElement.GetProperty("code").GetString());
        Assert.Equal(execId, doc.RootElement.GetProperty("original").GetProperty("id").GetString());
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync($"/receipts/{execId}")).StatusCode);
    }
}
