using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using OpenExec.Core.Approvals;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Pipeline;

/// <summary>
/// ClawShield mode (SPEC sections 3 and 4): an approval must exist, be authentic, be for this
/// tenant and this exact request, be allowed, fresh and unused. Every refusal at steps 3–6 is
/// receipted as <c>rejected</c> with its code; a refusal consumes nothing.
/// </summary>
public sealed class ClawShieldTests
{
    private const string Payload = """{"msg":"hello world"}""";

    /// <summary>The fake "now" of window tests: 2026-11-24T18:00:00Z.</summary>
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 18, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Valid_artifact_executes_and_its_receipt_names_the_approval()
    {
        using var governance = new Governance();
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment());
        var approval = governance.Approve("echo", Payload, DateTimeOffset.UtcNow);

        var executed = await GatewayAssert.ExecutedAsync(await ExecuteAsync(gateway, "echo", Payload, "n-1", approval));

        Assert.Equal("hello world", executed.GetProperty("result").GetProperty("echo").Str("msg"));
        var body = executed.GetProperty("receipt_document").GetProperty("body");
        Assert.Equal("clawshield", body.Str("mode"));
        Assert.Equal(Governance.Tenant, body.Str("tenant"));
        Assert.Equal(approval.ApprovalId, body.Str("approval_id"));
        Assert.Equal(approval.Identity, body.Str("approval_sha256"));
        Assert.Equal(approval.ActionHash, body.Str("request_sha256"));
        Assert.Null(body.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Missing_or_null_artifact_is_approval_required()
    {
        using var governance = new Governance();
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment());

        foreach (var body in new[]
        {
            Governance.Body("echo", Payload, "n-absent", (string?)null),
            Governance.Body("echo", Payload, "n-null", "null"),
        })
        {
            var receipt = await AssertDeniedAsync(gateway, await gateway.PostJsonAsync("/execute", body), HttpStatusCode.Forbidden, "approval_required", "ClawShield mode requires an approval artifact");
            Assert.True(receipt.IsNull("approval_sha256"));
            Assert.True(receipt.IsNull("approval_id"));
            Assert.Equal(Governance.Tenant, receipt.Str("tenant"));
        }
    }

    private const string ForgedId = "f0f0f0f0-0000-4000-8000-00000000f0f0";

    [Fact]
    public async Task Artifact_signed_by_another_key_is_invalid_signature_and_its_claims_stay_out_of_the_receipt()
    {
        using var governance = new Governance();
        using var impostor = new Governance();
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment());
        var forged = impostor.Minter.Mint("tenant-forged", Governance.Hash("echo", Payload), DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(5), ForgedId);

        var receipt = await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-1", forged), HttpStatusCode.Forbidden, "invalid_signature", "Invalid signature: approval artifact is not authentic");

