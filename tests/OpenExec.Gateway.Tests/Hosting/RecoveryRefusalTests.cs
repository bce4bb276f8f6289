using Microsoft.Extensions.DependencyInjection;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Hosting;

/// <summary>
/// Before serving, the gateway finishes the claims a stopped process left unfinished (their
/// outcome_unknown receipts). A store that cannot write them (a full disk) refuses the start
/// cleanly, as any start that cannot serve: it was an unhandled exception (SIGABRT).
/// </summary>
public sealed class RecoveryRefusalTests
{
    [Fact]
    public async Task A_start_whose_recovery_cannot_write_is_refused_with_its_reason()
    {
        var dataDir = TempDir.Create();
        using var errors = new StringWriter();
        var listened = false;

        var exitCode = await GatewayApp.RunAsync(
            ["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", "--Logging:LogLevel:Default=Warning"],
            errors,
            builder =>
            {
                builder.Services.AddSingleton<IExecutionStore>(sp => new FlakyStore(sp.GetRequiredService<SqliteExecutionStore>()) { FailRecovery = true });
                builder.Services.AddHostedService(_ => new StartWatch(() => listened = true));
            }).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(2, exitCode);
        Assert.False(listened, "the gateway served");
        var text = errors.ToString();
        Assert.StartsWith("OpenExec Gateway refused to start: the store cannot record the outcome of claims a stopped process left unfinished", text, StringComparison.Ordinal);
        Assert.Contains("injected: the recovered claims' receipts could not be written", text, StringComparison.Ordinal);

        // The data dir is free again (its lock released): the next start recovers and serves.
        await using var next = await GatewayServer.StartAsync(dataDir: dataDir);
        await GatewayAssert.ExecutedAsync(await next.ExecuteAsync("echo", new { }, "after-refusal"));
    }

    [Fact]
    public async Task A_stop_asked_for_while_starting_ends_the_start_cleanly_not_in_a_crash()
    {
        // SIGTERM while Kestrel was binding: the start's cancellation escaped (SIGABRT, exit 134).
        var dataDir = TempDir.Create();
        using var errors = new StringWriter();
        try
        {
            var exitCode = await GatewayApp.RunAsync(
                ["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", "--Logging:LogLevel:Default=None"],
                errors,
                builder => builder.Services.AddHostedService(sp => new StopWhileStarting(sp.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>())))
                .WaitAsync(TimeSpan.FromSeconds(30));

            Assert.Equal(0, exitCode);
            Assert.Equal("", errors.ToString());
            // Stopped in order: the data dir's lock is released.
            await using var next = await GatewayServer.StartAsync(dataDir: dataDir);
            await GatewayAssert.ExecutedAsync(await next.ExecuteAsync("echo", new { }, "after-stop"));
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    [Fact]
    public async Task A_listen_address_in_use_is_refused_with_its_reason_not_a_crash()
    {
        // Kestrel finds it only when it binds: an unhandled exception (SIGABRT, exit 134).
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        var dataDir = TempDir.Create();
        using var errors = new StringWriter();
        try
        {
            var exitCode = await GatewayApp.RunAsync(
                ["--urls", $"http://127.0.0.1:{port}", $"--OpenExec:DataDir={dataDir}", "--Logging:LogLevel:Default=None"], errors)
                .WaitAsync(TimeSpan.FromSeconds(30));

            Assert.Equal(2, exitCode);
            var text = errors.ToString();
            Assert.StartsWith("OpenExec Gateway refused to start", text, StringComparison.Ordinal);
            Assert.Contains($"127.0.0.1:{port}", text, StringComparison.Ordinal);
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    [Fact]
    public async Task A_route_YARP_refuses_is_refused_with_its_reason_not_a_crash()
    {
        // An action route with no Match: YARP's own validation, which runs as the app starts.
        var dataDir = TempDir.Create();
        using var errors = new StringWriter();
        try
        {
            var exitCode = await GatewayApp.RunAsync(
                ["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", "--Logging:LogLevel:Default=None",
                 "--ReverseProxy:Routes:r:ClusterId=c", "--ReverseProxy:Routes:r:Metadata:OpenExec.Action=op",
                 "--ReverseProxy:Clusters:c:Destinations:d:Address=http://127.0.0.1:9/"], errors)
                .WaitAsync(TimeSpan.FromSeconds(30));

            Assert.Equal(2, exitCode);
            var text = errors.ToString();
            Assert.StartsWith("OpenExec Gateway refused to start", text, StringComparison.Ordinal);
            Assert.Contains("ReverseProxy: Route 'r' requires Hosts or Path", text, StringComparison.Ordinal);
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    [Theory]
    [InlineData("header")]
    [InlineData("truncated")]
    public async Task A_damaged_embedded_store_is_refused_with_its_reason_not_a_crash(string damage)
    {
        // SQLite's "file is not a database" / "malformed" was an unhandled exception (SIGABRT, exit 134).
        var dataDir = TempDir.Create();
        try
        {
            await using (var first = await GatewayServer.StartAsync(dataDir: dataDir))
            {
                for (var i = 0; i < 40; i++)
                {
                    await GatewayAssert.ExecutedAsync(await first.ExecuteAsync("echo", new { text = new string('x', 500), i }, $"damage-{i}"));
                }
            }
            var db = Path.Combine(dataDir, "openexec.db");
            using (var checkpoint = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Pooling=False"))
            {
                checkpoint.Open();
                using var command = checkpoint.CreateCommand();
                command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
                command.ExecuteNonQuery();
            }
            using (var file = new FileStream(db, FileMode.Open, FileAccess.ReadWrite))
            {
                if (damage == "header")
                {
                    file.Write(System.Text.Encoding.ASCII.GetBytes("not a database, not at all"));
                }
                else
                {
                    file.SetLength(file.Length / 3 + 100);
                }
            }
            using var errors = new StringWriter();

            var exitCode = await GatewayApp.RunAsync(
                ["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", "--Logging:LogLevel:Default=None"], errors)
                .WaitAsync(TimeSpan.FromSeconds(30));

            Assert.Equal(2, exitCode);
            var text = errors.ToString();
            Assert.StartsWith("OpenExec Gateway refused to start: the embedded store cannot be read", text, StringComparison.Ordinal);
            Assert.Contains(db, text, StringComparison.Ordinal);
            Assert.Contains("the file is damaged; restore the data dir from its latest backup", text, StringComparison.Ordinal);
            // Not the database alone: with the data dir's gateway-id kept, the next start would
            // sign the chain's seqs again under the same id (a fork), and it is refused.
            Assert.Contains("or move the whole data dir aside (not only the database", text, StringComparison.Ordinal);
            Assert.DoesNotContain("moving it aside starts a new chain", text, StringComparison.Ordinal);
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    /// <summary>Notes whether the host got as far as starting its services.</summary>
    /// <summary>Asks the host to stop while it is starting, as a SIGTERM then does.</summary>
    private sealed class StopWhileStarting(Microsoft.Extensions.Hosting.IHostApplicationLifetime lifetime) : Microsoft.Extensions.Hosting.IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.StopApplication();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class StartWatch(Action started) : Microsoft.Extensions.Hosting.IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            started();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
