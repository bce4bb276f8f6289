using System.Net;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Http;

/// <summary>/ready answers 503 while the store cannot claim, and 200 again once it can.</summary>
public sealed class ReadinessTests
{
    [Fact]
    public async Task Ready_is_not_ready_while_the_store_cannot_claim()
    {
        await using var gateway = await GatewayServer.StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("echo", new { a = 1 }, "before")).StatusCode);

        // Another process holds the embedded store's write lock (a backup tool, an operator's
        // sqlite3 shell left in a transaction).
        await using var other = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(gateway.DataDir, "openexec.db")};Pooling=False");
        await other.OpenAsync();
        await using (var begin = other.CreateCommand())
        {
            begin.CommandText = "BEGIN IMMEDIATE";
            await begin.ExecuteNonQueryAsync();
        }

        var refused = await gateway.ExecuteAsync("echo", new { a = 2 }, "during");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("store_unavailable", (await Json.ReadAsync(refused)).Str("code"));

        var ready = await gateway.Client.GetAsync("/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);

        // Let go: ready again without any traffic having to succeed first.
        await using (var rollback = other.CreateCommand())
        {
            rollback.CommandText = "ROLLBACK";
            await rollback.ExecuteNonQueryAsync();
        }
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync("/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("echo", new { a = 3 }, "after")).StatusCode);
    }

    [Fact]
    public async Task Ready_is_not_ready_while_another_process_holds_the_write_lock_before_any_claim_failed()
    {
        await using var gateway = await GatewayServer.StartAsync();
        await using var other = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(gateway.DataDir, "openexec.db")};Pooling=False");
        await other.OpenAsync();
        await using (var begin = other.CreateCommand())
        {
            begin.CommandText = "BEGIN IMMEDIATE";
            await begin.ExecuteNonQueryAsync();
        }

        // An idle gateway: no claim has failed on the lock yet, and a read still succeeds (WAL).
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await gateway.Client.GetAsync("/ready")).StatusCode);

        await using (var rollback = other.CreateCommand())
        {
            rollback.CommandText = "ROLLBACK";
            await rollback.ExecuteNonQueryAsync();
        }
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync("/ready")).StatusCode);
    }

    private static readonly string[] Tables = ["receipts", "claim_log", "ready_probe"];

    /// <summary>A second connection to the gateway's embedded store, as another process would hold one.</summary>
    private static async Task<Microsoft.Data.Sqlite.SqliteConnection> OpenStoreAsync(GatewayServer gateway)
    {
        var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(gateway.DataDir, "openexec.db")};Pooling=False");
        await connection.OpenAsync();
        return connection;
    }

    private static async Task ExecuteAsync(Microsoft.Data.Sqlite.SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Every insert the store makes aborts: a write failure that is not a lock.</summary>
    private static async Task RefuseInsertsAsync(Microsoft.Data.Sqlite.SqliteConnection connection)
    {
        foreach (var table in Tables)
        {
            await ExecuteAsync(connection, $"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'no space'); END;");
        }
    }

    [Fact]
    public async Task Ready_recovers_by_itself_once_writes_land_again()
    {
        // Writes fail for a reason other than a lock (simulated here with triggers that abort
        // every insert: a full disk or a read-only mount in production). A load balancer then
        // sends no traffic, so /ready must find out by itself when writes work again.
        await using var gateway = await GatewayServer.StartAsync();
        await using var other = await OpenStoreAsync(gateway);
        Task RunAsync(string sql) => ExecuteAsync(other, sql);
        await RefuseInsertsAsync(other);

        var refused = await gateway.ExecuteAsync("echo", new { a = 1 }, "during");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await gateway.Client.GetAsync("/ready")).StatusCode);

        foreach (var table in Tables)
        {
            await RunAsync($"DROP TRIGGER refuse_{table};");
        }
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync("/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("echo", new { a = 2 }, "after")).StatusCode);
    }

    /// <summary>
    /// An idle gateway whose disk filled (or whose mount went read-only) before any claim tried
    /// to write: the probe took the write lock, committed nothing and answered 200.
    /// </summary>
    [Fact]
    public async Task Ready_is_not_ready_when_writes_fail_before_any_claim_found_out()
    {
        await using var gateway = await GatewayServer.StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync("/ready")).StatusCode);
        await using var other = await OpenStoreAsync(gateway);
        await RefuseInsertsAsync(other);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await gateway.Client.GetAsync("/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await gateway.ExecuteAsync("echo", new { a = 1 }, "during")).StatusCode);
    }

    [Fact]
    public async Task A_probe_queued_behind_a_failing_write_does_not_clear_the_failure()
    {
        await using var gateway = await GatewayServer.StartAsync();
        await using var other = await OpenStoreAsync(gateway);
        Task RunAsync(string sql) => ExecuteAsync(other, sql);
        // Writes fail for a reason other than a lock (a full disk in production; triggers here).
        await RefuseInsertsAsync(other);

        // The writer is busy with a claim (here: waiting for a lock held a moment) when /ready asks.
        await RunAsync("BEGIN IMMEDIATE");
        var call = gateway.ExecuteAsync("echo", new { a = 1 }, "during");
        await Task.Delay(500);
        var probe = gateway.Client.GetAsync("/ready");
        await Task.Delay(500);
        await RunAsync("ROLLBACK");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await call).StatusCode);
        await probe;

        // Writes still fail, and no traffic comes: /ready must say so.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await gateway.Client.GetAsync("/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await gateway.Client.GetAsync("/ready")).StatusCode);
    }

    [Fact]
    public async Task A_lock_held_a_moment_after_a_failed_write_does_not_make_a_full_disk_ready()
    {
        await using var gateway = await GatewayServer.StartAsync();
        await using var other = await OpenStoreAsync(gateway);
        // Writes fail for a reason other than a lock (a full disk in production; triggers here).
        await RefuseInsertsAsync(other);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await gateway.ExecuteAsync("echo", new { a = 1 }, "during")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await gateway.Client.GetAsync("/ready")).StatusCode);

        // An operator's sqlite3 shell (or a backup) holds the write lock past the writer's busy
        // timeout: the next probe fails on the lock.
        await ExecuteAsync(other, "BEGIN IMMEDIATE");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await gateway.Client.GetAsync("/ready")).StatusCode);
        await Task.Delay(TimeSpan.FromSeconds(6)); // the queued probe has failed with SQLITE_BUSY by now
        await ExecuteAsync(other, "ROLLBACK");

        // Inserts still fail and no traffic comes: /ready must still say so.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await gateway.Client.GetAsync("/ready")).StatusCode);
    }
}

/// <summary>/ready with a Redis that answers PING but refuses every write.</summary>
public sealed class RedisReadinessTests
{
    [Fact]
    public async Task Ready_is_not_ready_while_redis_refuses_claims()
    {
        using var redis = RedisServer.Start();
        await using var gateway = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = redis.Configuration });
        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("echo", new { a = 1 }, "before")).StatusCode);

        // Out of memory with noeviction (the setting /health asks for): every write is refused.
        using var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Configuration + ",allowAdmin=true");
        await admin.GetDatabase().ExecuteAsync("CONFIG", "SET", "maxmemory-policy", "noeviction");
        await admin.GetDatabase().ExecuteAsync("CONFIG", "SET", "maxmemory", "1");

        var refused = await gateway.ExecuteAsync("echo", new { a = 2 }, "during");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("store_unavailable", (await Json.ReadAsync(refused)).Str("code"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await gateway.Client.GetAsync("/ready")).StatusCode);
        await admin.GetDatabase().ExecuteAsync("CONFIG", "SET", "maxmemory", "0");
    }
}