        Assert.True(receipt.IsNull("approval_id"));
        Assert.Equal(forged.Identity, receipt.Str("approval_sha256"));
        Assert.Equal(Governance.Tenant, receipt.Str("tenant"));
        var document = await gateway.Client.GetStringAsync($"/receipts/{receipt.Str("exec_id")}");
        Assert.DoesNotContain(ForgedId, document, StringComparison.Ordinal);
        Assert.DoesNotContain("tenant-forged", document, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Any_field_changed_after_signing_is_invalid_signature()
    {
        using var governance = new Governance();
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment());
        var approval = governance.Approve("echo", Payload, DateTimeOffset.UtcNow);
        var later = ApprovalTime.Format(DateTimeOffset.UtcNow.AddMinutes(10));

        var tampered = new[]
        {
            approval with { ApprovalId = approval.ApprovalId[..^1] + (approval.ApprovalId[^1] == '0' ? "1" : "0") },
            approval with { TenantId = "tenant-002" },
            approval with { ExpiresAt = later },
            approval with { IssuedAt = ApprovalTime.Format(DateTimeOffset.UtcNow) },
            approval with { Signature = ReplaceFirstChar(approval.Signature) },
        };
        for (var i = 0; i < tampered.Length; i++)
        {
            var receipt = await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, $"n-{i}", tampered[i]), HttpStatusCode.Forbidden, "invalid_signature", "Invalid signature: approval artifact is not authentic");
            Assert.True(receipt.IsNull("approval_id"));
        }
    }

    [Fact]
    public async Task Approval_for_another_tenant_is_tenant_mismatch_without_naming_ours()
    {
        using var governance = new Governance();
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment());
        var approval = governance.Approve("echo", Payload, DateTimeOffset.UtcNow, tenant: "tenant-002");

        var response = await ExecuteAsync(gateway, "echo", Payload, "n-1", approval);
        var text = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain(Governance.Tenant, text, StringComparison.Ordinal);

        await AssertDeniedAsync(gateway, response, HttpStatusCode.Forbidden, "tenant_mismatch", "Tenant mismatch: approval is for another tenant");
    }

    [Fact]
    public async Task Approval_for_a_tenant_whose_id_ends_with_ours_cannot_be_recut_to_run_here()
    {
        using var governance = new Governance();
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment());
        // The same governance key approves for eu-tenant-001 too: moving "eu-" from tenant_id to
        // the end of approval_id keeps the signed message, and so the signature, unchanged.
        var theirs = governance.Approve("echo", Payload, DateTimeOffset.UtcNow, tenant: "eu-" + Governance.Tenant);
        var recut = theirs with { ApprovalId = theirs.ApprovalId + "eu-", TenantId = Governance.Tenant };
        Assert.Equal(theirs.SignedMessage(), recut.SignedMessage());

        var problem = await GatewayAssert.ProblemAsync(await ExecuteAsync(gateway, "echo", Payload, "n-1", recut), HttpStatusCode.BadRequest, "invalid_approval");
        Assert.Contains("approval_id must be a UUID", problem.Str("detail"), StringComparison.Ordinal);
        Assert.Empty(await gateway.ReceiptsAsync());

        // Upper-case hex is a UUID too; the artifact as signed is for another tenant.
        var upper = governance.Approve("echo", Payload, DateTimeOffset.UtcNow, tenant: "eu-" + Governance.Tenant, approvalId: Guid.NewGuid().ToString().ToUpperInvariant());
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-2", upper), HttpStatusCode.Forbidden, "tenant_mismatch", "Tenant mismatch: approval is for another tenant");
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-3", theirs), HttpStatusCode.Forbidden, "tenant_mismatch", "Tenant mismatch: approval is for another tenant");
    }

    [Fact]
    public async Task Demo_mode_given_a_governance_key_or_tenant_says_that_approvals_are_not_checked()
    {
        // Mode left at its default while the governance key is set: everything runs unapproved.
        using var governance = new Governance();
        static async Task<string[]> WarningsAsync(GatewayServer gateway)
            => (await Json.ReadAsync(await gateway.Client.GetAsync("/health"))).GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!).ToArray();
        await using (var plain = await GatewayServer.StartAsync())
        {
            Assert.DoesNotContain(await WarningsAsync(plain), w => w.Contains("WITHOUT approval", StringComparison.Ordinal));
        }
        var environment = governance.Environment();
        environment.Remove("OPENEXEC_MODE");
        await using var demo = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["OpenExec:Mode"] = "demo" }, environment);
        var warning = Assert.Single(await WarningsAsync(demo), w => w.Contains("WITHOUT approval", StringComparison.Ordinal));
        Assert.Contains("CLAWSHIELD_PUBLIC_KEY (OpenExec:PublicKey) and CLAWSHIELD_TENANT_ID (OpenExec:TenantId) are set", warning, StringComparison.Ordinal);
        await GatewayAssert.ExecutedAsync(await demo.ExecuteAsync("echo", new { a = 1 }, "unapproved"));
    }

    [Fact]
    public async Task Any_approval_id_is_accepted_only_when_configured_and_health_warns()
    {
        using var governance = new Governance();
        var approval = governance.Approve("echo", Payload, DateTimeOffset.UtcNow, approvalId: "apr_01HZX3");
        await using (var strict = await GatewayServer.StartAsync(environment: governance.Environment()))
        {
            await GatewayAssert.ProblemAsync(await ExecuteAsync(strict, "echo", Payload, "n-1", approval), HttpStatusCode.BadRequest, "invalid_approval");
            var warnings = (await Json.ReadAsync(await strict.Client.GetAsync("/health"))).GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!);
            Assert.DoesNotContain(warnings, w => w.Contains("AllowAnyApprovalId", StringComparison.Ordinal));
        }
        await using var any = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["OpenExec:AllowAnyApprovalId"] = "true" }, governance.Environment());
        var executed = await GatewayAssert.ExecutedAsync(await ExecuteAsync(any, "echo", Payload, "n-1", approval));
        Assert.Equal("apr_01HZX3", executed.GetProperty("receipt_document").GetProperty("body").Str("approval_id"));
        var anyWarnings = (await Json.ReadAsync(await any.Client.GetAsync("/health"))).GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!);
        Assert.Contains(anyWarnings, w => w.Contains("AllowAnyApprovalId", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Approval_for_another_request_is_action_hash_mismatch()
    {
        using var governance = new Governance();
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment());
        var now = DateTimeOffset.UtcNow;
        const string detail = "Action hash mismatch: approval does not match this request";

        var otherPayload = governance.Approve("echo", """{"msg":"hello world!"}""", now);
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-1", otherPayload), HttpStatusCode.Forbidden, "action_hash_mismatch", detail);

        var otherAction = governance.Approve("add", Payload, now);
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-2", otherAction), HttpStatusCode.Forbidden, "action_hash_mismatch", detail);

        // The hash is compared exactly: an upper-case spelling of the right hash is another hash.
        var upper = governance.Minter.MintRaw(Guid.NewGuid().ToString(), Governance.Tenant, Governance.Hash("echo", Payload).ToUpperInvariant(), ApprovalTime.Format(now.AddMinutes(-1)), ApprovalTime.Format(now.AddMinutes(5)));
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-3", upper), HttpStatusCode.Forbidden, "action_hash_mismatch", detail);

        // Key order and whitespace are not the request: the canonical form is.
        var reordered = governance.Approve("add", """{"a":1,"b":2}""", now);
        await GatewayAssert.ExecutedAsync(await ExecuteAsync(gateway, "add", """{ "b" : 2, "a" : 1 }""", "n-4", reordered));
    }

    [Fact]
    public async Task Action_outside_the_allow_list_is_refused_even_with_a_valid_approval()
    {
        using var governance = new Governance();
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment(allowedActions: "echo"));
        const string payload = """{"a":1,"b":2}""";

        var receipt = await AssertDeniedAsync(
            gateway,
            await ExecuteAsync(gateway, "add", payload, "n-1", governance.Approve("add", payload, DateTimeOffset.UtcNow)),
            HttpStatusCode.Forbidden,
            "action_not_allowed",
            "Action 'add' is not in the execution allow-list");

        Assert.Equal("add", receipt.Str("action"));
        await GatewayAssert.ExecutedAsync(await ExecuteAsync(gateway, "echo", Payload, "n-2", governance.Approve("echo", Payload, DateTimeOffset.UtcNow)));
    }

    public static TheoryData<string, string, string, string?> WindowRefusals() => new()
    {
        { "2026-11-24T17:50:00", "2026-11-24T17:55:00", "approval_expired", "Approval artifact expired" },
        { "2026-11-24T17:59:00", "tomorrow", "invalid_timestamp", "Invalid expires_at timestamp" },
        { "2026-11-24T17:59:00", "2026-11-24 18:05:00", "invalid_timestamp", "Invalid expires_at timestamp" },
        { "2026-11-24T17:59:00", "2026-13-24T18:05:00", "invalid_timestamp", "Invalid expires_at timestamp" },
        { "2026-11-24T17:59:00", "2026-11-24T18:05:00+2:00", "invalid_timestamp", "Invalid expires_at timestamp" },
        { "2026-11-24T17:59:00", "2026-11-24T18:05:00.1234567890Z", "invalid_timestamp", "Invalid expires_at timestamp" },
        { "2026-11-24T17:59:00", "", "invalid_timestamp", "Missing expires_at in approval artifact" },
        { "yesterday", "2026-11-24T18:05:00", "invalid_timestamp", null },
        { "", "2026-11-24T18:05:00", "invalid_timestamp", null },
        { "2026-11-24T18:05:00", "2026-11-24T18:10:00", "approval_not_yet_valid", null },
        { "2026-11-24T17:59:00", "2026-11-25T18:00:00", "approval_lifetime", null },
    };

    [Theory]
    [MemberData(nameof(WindowRefusals))]
    public async Task Approval_outside_its_time_window_is_refused_with_the_seed_sentence(string issuedAt, string expiresAt, string code, string? detail)
    {
        using var governance = new Governance();
        var time = new FakeTimeProvider(Now);
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment(), time: time);
        var approval = governance.Minter.MintRaw(Guid.NewGuid().ToString(), Governance.Tenant, Governance.Hash("echo", Payload), issuedAt, expiresAt);

        var receipt = await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-1", approval), HttpStatusCode.Forbidden, code, detail);

        // The signature verified: the receipt may name the approval.
        Assert.Equal(approval.ApprovalId, receipt.Str("approval_id"));
    }

    [Theory]
    [InlineData("expires_at", "Missing expires_at in approval artifact")]
    [InlineData("issued_at", "Invalid issued_at timestamp")]
    public async Task An_approval_without_a_timestamp_is_refused_as_invalid_timestamp_with_the_seed_sentence(string field, string detail)
    {
        using var governance = new Governance();
        var time = new FakeTimeProvider(Now);
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment(), time: time);
        // Signed as governance would sign it with the field empty, then sent without the field.
        var signed = governance.Minter.MintRaw(Guid.NewGuid().ToString(), Governance.Tenant, Governance.Hash("echo", Payload),
            field == "issued_at" ? "" : "2026-11-24T17:59:00", field == "expires_at" ? "" : "2026-11-24T18:05:00");
        var artifact = System.Text.Json.Nodes.JsonNode.Parse(signed.ToJson())!.AsObject();
        Assert.True(artifact.Remove(field));

        var response = await gateway.PostJsonAsync("/execute", Governance.Body("echo", Payload, "n-1", artifact.ToJsonString()));

        var receipt = await AssertDeniedAsync(gateway, response, HttpStatusCode.Forbidden, "invalid_timestamp", detail);
        Assert.Equal(signed.ApprovalId, receipt.Str("approval_id"));
    }

    [Fact]
    public async Task A_retention_shorter_than_an_approval_can_be_used_refuses_to_start()
    {
        // An approval is accepted from issued_at - skew to expires_at + skew: lifetime + 2 x skew
        // after its claim. One skew less and its consumed record could be forgotten while it is
        // still valid, and it would run again.
        using var governance = new Governance();
        var dataDirs = new List<string>();
        try
        {
            foreach (var (retention, starts) in new[] { ("1.00:00:30", false), ("1.00:00:59", false), ("1.00:01:00", true) })
            {
                var dataDir = TempDir.Create();
                dataDirs.Add(dataDir);
                var app = GatewayApp.Build(["--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", $"--OpenExec:NonceRetention={retention}"], out var problems, governance.Environment());
                if (starts)
                {
                    Assert.Empty(problems);
                    Assert.NotNull(app);
                    await app.DisposeAsync();
                }
                else
                {
                    Assert.Null(app);
                    Assert.Contains(problems, p => p.Contains("OpenExec:NonceRetention", StringComparison.Ordinal) && p.Contains("twice the skew", StringComparison.Ordinal));
                }
            }
        }
        finally
        {
            dataDirs.ForEach(TempDir.Delete);
        }
    }

    public static TheoryData<string, string, bool> TimestampForms() => new()
    {
        { "2026-11-24T17:59:00Z", "2026-11-24T18:05:00Z", true },
        { "2026-11-24T19:59:00+02:00", "2026-11-24T20:05:00+02:00", true },
        { "2026-11-24T12:59:00-05:00", "2026-11-24T13:05:00-05:00", true },
        { "2026-11-24T17:59:00.123456", "2026-11-24T18:05:00.123456", true },
        { "2026-11-24T17:59:00", "2026-11-24T18:05:00", true },
        { "2026-11-24T17:59:00Z", "2026-11-24T20:00:00.5+01:00", true },
        // Go's RFC3339Nano and Java's Instant: nine fractional digits (dropped beyond 100 ns).
        { "2026-11-24T17:59:00.298398000Z", "2026-11-24T18:05:00.298398000Z", true },
        { "2026-11-24T17:59:00.12345678", "2026-11-24T18:05:00.123456789+00:00", true },

        // Offsets are honoured: read without them, each of these would give the other answer.
        { "2026-11-24T17:50:00Z", "2026-11-24T19:00:00+02:00", false },
        { "2026-11-24T13:00:00-02:00", "2026-11-24T17:00:00-02:00", true },
        { "2026-11-24T17:50:00-02:00", "2026-11-24T21:00:00Z", false },
    };

    [Theory]
    [MemberData(nameof(TimestampForms))]
    public async Task Timestamps_with_Z_offset_or_none_are_read_as_the_instants_they_name(string issuedAt, string expiresAt, bool executes)
    {
        using var governance = new Governance();
        var time = new FakeTimeProvider(Now);
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment(), time: time);
        var approval = governance.Minter.MintRaw(Guid.NewGuid().ToString(), Governance.Tenant, Governance.Hash("echo", Payload), issuedAt, expiresAt);

        var response = await ExecuteAsync(gateway, "echo", Payload, "n-1", approval);

        if (executes)
        {
            await GatewayAssert.ExecutedAsync(response);
        }
        else
        {
            var problem = await Json.ReadAsync(response);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains(problem.Str("code"), new[] { "approval_expired", "approval_not_yet_valid" });
        }
    }

    public static TheoryData<string, int, int, string?> SkewEdges() => new()
    {
        // issued and expires as microseconds relative to now; skew is 30 s.
        { "expires exactly skew ago", -300_000_000, -30_000_000, null },
        { "expires skew + 1 µs ago", -300_000_000, -30_000_001, "approval_expired" },
        { "issued exactly skew ahead", 30_000_000, 300_000_000, null },
        { "issued skew + 1 µs ahead", 30_000_001, 300_000_000, "approval_not_yet_valid" },
    };

    [Theory]
    [MemberData(nameof(SkewEdges))]
    public async Task Clock_skew_is_allowed_up_to_its_exact_edge(string because, int issuedMicros, int expiresMicros, string? code)
    {
        using var governance = new Governance();
        var time = new FakeTimeProvider(Now);
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment(), time: time);
        var approval = governance.Minter.Mint(Governance.Tenant, Governance.Hash("echo", Payload), Now.AddTicks(issuedMicros * 10L), Now.AddTicks(expiresMicros * 10L));

        var response = await ExecuteAsync(gateway, "echo", Payload, "n-1", approval);

        var expected = code is null ? HttpStatusCode.OK : HttpStatusCode.Forbidden;
        Assert.True(response.StatusCode == expected, $"{because}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        if (code is null)
        {
            await GatewayAssert.ExecutedAsync(response);
        }
        else
        {
            await AssertDeniedAsync(gateway, response, HttpStatusCode.Forbidden, code, null);
        }
    }

    [Fact]
    public async Task Lifetime_of_exactly_the_maximum_executes_and_one_microsecond_more_is_refused()
    {
        using var governance = new Governance();
        var time = new FakeTimeProvider(Now);
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment(), time: time);
        var hash = Governance.Hash("echo", Payload);

        var exact = governance.Minter.Mint(Governance.Tenant, hash, Now.AddHours(-1), Now.AddHours(23));
        await GatewayAssert.ExecutedAsync(await ExecuteAsync(gateway, "echo", Payload, "n-1", exact));

        var over = governance.Minter.Mint(Governance.Tenant, hash, Now.AddHours(-1), Now.AddHours(23).AddTicks(10));
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-2", over), HttpStatusCode.Forbidden, "approval_lifetime", null);
    }

    [Fact]
    public async Task Either_of_two_configured_public_keys_verifies_during_rotation()
    {
        using var oldKey = new Governance();
        using var newKey = new Governance();
        using var retired = new Governance();
        await using var gateway = await GatewayServer.StartAsync(environment: oldKey.Environment(publicKeys: oldKey.PublicPem + "\n" + newKey.PublicPem));
        var now = DateTimeOffset.UtcNow;

        await GatewayAssert.ExecutedAsync(await ExecuteAsync(gateway, "echo", Payload, "n-old", oldKey.Approve("echo", Payload, now)));
        await GatewayAssert.ExecutedAsync(await ExecuteAsync(gateway, "echo", Payload, "n-new", newKey.Approve("echo", Payload, now)));
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-retired", retired.Approve("echo", Payload, now)), HttpStatusCode.Forbidden, "invalid_signature", "Invalid signature: approval artifact is not authentic");
    }

    [Fact]
    public async Task Approval_consumed_once_cannot_run_again_under_another_nonce()
    {
        using var governance = new Governance();
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment());
        var approval = governance.Approve("echo", Payload, DateTimeOffset.UtcNow);

        var first = await GatewayAssert.ExecutedAsync(await ExecuteAsync(gateway, "echo", Payload, "n-1", approval));
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-2", approval), HttpStatusCode.Forbidden, "approval_reused", null);

        // The same nonce is the same request: a replay, naming the one execution.
        var replay = await GatewayAssert.ProblemAsync(await ExecuteAsync(gateway, "echo", Payload, "n-1", approval), HttpStatusCode.Conflict, "replay_denied");
        Assert.Equal(first.Str("id"), replay.GetProperty("original").Str("id"));

        var receipts = await gateway.ReceiptsAsync();
        Assert.Single(receipts, r => r.GetProperty("body").Str("decision") == "executed");
    }

    [Fact]
    public async Task Of_concurrent_requests_with_one_approval_under_distinct_nonces_exactly_one_executes()
    {
        const int n = 50;
        using var governance = new Governance();
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment());
        var approval = governance.Approve("echo", Payload, DateTimeOffset.UtcNow);

        var responses = await Task.WhenAll(Enumerable.Range(0, n).Select(i => ExecuteAsync(gateway, "echo", Payload, $"n-{i}", approval)));

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        foreach (var refused in responses.Where(r => r.StatusCode != HttpStatusCode.OK))
        {
            await GatewayAssert.ProblemAsync(refused, HttpStatusCode.Forbidden, "approval_reused");
        }
        var receipts = await gateway.ReceiptsAsync();
        Assert.Equal(n, receipts.Count);
        Assert.Single(receipts, r => r.GetProperty("body").Str("decision") == "executed");
    }

    [Fact]
    public async Task Recut_artifact_with_characters_moved_between_approval_id_and_tenant_id_is_the_same_used_approval()
    {
        using var governance = new Governance();
        // Only an approval_id of any form can be re-cut at all (by default it must be a UUID).
        var settings = new Dictionary<string, string?> { ["OpenExec:AllowAnyTenant"] = "true", ["OpenExec:AllowAnyApprovalId"] = "true" };
        await using var gateway = await GatewayServer.StartAsync(settings, governance.Environment());
        // With no tenant of its own, /health's warning speaks of what a re-cut does here: another tenant's name on it.
        var warnings = (await Json.ReadAsync(await gateway.Client.GetAsync("/health"))).GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!).ToList();
        Assert.Contains(warnings, w => w.Contains("AllowAnyApprovalId", StringComparison.Ordinal) && w.Contains("under another tenant", StringComparison.Ordinal));
        Assert.DoesNotContain(warnings, w => w.Contains("this gateway's tenant id", StringComparison.Ordinal));
        var now = DateTimeOffset.UtcNow;
        var original = governance.Minter.MintRaw("approval-1234", "tenant-a", Governance.Hash("echo", Payload), ApprovalTime.Format(now.AddMinutes(-1)), ApprovalTime.Format(now.AddMinutes(5)));
        var recut = original with { ApprovalId = "approval-123", TenantId = "4tenant-a" };
        Assert.Equal(original.SignedMessage(), recut.SignedMessage());

        await GatewayAssert.ExecutedAsync(await ExecuteAsync(gateway, "echo", Payload, "n-1", original));

        // Its signature is valid (so it is not invalid_signature), yet it is the approval already used.
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-2", recut), HttpStatusCode.Forbidden, "approval_reused", null);
        // Under the same nonce text too: the recut names another tenant, so another nonce scope.
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-1", recut), HttpStatusCode.Forbidden, "approval_reused", null);
        Assert.Single(await gateway.ReceiptsAsync(), r => r.GetProperty("body").Str("decision") == "executed");
    }

    [Fact]
    public async Task Replay_after_the_approval_expired_is_still_replay_denied_with_the_original()
    {
        using var governance = new Governance();
        var time = new FakeTimeProvider(Now);
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment(), time: time);
        var approval = governance.Approve("echo", Payload, Now);
        var first = await GatewayAssert.ExecutedAsync(await ExecuteAsync(gateway, "echo", Payload, "n-1", approval));

        time.Advance(TimeSpan.FromHours(2));
        var response = await ExecuteAsync(gateway, "echo", Payload, "n-1", approval);

        var replay = await AssertDeniedAsync(gateway, response, HttpStatusCode.Conflict, "replay_denied", null, decision: "replay_denied");
        Assert.Equal(approval.ApprovalId, replay.Str("approval_id"));
        var problem = await Json.ReadAsync(response);
        var original = problem.GetProperty("original");
        Assert.Equal(first.Str("id"), original.Str("id"));
        Assert.Equal(first.Str("receipt"), original.Str("receipt"));
        Assert.Equal("executed", original.Str("decision"));

        // Under a fresh nonce the expired approval is what it is: expired.
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-2", approval), HttpStatusCode.Forbidden, "approval_expired", "Approval artifact expired");
    }

    [Fact]
    public async Task Without_an_authentic_approval_a_used_nonce_reveals_nothing()
    {
        // Step 3 comes before step 4: only a holder of an authentic approval for exactly this
        // request learns that its nonce was used.
        using var governance = new Governance();
        using var impostor = new Governance();
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment());
        await GatewayAssert.ExecutedAsync(await ExecuteAsync(gateway, "echo", Payload, "n-1", governance.Approve("echo", Payload, DateTimeOffset.UtcNow)));

        await AssertDeniedAsync(gateway, await gateway.PostJsonAsync("/execute", Governance.Body("echo", Payload, "n-1", (string?)null)), HttpStatusCode.Forbidden, "approval_required", null);
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-1", impostor.Approve("echo", Payload, DateTimeOffset.UtcNow)), HttpStatusCode.Forbidden, "invalid_signature", null);
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", """{"msg":"other"}""", "n-1", governance.Approve("echo", Payload, DateTimeOffset.UtcNow)), HttpStatusCode.Forbidden, "action_hash_mismatch", null);
    }

    [Fact]
    public async Task Failed_checks_consume_neither_the_nonce_nor_the_approval()
    {
        using var governance = new Governance();
        using var impostor = new Governance();
        var time = new FakeTimeProvider(Now);
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment(), time: time);

        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-1", impostor.Approve("echo", Payload, Now)), HttpStatusCode.Forbidden, "invalid_signature", null);
        await GatewayAssert.ExecutedAsync(await ExecuteAsync(gateway, "echo", Payload, "n-1", governance.Approve("echo", Payload, Now)));

        var expired = governance.Minter.Mint(Governance.Tenant, Governance.Hash("echo", Payload), Now.AddHours(-2), Now.AddHours(-1));
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-2", expired), HttpStatusCode.Forbidden, "approval_expired", null);
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", Payload, "n-2", governance.Approve("echo", Payload, Now, tenant: "tenant-002")), HttpStatusCode.Forbidden, "tenant_mismatch", null);
        await GatewayAssert.ExecutedAsync(await ExecuteAsync(gateway, "echo", Payload, "n-2", governance.Approve("echo", Payload, Now)));

        // An approval refused because its nonce was taken is still unused.
        const string other = """{"msg":"other"}""";
        var approval = governance.Approve("echo", other, Now);
        await AssertDeniedAsync(gateway, await ExecuteAsync(gateway, "echo", other, "n-1", approval), (HttpStatusCode)422, "nonce_reused", null, decision: "nonce_reused");
        await GatewayAssert.ExecutedAsync(await ExecuteAsync(gateway, "echo", other, "n-3", approval));
    }

    [Fact]
    public async Task Clawshield_without_a_public_key_refuses_to_start_naming_the_variable()
    {
        var environment = new Dictionary<string, string?> { ["OPENEXEC_MODE"] = "clawshield", ["CLAWSHIELD_TENANT_ID"] = Governance.Tenant };

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => GatewayServer.StartAsync(environment: environment));

        Assert.Contains("CLAWSHIELD_PUBLIC_KEY", refused.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> UnusableKeys()
    {
        using var rsa = RSA.Create(2048);
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var governance = new Governance();
        return new TheoryData<string, string>
        {
            { "RSA", rsa.ExportSubjectPublicKeyInfoPem() },
            { "EC P-256", ec.ExportSubjectPublicKeyInfoPem() },
            { "not PEM", "ed25519:AAAAC3NzaC1lZDI1NTE5AAAAI" },
            { "private key PEM", governance.Key.ExportPrivatePem() },
        };
    }

    [Theory]
    [MemberData(nameof(UnusableKeys))]
    public async Task Clawshield_with_a_key_that_is_not_an_Ed25519_public_key_refuses_to_start(string kind, string pem)
    {
        using var governance = new Governance();
        var environment = governance.Environment(publicKeys: pem);

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => GatewayServer.StartAsync(environment: environment));

        Assert.True(refused.Message.Contains("CLAWSHIELD_PUBLIC_KEY", StringComparison.Ordinal), $"{kind}: {refused.Message}");
    }

    [Fact]
    public async Task Clawshield_with_an_RSA_key_next_to_a_good_one_still_refuses_to_start()
    {
        using var governance = new Governance();
        using var rsa = RSA.Create(2048);

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => GatewayServer.StartAsync(environment: governance.Environment(publicKeys: governance.PublicPem + "\n" + rsa.ExportSubjectPublicKeyInfoPem())));

        Assert.Contains("CLAWSHIELD_PUBLIC_KEY", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clawshield_without_a_tenant_refuses_to_start_unless_any_tenant_is_allowed()
    {
        using var governance = new Governance();

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => GatewayServer.StartAsync(environment: governance.Environment(tenant: null)));
        Assert.Contains("CLAWSHIELD_TENANT_ID", refused.Message, StringComparison.Ordinal);

        await using var anyTenant = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["OpenExec:AllowAnyTenant"] = "true" }, governance.Environment(tenant: null));
        await GatewayAssert.ExecutedAsync(await ExecuteAsync(anyTenant, "echo", Payload, "n-1", governance.Approve("echo", Payload, DateTimeOffset.UtcNow, tenant: "whoever")));
    }

    [Theory]
    [InlineData("clawshield ")]
    [InlineData(" ClawShield")]
    [InlineData("CLAWSHIELD\t")]
    public async Task A_clawshield_mode_written_with_blanks_or_capitals_runs_as_clawshield(string mode)
    {
        // Start-up reads the mode trimmed and in any case; everything after must read it the same,
        // or a gateway checked as clawshield would execute without approvals.
        using var governance = new Governance();
        var environment = governance.Environment();
        environment["OPENEXEC_MODE"] = mode;
        await using var gateway = await GatewayServer.StartAsync(environment: environment);

        var health = await Json.ReadAsync(await gateway.Client.GetAsync("/health"));
        Assert.Equal("clawshield", health.Str("exec_mode"));
        var refused = await gateway.PostJsonAsync("/execute", Governance.Body("echo", Payload, "n-1", (string?)null));
        await AssertDeniedAsync(gateway, refused, HttpStatusCode.Forbidden, "approval_required", "ClawShield mode requires an approval artifact");
    }

    [Theory]
    [InlineData("production")]
    [InlineData("claw-shield")]
    public async Task Unknown_mode_refuses_to_start(string mode)
    {
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => GatewayServer.StartAsync(environment: new Dictionary<string, string?> { ["OPENEXEC_MODE"] = mode }));

        Assert.Contains("OPENEXEC_MODE", refused.Message, StringComparison.Ordinal);
        Assert.Contains(mode, refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://0.0.0.0:0")]
    [InlineData("http://[::]:0")]
    [InlineData("http://127.0.0.1:0;http://0.0.0.0:0")]
    public async Task Demo_mode_on_a_network_address_refuses_to_start_unless_allowed(string urls)
    {
        // Each build gets its own data dir: a built app holds its data dir's lock.
        var dataDirs = new List<string>();
        string[] Args(params string[] extra)
        {
            var dataDir = TempDir.Create();
            dataDirs.Add(dataDir);
            return ["--urls", urls, $"--OpenExec:DataDir={dataDir}", "--Logging:LogLevel:Default=Warning", .. extra];
        }
        try
        {
            var environment = new Dictionary<string, string?>();

            var refused = GatewayApp.Build(Args(), out var problems, environment);
            Assert.Null(refused);
            Assert.Contains(problems, p => p.Contains("OpenExec:AllowDemoOnNetwork=true", StringComparison.Ordinal));

            var allowed = GatewayApp.Build(Args("--OpenExec:AllowDemoOnNetwork=true"), out var none, environment);
            Assert.Empty(none);
            Assert.NotNull(allowed);
            await allowed.DisposeAsync();

            // Clawshield mode may listen on the network: nothing runs there without an approval.
            using var governance = new Governance();
            var clawshield = GatewayApp.Build(Args(), out var clawshieldProblems, governance.Environment());
            Assert.Empty(clawshieldProblems);
            Assert.NotNull(clawshield);
            await clawshield.DisposeAsync();
        }
        finally
        {
            dataDirs.ForEach(TempDir.Delete);
        }
    }

    [Fact]
    public async Task Health_in_clawshield_mode_shows_verification_restriction_and_warnings()
    {
        using var governance = new Governance();

        await using (var pinned = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["OpenExec:AuditTokens:0"] = "audit-token" }, governance.Environment()))
        {
            var health = await Json.ReadAsync(await pinned.Client.GetAsync("/health"));
            Assert.Equal("healthy", health.Str("status"));
            Assert.Equal("clawshield", health.Str("exec_mode"));
            Assert.Equal("enabled", health.Str("signature_verification"));
            Assert.Equal("restricted", health.Str("restriction"));
            Assert.Equal(new[] { "add", "echo" }, health.GetProperty("allow_list").EnumerateArray().Select(a => a.GetString()!).Order(StringComparer.Ordinal).ToArray());
            Assert.False(health.TryGetProperty("warning", out _));
            var warnings = health.GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!).ToArray();
            Assert.DoesNotContain(warnings, w => w.Contains("AllowAnyTenant", StringComparison.Ordinal));
            Assert.DoesNotContain(warnings, w => w.Contains("Demo mode", StringComparison.Ordinal));
            Assert.DoesNotContain(warnings, w => w.Contains("AuditTokens", StringComparison.Ordinal));
        }

        await using var anyTenant = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["OpenExec:AllowAnyTenant"] = "true" }, governance.Environment(allowedActions: null));
        var open = await Json.ReadAsync(await anyTenant.Client.GetAsync("/health"));
        Assert.Equal("enabled", open.Str("signature_verification"));
        Assert.Equal("open", open.Str("restriction"));
        Assert.Equal("No execution allow-list configured", open.Str("warning"));
        Assert.False(open.TryGetProperty("allow_list", out _));
        var openWarnings = open.GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!).ToArray();
        Assert.Contains(openWarnings, w => w.Contains("AllowAnyTenant", StringComparison.Ordinal));
        Assert.Contains(openWarnings, w => w.Contains("AuditTokens", StringComparison.Ordinal));
    }

    private static Task<HttpResponseMessage> ExecuteAsync(GatewayServer gateway, string action, string payloadJson, string nonce, ApprovalArtifact approval)
        => gateway.PostJsonAsync("/execute", Governance.Body(action, payloadJson, nonce, approval));

    /// <summary>
    /// A refusal at steps 3–6: the problem with its code (and the seed's sentence where given),
    /// naming the receipt written for it. Returns that receipt's body.
    /// </summary>
    private static async Task<JsonElement> AssertDeniedAsync(GatewayServer gateway, HttpResponseMessage response, HttpStatusCode status, string code, string? detail, string decision = "rejected")
    {
        var problem = await GatewayAssert.ProblemAsync(response, status, code);
        if (detail is not null)
        {
            Assert.Equal(detail, problem.Str("detail"));
        }
        var document = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{problem.Str("id")}"));
        Assert.Equal(problem.Str("receipt"), document.Str("hash"));
        var body = document.GetProperty("body");
        Assert.Equal(decision, body.Str("decision"));
        Assert.Equal(code, body.Str("code"));
        Assert.Equal("clawshield", body.Str("mode"));
        Assert.True(body.IsNull("result_sha256"));
        return body;
    }

    private static string ReplaceFirstChar(string s) => (s[0] == 'A' ? "B" : "A") + s[1..];
}
