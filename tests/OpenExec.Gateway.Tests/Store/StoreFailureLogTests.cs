using System.Net;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;
using OpenExec.Gateway.Tests.Pipeline;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>
/// A store failure that lasts (a full disk, a lock held by a backup tool, Redis down) is logged
/// with its exception once, then in one line each time it recurs: every failing batch logged an
/// Error with its stack (a full disk under load: thousands of lines), and a Redis outage an ~8 KB
/// warning (Redis's connection diagnostics) every few seconds.
/// </summary>
public sealed class StoreFailureLogTests
{
    private static IEnumerable<string> Matching(LogCapture logs, string text) => logs.Lines.Where(l => l.Contains(text, StringComparison.Ordinal));

    [Fact]
    public async Task Embedded_store_write_failures_log_the_exception_once_then_one_line_each()
    {
        var logs = new LogCapture();
        await using var gateway = await GatewayServer.StartAsync(configure: builder => builder.Logging.AddProvider(logs));
        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("echo", new { msg = "before" }, "n-before")).StatusCode);

        // Another process holds the database's write lock past the writer's busy timeout.
        using (var holder = new SqliteConnection($"Data Source={Path.Combine(gateway.DataDir, "openexec.db")};Pooling=False"))
        {
            holder.Open();
            using (var begin = holder.CreateCommand())
            {
                begin.CommandText = "BEGIN IMMEDIATE";
                begin.ExecuteNonQuery();
            }
            for (var i = 0; i < 2; i++)
            {
                var refused = await gateway.ExecuteAsync("echo", new { msg = "locked" }, $"n-locked-{i}");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
                Assert.Equal("store_unavailable", (await Json.ReadAsync(refused)).Str("code"));
            }
            using var rollback = holder.CreateCommand();
            rollback.CommandText = "ROLLBACK";
            rollback.ExecuteNonQuery();
        }

        var full = Assert.Single(Matching(logs, "Store write failed;"));
        Assert.Contains("   at ", full, StringComparison.Ordinal);
        Assert.Contains("locked", full, StringComparison.OrdinalIgnoreCase);
        var again = Assert.Single(Matching(logs, "Store write failed again ("));
        Assert.DoesNotContain("   at ", again, StringComparison.Ordinal);
        Assert.Contains("locked", again, StringComparison.OrdinalIgnoreCase);

        // Nothing was lost: the same nonces run once the lock is gone.
        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("echo", new { msg = "locked" }, "n-locked-0")).StatusCode);
    }

    [Fact]
    public async Task Forwards_to_a_backend_that_is_down_log_the_exception_once_then_one_line_each()
    {
        // YARP logged a warning with its stack for every failed forward (1.5-4.6 KB each, for as
        // long as a backend was down); store failures were throttled, backend failures not.
        using var closed = new ClosedPort();
        var port = closed.Port;
        var logs = new LogCapture();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("down", "down_op", "down", $"http://127.0.0.1:{port}/"),
            configure: builder => builder.Logging.AddProvider(logs));

        for (var i = 0; i < 4; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/down/op") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json") };
            request.Headers.Add("Idempotency-Key", $"down-{i}");
            Assert.Equal(HttpStatusCode.BadGateway, (await gateway.Client.SendAsync(request)).StatusCode);
        }

        Assert.Empty(Matching(logs, " Yarp.ReverseProxy.Forwarder.HttpForwarder: "));
        var full = Assert.Single(Matching(logs, "Forward to the backend of route down failed ("));
        Assert.Contains("   at ", full, StringComparison.Ordinal);
        var again = Matching(logs, "Forward to the backend of route down failed again (").ToList();
        Assert.Equal(3, again.Count);
        Assert.All(again, line => Assert.DoesNotContain("   at ", line, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Receipt_copies_failing_while_redis_is_down_log_the_exception_once_then_one_line_each()
    {
        using var redis = RedisServer.Start();
        var logs = new LogCapture();
        await using var gateway = await GatewayServer.StartAsync(
            settings: new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = redis.Configuration },
            configure: builder => builder.Logging.AddProvider(logs));
        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("echo", new { msg = "hello" }, "n-1")).StatusCode);

        redis.Kill();
        await RedisStores.EventuallyAsync(() => Task.FromResult(Matching(logs, "Copying receipts to Redis failed again (").Count() >= 2), "copies retried");

        var full = Assert.Single(Matching(logs, "Copying receipts to Redis failed;"));
        Assert.Contains("   at ", full, StringComparison.Ordinal);
        Assert.All(Matching(logs, "Copying receipts to Redis failed again ("), line => Assert.DoesNotContain("   at ", line, StringComparison.Ordinal));

        // Each request refused meanwhile is one short line too: the first line of Redis's message
        // is a screen of connection diagnostics (~700 bytes per refusal, 88 MB in two minutes).
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await gateway.ExecuteAsync("echo", new { msg = "down" }, $"n-down-{i}")).StatusCode);
        }
        var refusals = Matching(logs, "Store unavailable (").Where(l => !l.Contains("   at ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(refusals);
        Assert.All(refusals.Concat(Matching(logs, "Copying receipts to Redis failed again (")), line => Assert.True(line.Length < 400, $"{line.Length} characters: {line}"));
    }
}
