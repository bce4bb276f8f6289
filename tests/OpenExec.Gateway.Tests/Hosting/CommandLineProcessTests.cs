using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Hosting;

/// <summary>
/// The command line as an operator meets it, with the real gateway as a child process: a
/// misread argument refuses the start (exit 2, named on stderr) and <c>--help</c> prints the
/// usage and starts nothing (exit 0).
/// </summary>
public sealed class CommandLineProcessTests : IDisposable
{
    private readonly string _root = TempDir.Create();

    public void Dispose() => TempDir.Delete(_root);

    [Fact]
    public async Task A_switch_that_would_swallow_the_mode_refuses_to_start_naming_it()
    {
        // "--verbose" took "--OpenExec:Mode=clawshield" as its value: the gateway served in demo
        // mode, running requests without approval.
        await using var exit = await GatewayProcess.RunToExitAsync(Path.Combine(_root, "data"), ["--verbose", "--OpenExec:Mode=clawshield"]);

        Assert.True(exit.ExitCode == 2, exit.Output);
        Assert.StartsWith("OpenExec Gateway refused to start: invalid configuration", exit.StandardError, StringComparison.Ordinal);
        Assert.Contains("'--verbose' has no '='", exit.StandardError, StringComparison.Ordinal);
        Assert.Contains("'--OpenExec:Mode=…'", exit.StandardError, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_root, "data")), "the data dir was made");
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("-?")]
    [InlineData("--help|--urls|http://127.0.0.1:0")] // "help" took "--urls": it served on the default address
    public async Task Help_prints_the_usage_and_starts_nothing(string args)
    {
        var dataDir = Path.Combine(_root, "data");
        await using var exit = await GatewayProcess.RunToExitAsync(dataDir, args.Split('|'));

        Assert.True(exit.ExitCode == 0, exit.Output);
        Assert.Contains("Usage: dotnet OpenExec.Gateway.dll", exit.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("OPENEXEC_CONFIG=FILE or --config FILE", exit.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("README.md", exit.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("", exit.StandardError);
        Assert.False(Directory.Exists(dataDir), "the data dir was made");
    }

    [Fact]
    public async Task A_wildcard_log_rule_that_matches_a_held_category_does_not_print_request_paths()
    {
        // "*Microsoft.AspNetCore.Hosting.Diagnostics", counted with its '*', is one character more
        // specific than the rule that holds that category off, and won: "Request starting ... GET
        // http://.../path?query" was printed for every request (a proxied call's path and query
        // are part of its payload).
        const string marker = "MARKER-2c81e4";
        // A shorter wildcard ("*") loses to the hold anyway and is left alone: held, it would
        // silence every category it matches, the host's start-up lines among them.
        await using var gateway = await GatewayProcess.StartAsync(Path.Combine(_root, "data"),
            ["--Logging:LogLevel:*Microsoft.AspNetCore.Hosting.Diagnostics=Trace", "--Logging:LogLevel:Default=Information",
                "--Logging:LogLevel:*=Information"]);
        using var answer = await gateway.Client.GetAsync($"/health?q={marker}");
        var warnings = (await Json.ReadAsync(answer)).GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!).ToList();
        Assert.Equal(0, await gateway.StopAsync());

        Assert.Contains("Now listening on", gateway.StandardOutput, StringComparison.Ordinal);
        Assert.NotEmpty(warnings);
        Assert.All(warnings, warning => Assert.Contains(warning, gateway.StandardOutput, StringComparison.Ordinal));
        Assert.DoesNotContain(marker, gateway.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_start_up_log_warns_as_health_does_of_approvals_not_checked()
    {
        // README: a demo gateway given a tenant or governance key "ignores them, and /health (and
        // the start-up log) warns": the log said nothing, and the operator who forgot
        // OPENEXEC_MODE=clawshield watches the start, not /health.
        await using var gateway = await GatewayProcess.StartAsync(Path.Combine(_root, "data"), environment: new Dictionary<string, string?> { ["CLAWSHIELD_TENANT_ID"] = "tenant-001" });
        var health = await gateway.HealthAsync();
        Assert.Equal(0, await gateway.StopAsync());

        var warnings = health.GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!).ToList();
        Assert.Contains(warnings, w => w.StartsWith("Demo mode, yet CLAWSHIELD_TENANT_ID", StringComparison.Ordinal));
        foreach (var warning in warnings)
        {
            Assert.True(gateway.StandardOutput.Contains(warning, StringComparison.Ordinal), $"not in the start-up log: {warning}\n{gateway.Output}");
        }
    }

    [Fact]
    public async Task A_listen_address_in_use_refuses_to_start_in_a_few_lines_without_the_hosts_stack()
    {
        // The commonest start-up failure: the host logged "Hosting failed to start" with a
        // 30-line stack before the gateway's own refusal named the address.
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;

        await using var exit = await GatewayProcess.RunToExitAsync(Path.Combine(_root, "data"), ["--urls", $"http://127.0.0.1:{port}"]);

        Assert.True(exit.ExitCode == 2, exit.Output);
        Assert.StartsWith("OpenExec Gateway refused to start", exit.StandardError, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{port}: address already in use", exit.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("Hosting failed to start", exit.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(" at Microsoft.", exit.Output, StringComparison.Ordinal);
    }
}
