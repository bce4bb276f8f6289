using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Tests.Chaos;
using OpenExec.Gateway.Tests.Infrastructure;
using OpenExec.Gateway.Tests.Pipeline;
using Xunit.Abstractions;

namespace OpenExec.Gateway.Tests.Security;

/// <summary>
/// The committed hostile-input corpus (<c>hostile-corpus.jsonl</c>) against real gateways on
/// real Kestrel, every request written byte for byte on a bare socket: each case must get its
/// status and code, never a 500, and nothing may execute: no new <c>executed</c> receipt, no
/// backend call, and for refusals at steps 1–2 (and Kestrel's own) no receipt at all. After the
/// whole corpus each gateway is still healthy and its receipt chain still audits.
/// </summary>
public sealed class HostileCorpusTests(ITestOutputHelper output)
{
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(20);

    [Fact]
    public void The_corpus_is_well_formed_and_covers_every_kind_of_hostile_input()
    {
        var corpus = HostileCase.Load();
        Assert.True(corpus.Count >= 200, $"only {corpus.Count} cases");
        Assert.Equal(corpus.Count, corpus.Select(c => c.Name).Distinct(StringComparer.Ordinal).Count());
        Assert.All(corpus, c => Assert.Contains(c.Mode, new[] { HostileCase.Demo, HostileCase.ClawShield, HostileCase.ClawShieldAnyTenant }));
        Assert.All(corpus, c => Assert.NotEqual(500, c.ExpectedStatus));
        foreach (var kind in new[]
        {
            "truncated", "duplicate key at depth 1", "duplicate key at depth 62", "4301 digits", "1e400", "500000 open brackets", "BOM",
            "overlong", "lone", "surrogate", "NUL", "header of 40 KB", "1 MiB + 1", "wrong content type", "Content-Encoding", "chunk",
            "Content-Length", "of the wrong type", "extra field", "not base64", "swapped", "field-boundary re-cut", "proxy:",
        })
        {
            Assert.True(corpus.Any(c => c.Name.Contains(kind, StringComparison.Ordinal)), $"no case for '{kind}'");
        }
        foreach (var status in new[] { 400, 403, 405, 409, 413, 415, 431 })
        {
            Assert.Contains(corpus, c => c.ExpectedStatus == status);
        }
        Assert.Contains(corpus, c => c.Mode == HostileCase.ClawShield && c.ExpectedCode == "invalid_approval" && c.Name.Contains("re-cut", StringComparison.Ordinal));
        Assert.Contains(corpus, c => c.Mode == HostileCase.ClawShieldAnyTenant && c.ExpectedCode == "approval_reused" && c.Name.Contains("re-cut", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Every_hostile_request_gets_its_status_and_code_and_nothing_executes()
    {
        var corpus = HostileCase.Load();
        await using var backend = await CountingBackend.StartAsync();
        var routes = ProxyConfig.Route("tool", "tool_call", "tool", backend.Address.ToString(), executePath: "/run");
        ProxyConfig.Route("po", "tool_call_proxy_only", "toolpo", backend.Address.ToString(), into: routes);
        routes["OpenExec:RateLimit:PerClientPerSecond"] = "0";
        using var governance = new Governance();
        await using var demo = await GatewayServer.StartAsync(routes);
        await using var pinned = await GatewayServer.StartAsync(routes, governance.Environment(allowedActions: null));
        await using var anyTenant = await GatewayServer.StartAsync(
            new Dictionary<string, string?>(routes) { ["OpenExec:AllowAnyTenant"] = "true", ["OpenExec:AllowAnyApprovalId"] = "true" },
            governance.Environment(allowedActions: null, tenant: null));
        var gateways = new Dictionary<string, GatewayServer>
        {
            [HostileCase.Demo] = demo,
            [HostileCase.ClawShield] = pinned,
            [HostileCase.ClawShieldAnyTenant] = anyTenant,
        };

        var failures = new List<string>();
        var watch = Stopwatch.StartNew();
        foreach (var hostile in corpus)
        {
            var started = watch.Elapsed;
            try
            {
                var problem = await RunAsync(hostile, gateways[hostile.Mode], backend, governance);
                if (problem is not null)
                {
                    failures.Add($"[{hostile.Name}] {problem}");
                }
            }
            catch (Exception ex)
            {
                failures.Add($"[{hostile.Name}] threw {ex.GetType().Name}: {ex.Message}");
            }
            var took = watch.Elapsed - started;
            if (took > TimeSpan.FromSeconds(2))
            {
                output.WriteLine($"slow case ({took.TotalSeconds:0.0} s): {hostile.Name}");
            }
        }
        output.WriteLine($"{corpus.Count} cases in {watch.Elapsed.TotalSeconds:0.0} s, {failures.Count} failed");

        foreach (var (mode, gateway) in gateways)
        {
            using var health = await gateway.Client.GetAsync("/health");
            if (health.StatusCode != HttpStatusCode.OK)
            {
                failures.Add($"[{mode}] /health answered {(int)health.StatusCode} after the corpus");
            }
            var (chain, report) = await ReceiptAuditor.AuditAsync(gateway.Client);
            if (!report.Ok)
            {
                failures.Add($"[{mode}] chain audit failed after the corpus: {report.Failure}");
            }
            output.WriteLine($"{mode}: {chain.Count} receipts, {chain.Count(d => d.Body.Decision == "executed")} executed, chain audit ok: {report.Ok}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {corpus.Count} cases failed:\n" + string.Join("\n", failures));
    }

    /// <summary>Runs one case; returns what went wrong, or null.</summary>
    private static async Task<string?> RunAsync(HostileCase hostile, GatewayServer gateway, CountingBackend backend, Governance governance)
    {
        var nonce = "h" + RandomNumberGenerator.GetHexString(8, lowercase: true);
        var priorNonce = "p" + RandomNumberGenerator.GetHexString(8, lowercase: true);
        var (_, sentJson, prior) = hostile.Approvals(governance, DateTimeOffset.UtcNow);

        if (prior is not null)
        {
            var first = await RawExchange.SendAsync(gateway.BaseAddress, hostile.Render(gateway.BaseAddress, priorNonce, priorNonce, prior.ToJson()), false, CaseTimeout);
            if (first.Status != 200)
            {
                return $"the prior use of the approval did not execute: {first.Status} {first.Code}";
            }
        }

        var receiptsBefore = (await ReceiptAuditor.ExportAsync(gateway.Client)).Count;
        var callsBefore = backend.Total;
        var answer = await RawExchange.SendAsync(
            gateway.BaseAddress,
            hostile.Render(gateway.BaseAddress, nonce, priorNonce, sentJson is null ? null : HostileCase.ArtifactJson(sentJson)),
            hostile.HalfClose,
            CaseTimeout);

        if (answer.Status == 0 && hostile.MayDrop)
        {
            answer = answer with { Status = hostile.ExpectedStatus };
            var quiet = (await ReceiptAuditor.ExportAsync(gateway.Client)).Count;
            return quiet == receiptsBefore && backend.Total == callsBefore ? null : "dropped without an answer, yet something was recorded or sent";
        }
        if (answer.Status == 500)
        {
            return $"500: {answer.Text}";
        }
        if (answer.Status != hostile.ExpectedStatus)
        {
            return $"expected {hostile.ExpectedStatus} {hostile.ExpectedCode}, got {answer.Status} {answer.Code}: {Excerpt(answer)}";
        }
        if (hostile.ExpectedCode is not null && answer.Code != hostile.ExpectedCode)
        {
            return $"expected code {hostile.ExpectedCode}, got {answer.Code ?? "(none)"}: {Excerpt(answer)}";
        }

        var fresh = (await ReceiptAuditor.ExportAsync(gateway.Client)).Skip(receiptsBefore).ToList();
        if (hostile.ExpectedStatus == 200)
        {
            if (fresh.Count != 1 || fresh[0].Body.Decision != "executed")
            {
                return $"executed, but left {fresh.Count} new receipts ({string.Join(",", fresh.Select(d => d.Body.Decision))})";
            }
            var execId = answer.Headers.GetValueOrDefault("openexec-exec-id");
            using var stored = await gateway.Client.GetAsync($"/receipts/{execId}");
            if (stored.StatusCode != HttpStatusCode.OK || (await Json.ReadAsync(stored)).Str("hash") != fresh[0].Hash)
            {
                return $"the answered exec id {execId} has no matching receipt";
            }
            return null;
        }
        if (backend.Total != callsBefore)
        {
            return $"refused with {answer.Status}, yet the backend was called {backend.Total - callsBefore} time(s)";
        }
        if (hostile.ExpectsNoReceipt)
        {
            return fresh.Count == 0 ? null : $"a step 1–2 refusal left {fresh.Count} receipt(s): {string.Join(",", fresh.Select(d => d.Body.Decision + "/" + d.Body.Code))}";
        }
        if (fresh.Count != 1 || fresh[0].Body.Decision == "executed" || fresh[0].Body.Code != hostile.ExpectedCode)
        {
            return $"expected one refusal receipt with code {hostile.ExpectedCode}, got: {string.Join(",", fresh.Select(d => d.Body.Decision + "/" + d.Body.Code))}";
        }
        if (sentJson is not null)
        {
            // The receipt names the artifact exactly as sent (swapped, re-cut), by its identity.
            var identity = ApprovalArtifact.Parse(StrictJson.Parse(HostileCase.ArtifactJson(sentJson)), anyApprovalId: true).Identity;
            if (fresh[0].Body.ApprovalSha256 != identity)
            {
                return $"the refusal receipt names approval {fresh[0].Body.ApprovalSha256}, not the one sent ({identity})";
            }
        }
        return null;
    }

    private static string Excerpt(RawExchange answer)
    {
        var text = System.Text.Encoding.UTF8.GetString(answer.Body);
        return text.Length > 300 ? text[..300] : text.Length == 0 ? answer.Text[..Math.Min(200, answer.Text.Length)] : text;
    }

    public static TheoryData<string, string> WrongKeys()
    {
        using var rsa = RSA.Create(2048);
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ed25519 = ReceiptSigningKey.Generate();
        static string Pem(string hexPrefix, int length) =>
            System.Security.Cryptography.PemEncoding.WriteString("PUBLIC KEY", Convert.FromHexString(hexPrefix).Concat(RandomNumberGenerator.GetBytes(length)).ToArray());
        return new TheoryData<string, string>
        {
            { "RSA public key", rsa.ExportSubjectPublicKeyInfoPem() },
            { "EC P-256 public key", ec.ExportSubjectPublicKeyInfoPem() },
            { "X25519 public key (right size, wrong algorithm)", Pem("302a300506032b656e032100", 32) },
            { "Ed448 public key", Pem("3043300506032b6571033a00", 57) },
            { "Ed25519 public key with a truncated point", Pem("3029300506032b6570032000", 31) },
            { "Ed25519 private key instead of the public one", ed25519.ExportPrivatePem() },
            { "RSA private key", rsa.ExportPkcs8PrivateKeyPem() },
            { "a valid Ed25519 key followed by an RSA key", ed25519.ExportPublicPem() + "\n" + rsa.ExportSubjectPublicKeyInfoPem() },
            { "no PEM block at all", "MCowBQYDK2VwAyEA" },
            { "PEM with broken base64", "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----" },
        };
    }

    [Theory]
    [MemberData(nameof(WrongKeys))]
    public async Task A_public_key_that_is_not_a_usable_Ed25519_key_refuses_start_up_naming_the_setting(string because, string pem)
    {
        using var governance = new Governance();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => GatewayServer.StartAsync(environment: governance.Environment(publicKeys: pem)));
        Assert.True(error.Message.Contains("CLAWSHIELD_PUBLIC_KEY", StringComparison.Ordinal), $"{because}: {error.Message}");
    }
}
