using Microsoft.Extensions.Time.Testing;
using OpenExec.Cli.Tests.Infrastructure;
using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;

namespace OpenExec.Cli.Tests.Commands;

public sealed class ApproveCommandTests : IAsyncLifetime
{
    private readonly string _dir = TempDir.Create();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 18, 5, 0, TimeSpan.Zero));

    private string KeyPath => Path.Combine(_dir, "gov.pem");

    private string PublicPath => Path.Combine(_dir, "gov.pub");

    public async Task InitializeAsync() =>
        Assert.Equal(0, (await Tool.RunAsync("keygen", "--private", KeyPath, "--public", PublicPath)).ExitCode);

    public Task DisposeAsync()
    {
        TempDir.Delete(_dir);
        return Task.CompletedTask;
    }

    private ApprovalVerifier Verifier => new(Ed25519PublicKeys.ParsePem(File.ReadAllText(PublicPath)));

    /// <summary>The gateway refuses such a name before it reads an approval: none is signed for it.</summary>
    [Theory]
    [InlineData("")]
    [InlineData("send email")]
    [InlineData("send/email")]
    public async Task No_approval_is_minted_for_what_is_not_an_action_name(string action)
    {
        var run = await Tool.RunAsync(_time, "approve", "--key", KeyPath, "--tenant", "tenant-001", "--action", action, "--payload", "{}");

        Assert.Equal(2, run.ExitCode);
        Assert.Equal("", run.Out);
        Assert.Contains("is not an action name", run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_private_key_pasted_where_its_file_goes_is_refused_without_printing_it()
    {
        var pem = File.ReadAllText(KeyPath);
        var run = await Tool.RunAsync(_time, "approve", "--key", pem, "--tenant", "tenant-001", "--action", "echo", "--payload", "{}");

        Assert.Equal(2, run.ExitCode);
        Assert.Equal("", run.Out);
        Assert.Contains("--key takes the path of the PEM key file, not the key itself", run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain(pem.Split('\n')[1].Trim()[..20], run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mints_a_signed_v1_artifact_for_an_execute_request()
    {
        var run = await Tool.RunAsync(_time, "approve", "--key", KeyPath, "--tenant", "tenant-001", "--action", "echo", "--payload", """{"msg":"hello world"}""", "--ttl", "120");

        Assert.True(run.ExitCode == 0, run.ToString());
        var artifact = ApprovalArtifact.Parse(StrictJson.Parse(run.Out.Trim()));
        Assert.True(Verifier.VerifySignature(artifact));
        Assert.Equal("tenant-001", artifact.TenantId);
        Assert.Equal(ActionHash.Compute("echo", StrictJson.Parse("""{"msg":"hello world"}""")), artifact.ActionHash);
        Assert.Equal("2026-11-24T18:05:00.000000", artifact.IssuedAt);
        Assert.Equal("2026-11-24T18:07:00.000000", artifact.ExpiresAt);
        Assert.Null(ApprovalWindow.Check(artifact, _time.GetUtcNow(), ApprovalWindow.DefaultSkew, ApprovalWindow.DefaultMaxLifetime));
        Assert.Contains(artifact.ActionHash, run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_approval_id_that_is_no_uuid_is_minted_with_a_warning_that_the_gateway_refuses_it()
    {
        var odd = await Tool.RunAsync(_time, "approve", "--key", KeyPath, "--tenant", "t", "--action", "echo", "--approval-id", "apr-7");
        Assert.True(odd.ExitCode == 0, odd.ToString());
        Assert.Equal("apr-7", ApprovalArtifact.Parse(StrictJson.Parse(odd.Out.Trim()), anyApprovalId: true).ApprovalId);
        Assert.Contains("--approval-id is no UUID", odd.Err, StringComparison.Ordinal);

        var uuid = await Tool.RunAsync(_time, "approve", "--key", KeyPath, "--tenant", "t", "--action", "echo", "--approval-id", "0b6a1f9e-5c1d-4b55-9b1a-2d6f3c1e9a77");
        Assert.True(uuid.ExitCode == 0, uuid.ToString());
        Assert.Equal("0b6a1f9e-5c1d-4b55-9b1a-2d6f3c1e9a77", ApprovalArtifact.Parse(StrictJson.Parse(uuid.Out.Trim())).ApprovalId);
        Assert.DoesNotContain("warning", uuid.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_ttl_over_the_gateways_default_lifetime_is_minted_with_a_warning_naming_the_setting()
    {
        // A gateway with the default OpenExec:MaxApprovalLifetime refuses the approval (403
        // approval_lifetime); one configured for longer accepts it, so it is still minted.
        var gatewayDefault = new Gateway.Configuration.OpenExecOptions().MaxApprovalLifetime;
        var over = await Tool.RunAsync(_time, "approve", "--key", KeyPath, "--tenant", "t", "--action", "echo", "--ttl", "100000");
        var limit = ((int)gatewayDefault.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var atLimit = await Tool.RunAsync(_time, "approve", "--key", KeyPath, "--tenant", "t", "--action", "echo", "--ttl", limit);

        Assert.True(over.ExitCode == 0, over.ToString());
        var artifact = ApprovalArtifact.Parse(StrictJson.Parse(over.Out.Trim()));
        Assert.Equal("approval_lifetime", ApprovalWindow.Check(artifact, _time.GetUtcNow(), ApprovalWindow.DefaultSkew, gatewayDefault)?.Code);
        Assert.Contains("warning: --ttl 100000", over.Err, StringComparison.Ordinal);
        Assert.Contains("OpenExec:MaxApprovalLifetime", over.Err, StringComparison.Ordinal);
        Assert.True(atLimit.ExitCode == 0, atLimit.ToString());
        Assert.Null(ApprovalWindow.Check(ApprovalArtifact.Parse(StrictJson.Parse(atLimit.Out.Trim())), _time.GetUtcNow(), ApprovalWindow.DefaultSkew, gatewayDefault));
        Assert.DoesNotContain("warning", atLimit.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_payload_the_payload_is_the_empty_object_as_at_the_gateway()
    {
        var run = await Tool.RunAsync(_time, "approve", "--key", KeyPath, "--tenant", "t", "--action", "echo");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(ActionHash.Compute("echo", StrictObject.Empty), ApprovalArtifact.Parse(StrictJson.Parse(run.Out.Trim())).ActionHash);
    }

    [Fact]
    public async Task Header_form_is_base64url_of_the_artifact_for_a_proxied_request()
    {
        var run = await Tool.RunAsync(_time, "approve", "--key", KeyPath, "--tenant", "t", "--action", "send_email", "--http", "post", "/v1/send?priority=high", "--body", """{"to":"a@example.com"}""", "--header");

        Assert.True(run.ExitCode == 0, run.ToString());
        var artifact = ApprovalArtifact.FromHeader(run.Out.Trim());
        Assert.True(Verifier.VerifySignature(artifact));
        var payload = ProxiedRequestPayload.Create("POST", "/v1/send", "priority=high", StrictJson.Parse("""{"to":"a@example.com"}"""));
        Assert.Equal(ActionHash.Compute("send_email", payload), artifact.ActionHash);
    }

    [Theory]
    [InlineData("--payload", "[1,2]", "must be a JSON object")]
    [InlineData("--payload", "{\"a\":1,\"a\":2}", "duplicate_key")]
    [InlineData("--payload", "{\"a\":NaN}", "not strict JSON")]
    [InlineData("--ttl", "0", "--ttl")]
    public async Task Bad_input_is_refused_with_exit_code_2_and_a_sentence_naming_it(string option, string value, string expected)
    {
        var run = await Tool.RunAsync(_time, "approve", "--key", KeyPath, "--tenant", "t", "--action", "echo", option, value);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(expected, run.Err, StringComparison.Ordinal);
        Assert.Equal("", run.Out);
    }

    [Fact]
    public async Task A_public_key_or_missing_file_given_as_the_signing_key_is_refused()
    {
        var wrong = await Tool.RunAsync(_time, "approve", "--key", PublicPath, "--tenant", "t", "--action", "echo");
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("not an Ed25519 private key", wrong.Err, StringComparison.Ordinal);

        var missing = await Tool.RunAsync(_time, "approve", "--key", Path.Combine(_dir, "none.pem"), "--tenant", "t", "--action", "echo");
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("none.pem", missing.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Payload_and_http_together_or_body_without_http_are_usage_errors()
    {
        var both = await Tool.RunAsync(_time, "approve", "--key", KeyPath, "--tenant", "t", "--action", "a", "--payload", "{}", "--http", "GET", "/x");
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("not both", both.Err, StringComparison.Ordinal);

        var orphan = await Tool.RunAsync(_time, "approve", "--key", KeyPath, "--tenant", "t", "--action", "a", "--body", "{}");
        Assert.Equal(2, orphan.ExitCode);
        Assert.Contains("--http", orphan.Err, StringComparison.Ordinal);

        var missing = await Tool.RunAsync(_time, "approve", "--key", KeyPath, "--action", "a");
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--tenant", missing.Err, StringComparison.Ordinal);
    }
}
