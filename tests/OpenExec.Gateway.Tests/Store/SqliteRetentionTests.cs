using System.Net;
using Microsoft.Extensions.Time.Testing;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>The embedded store keeps used nonces forever unless a retention is configured (SPEC section 3).</summary>
public sealed class SqliteRetentionTests
{
    private static async Task<HttpStatusCode> ExecuteAsync(GatewayServer gateway, string nonce)
        => (await gateway.ExecuteAsync("echo", new { msg = "retention" }, nonce)).StatusCode;

    [Fact]
    public async Task Without_a_retention_a_used_nonce_stays_used()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await GatewayServer.StartAsync(time: time);

        Assert.Equal(HttpStatusCode.OK, await ExecuteAsync(gateway, "kept"));
        time.Advance(TimeSpan.FromDays(3650));
        await Task.Delay(200);

        Assert.Equal(HttpStatusCode.Conflict, await ExecuteAsync(gateway, "kept"));
    }

    [Fact]
    public async Task In_demo_mode_a_nonce_older_than_the_retention_can_run_again()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["OpenExec:NonceRetention"] = "01:00:00" }, time: time);

        Assert.Equal(HttpStatusCode.OK, await ExecuteAsync(gateway, "old"));
        time.Advance(TimeSpan.FromMinutes(30));
        Assert.Equal(HttpStatusCode.OK, await ExecuteAsync(gateway, "young"));
        time.Advance(TimeSpan.FromMinutes(31));
        var status = HttpStatusCode.Conflict;
        for (var i = 0; i < 50 && status == HttpStatusCode.Conflict; i++)
        {
            await Task.Delay(50);
            status = await ExecuteAsync(gateway, "old");
        }

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(HttpStatusCode.Conflict, await ExecuteAsync(gateway, "young"));
    }
}
