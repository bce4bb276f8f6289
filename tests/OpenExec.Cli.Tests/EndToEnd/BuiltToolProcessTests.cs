using OpenExec.Cli.Tests.Infrastructure;
using OpenExec.Core.Crypto;

namespace OpenExec.Cli.Tests.EndToEnd;

/// <summary>The real built tool as a child process (<c>dotnet openexec.dll ...</c>): exit codes, stdout and stderr as a shell sees them.</summary>
public sealed class BuiltToolProcessTests(ClawShieldGatewayFixture fixture) : IClassFixture<ClawShieldGatewayFixture>
{
    [Fact]
    public async Task Help_lists_every_command_and_exits_zero()
    {
        var run = await Tool.RunProcessAsync("--help");

        Assert.True(run.ExitCode == 0, run.ToString());
        foreach (var command in new[] { "keygen", "approve", "hash", "receipts" })
        {
            Assert.Contains(command, run.Out, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Keygen_then_hash_and_approve_work_from_the_shell()
    {
        var dir = TempDir.Create();
        try
        {
            var keygen = await Tool.RunProcessAsync("keygen", "--private", Path.Combine(dir, "k.pem"), "--public", Path.Combine(dir, "k.pub"));
            Assert.True(keygen.ExitCode == 0, keygen.ToString());
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "k.pem")));
            }
            using var key = ReceiptSigningKey.FromPem(File.ReadAllText(Path.Combine(dir, "k.pem")));

            var again = await Tool.RunProcessAsync("keygen", "--private", Path.Combine(dir, "k.pem"), "--public", Path.Combine(dir, "k.pub"));
            Assert.Equal(2, again.ExitCode);
            Assert.Contains("already exists", again.Err, StringComparison.Ordinal);

            var hash = await Tool.RunProcessAsync("hash", "--action", "echo", "--payload", """{"msg":"hello world"}""");
            Assert.True(hash.ExitCode == 0, hash.ToString());
            Assert.Matches("^[0-9a-f]{64}$", hash.Out.Trim());

            var approve = await Tool.RunProcessAsync("approve", "--key", Path.Combine(dir, "k.pem"), "--tenant", "t", "--action", "echo", "--payload", """{"msg":"hello world"}""");
            Assert.True(approve.ExitCode == 0, approve.ToString());
            Assert.Contains(hash.Out.Trim(), approve.Out, StringComparison.Ordinal);
        }
        finally
        {
            TempDir.Delete(dir);
        }
    }

    [Fact]
    public async Task Audit_exits_0_on_the_export_and_1_naming_the_receipt_when_one_is_deleted()
    {
        var ok = await Tool.RunProcessAsync("receipts", "audit", "--file", fixture.ExportFile, "--keys", fixture.KeysFile, "--head", fixture.CheckpointFile);
        Assert.True(ok.ExitCode == 0, ok.ToString());

        var (lines, _, execIds) = fixture.Export();
        var deleted = fixture.WriteVariant("process-deleted.ndjson", lines.Where((_, i) => i != 1));
        var bad = await Tool.RunProcessAsync("receipts", "audit", "--file", deleted, "--keys", fixture.KeysFile);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains($"seq 3 exec_id {execIds[2]}", bad.Out, StringComparison.Ordinal);
        Assert.Contains("check seq", bad.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_bad_input_and_network_errors_have_distinct_exit_codes_and_say_why_on_stderr()
    {
        var usage = await Tool.RunProcessAsync("receipts", "audit");
        Assert.Equal(2, usage.ExitCode);
        Assert.Contains("--file", usage.Err, StringComparison.Ordinal);

        var badKeys = fixture.WriteVariant("bad-keys.json", ["{\"keys\":[{\"kid\":\"0000000000000000\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}"]);
        var badInput = await Tool.RunProcessAsync("receipts", "audit", "--file", fixture.ExportFile, "--keys", badKeys);
        Assert.Equal(2, badInput.ExitCode);
        Assert.Contains("not the fingerprint of its key", badInput.Err, StringComparison.Ordinal);

        var network = await Tool.RunProcessAsync("receipts", "audit", "--file", fixture.ExportFile, "--url", "http://127.0.0.1:1");
        Assert.Equal(3, network.ExitCode);
        Assert.Contains("Cannot reach", network.Err, StringComparison.Ordinal);
        Assert.Equal("", network.Out);
    }

    [Fact]
    public async Task The_audit_token_may_come_from_the_environment_instead_of_the_process_list()
    {
        // An argument is readable by every local user (ps); the environment is not.
        var exported = Path.Combine(fixture.Dir, "token-from-environment.ndjson");
        var run = await Tool.RunProcessWithEnvironmentAsync(
            new Dictionary<string, string> { ["OPENEXEC_AUDIT_TOKEN"] = ClawShieldGatewayFixture.AuditToken },
            "receipts", "export", "--url", fixture.Gateway.Url, "--out", exported);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(File.ReadAllLines(fixture.ExportFile).Length, File.ReadAllLines(exported).Length);

        var refused = await Tool.RunProcessWithEnvironmentAsync(
            new Dictionary<string, string> { ["OPENEXEC_AUDIT_TOKEN"] = "not-a-token" },
            "receipts", "export", "--url", fixture.Gateway.Url, "--out", Path.Combine(fixture.Dir, "wrong-token.ndjson"));
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("OPENEXEC_AUDIT_TOKEN", refused.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("not-a-token", refused.Err, StringComparison.Ordinal);
    }
}
