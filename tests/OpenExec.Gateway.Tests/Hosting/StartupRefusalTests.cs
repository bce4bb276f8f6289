using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Tests.Infrastructure;
using OpenExec.Gateway.Tests.Pipeline;

namespace OpenExec.Gateway.Tests.Hosting;

/// <summary>Settings the gateway cannot use are refused at start-up, each naming its setting, never thrown.</summary>
public sealed class StartupRefusalTests : IDisposable
{
    private readonly List<string> _dirs = [];

    public void Dispose() => _dirs.ForEach(TempDir.Delete);

    private IReadOnlyList<string> Refused(string[] settings, IDictionary<string, string?>? environment = null)
    {
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", .. settings], out var problems, environment ?? new Dictionary<string, string?>());
        Assert.Null(app);
        Assert.NotEmpty(problems);
        return problems;
    }

    [Theory]
    [InlineData("OpenExec:MaxConcurrentRequests", "abc")]
    [InlineData("OpenExec:AllowAnyTenant", "yes")]
    [InlineData("OpenExec:BackendTimeout", "30s")]
    [InlineData("OpenExec:Telemetry:Enabled", "yes")]
    public void A_setting_of_the_wrong_type_is_a_problem_naming_it(string setting, string value)
    {
        var problems = Refused([$"--{setting}={value}"]);
        Assert.Contains(problems, p => p.Contains(setting, StringComparison.Ordinal));
    }

    [Fact]
    public void A_configuration_file_that_is_missing_or_not_json_is_a_problem_naming_it()
    {
        var missing = Refused([], new Dictionary<string, string?> { ["OPENEXEC_CONFIG"] = "/nonexistent/openexec.json" });
        Assert.Contains(missing, p => p.Contains("OPENEXEC_CONFIG", StringComparison.Ordinal) && p.Contains("/nonexistent/openexec.json", StringComparison.Ordinal));

        var dir = TempDir.Create();
        _dirs.Add(dir);
        var broken = Path.Combine(dir, "broken.json");
        File.WriteAllText(broken, """{"OpenExec": {"Mode": "demo",""");
        var invalid = Refused(["--config", broken]);
        Assert.Contains(invalid, p => p.Contains("--config", StringComparison.Ordinal) && p.Contains(broken, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_data_dir_last_run_with_redis_is_refused_without_redis_until_moved_back_on_purpose()
    {
        // A deployment that lost OPENEXEC_REDIS: the nonces this data dir used are in Redis, and
        // the embedded store would take them for free.
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        string[] args = ["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}"];
        var none = new Dictionary<string, string?>();
        await StartedAndStoppedAsync(GatewayApp.Build([.. args, "--ConnectionStrings:Redis=127.0.0.1:1"], out _, none));

        Assert.Null(GatewayApp.Build(args, out var problems, none));
        Assert.Contains(problems, p => p.Contains("OPENEXEC_REDIS", StringComparison.Ordinal) && p.Contains(GatewayIdentity.RedisStoreMarker, StringComparison.Ordinal));

        // With Redis again it starts; and moved back on purpose (the marker deleted), so does the embedded store.
        await StartedAndStoppedAsync(GatewayApp.Build([.. args, "--ConnectionStrings:Redis=127.0.0.1:1"], out _, none));
        File.Delete(Path.Combine(dataDir, GatewayIdentity.RedisStoreMarker));
        await StartedAndStoppedAsync(GatewayApp.Build(args, out _, none));

        static async Task StartedAndStoppedAsync(WebApplication? app)
        {
            Assert.NotNull(app);
            // Resolved, so that the container releases the data dir's lock when disposed.
            app.Services.GetRequiredService<GatewayIdentity>();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public void Audit_tokens_given_as_one_plain_value_are_refused_rather_than_ignored()
    {
        var problems = Refused(["--OpenExec:AuditTokens=s3cret"]);
        Assert.Contains(problems, p => p.Contains("OpenExec:AuditTokens:0", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("-1.00:00:00")]
    public void A_nonce_retention_of_zero_or_less_is_refused_in_demo_mode_too(string retention)
    {
        var problems = Refused([$"--OpenExec:NonceRetention={retention}"]);
        Assert.Contains(problems, p => p.Contains("OpenExec:NonceRetention", StringComparison.Ordinal));
    }

    [Fact]
    public void A_route_run_by_execute_with_transforms_is_refused_by_name()
    {
        // /execute calls the cluster directly: a credential header set by a transform would reach
        // the backend on proxied calls only.
        var problems = Refused([
            "--ReverseProxy:Routes:mail:ClusterId=tools", "--ReverseProxy:Routes:mail:Match:Path=/v1/send",
            "--ReverseProxy:Routes:mail:Metadata:OpenExec.Action=send_email", "--ReverseProxy:Routes:mail:Metadata:OpenExec.ExecutePath=/v1/send",
            "--ReverseProxy:Routes:mail:Transforms:0:RequestHeader=Authorization", "--ReverseProxy:Routes:mail:Transforms:0:Set=Bearer tool-key",
            "--ReverseProxy:Clusters:tools:Destinations:d1:Address=http://127.0.0.1:9"]);
        Assert.Contains(problems, p => p.Contains("ReverseProxy:Routes:mail", StringComparison.Ordinal) && p.Contains("Transforms", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    public void An_empty_audit_token_is_refused_by_name(string token)
    {
        var problems = Refused(["--OpenExec:AuditTokens:0=good-token", $"--OpenExec:AuditTokens:1={token}"]);
        Assert.Contains(problems, p => p.Contains("OpenExec:AuditTokens:1 is empty", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("67108865")]
    public void A_buffered_response_limit_outside_1_KiB_to_64_MiB_is_refused(string bytes)
    {
        var problems = Refused([$"--OpenExec:MaxBufferedResponse={bytes}"]);
        Assert.Contains(problems, p => p.Contains("OpenExec:MaxBufferedResponse", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("1024")]
    [InlineData("67108864")]
    public async Task A_buffered_response_limit_at_either_end_of_its_range_is_accepted(string bytes)
    {
        var dataDir = TempDir.Create();
        _dirs.Add(dataDir);
        var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", $"--OpenExec:MaxBufferedResponse={bytes}"], out var problems, new Dictionary<string, string?>());
        Assert.True(app is not null, string.Join("; ", problems));
        await app.DisposeAsync();
    }

    [Fact]
    public void A_damaged_pem_block_beside_a_good_key_is_refused()
    {
        using var governance = new Governance();
        using var other = new Governance();
        var good = governance.PublicPem;
        var damaged = other.PublicPem.Replace("MC", "M#", StringComparison.Ordinal);
        var problems = Refused([], governance.Environment(publicKeys: good + "\n" + damaged));
        Assert.Contains(problems, p => p.Contains("CLAWSHIELD_PUBLIC_KEY", StringComparison.Ordinal));
    }
}
