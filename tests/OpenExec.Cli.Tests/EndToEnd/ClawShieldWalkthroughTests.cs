using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using OpenExec.Cli.Tests.Infrastructure;
using OpenExec.Core.Crypto;

namespace OpenExec.Cli.Tests.EndToEnd;

/// <summary>
/// The CLI against a real gateway (needs a server: started in process by the fixture): approve,
/// execute, proxy, export, then audit the export as it is and with each kind of tampering.
/// </summary>
public sealed class ClawShieldWalkthroughTests(ClawShieldGatewayFixture fixture) : IClassFixture<ClawShieldGatewayFixture>
{
    [Fact]
    public void Approvals_minted_by_the_CLI_are_accepted_by_execute_and_the_proxy()
    {
        Assert.Equal(
            [
                ("execute echo", HttpStatusCode.OK),
                ("proxied send_email", HttpStatusCode.OK),
                ("execute add", HttpStatusCode.OK),
                ("wrong tenant", HttpStatusCode.Forbidden),
                ("execute echo 2", HttpStatusCode.OK),
                ("replay", HttpStatusCode.Conflict),
            ],
            fixture.Steps);
        Assert.True(fixture.ExportRun.ExitCode == 0, fixture.ExportRun.ToString());
        var (_, seq, _) = fixture.Export();
        Assert.Equal([1L, 2, 3, 4, 5, 6], seq);
    }

    [Fact]
    public async Task Export_is_byte_for_byte_what_the_gateway_serves()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/receipts?limit=10000");
        request.Headers.Authorization = new("Bearer", ClawShieldGatewayFixture.AuditToken);
        var served = await (await fixture.Gateway.Client.SendAsync(request)).Content.ReadAsByteArrayAsync();

        Assert.Equal(served, File.ReadAllBytes(fixture.ExportFile));
    }

    [Fact]
    public async Task Audit_of_the_untouched_export_passes_with_keys_from_a_file_from_the_URL_and_with_the_checkpoint()
    {
        var withFile = await Tool.RunAsync("receipts", "audit", "--file", fixture.ExportFile, "--keys", fixture.KeysFile, "--head", fixture.CheckpointFile);
        Assert.True(withFile.ExitCode == 0, withFile.ToString());
        Assert.Contains("hash       ok: 6 of 6", withFile.Out, StringComparison.Ordinal);
        Assert.Contains("signature  ok: 6 of 6", withFile.Out, StringComparison.Ordinal);
        Assert.Contains("chain      ok", withFile.Out, StringComparison.Ordinal);
        Assert.Contains("head       ok", withFile.Out, StringComparison.Ordinal);
        // The checkpoint's signed time is shown: an old checkpoint vouches for nothing after it.
        var signedAt = JsonNode.Parse(File.ReadAllText(fixture.CheckpointFile))!["timestamp"]!.GetValue<string>();
        Assert.Contains($"(signed {signedAt})", withFile.Out, StringComparison.Ordinal);
        Assert.Contains("OK: every check holds", withFile.Out, StringComparison.Ordinal);

        var withUrl = await Tool.RunAsync("receipts", "audit", "--file", fixture.ExportFile, "--url", fixture.Gateway.Url);
        Assert.True(withUrl.ExitCode == 0, withUrl.ToString());
        Assert.Contains("pin key fingerprints", withUrl.Err, StringComparison.Ordinal);

        var kid = JsonNode.Parse(File.ReadAllText(fixture.KeysFile))!["keys"]![0]!["kid"]!.GetValue<string>();
        var pinned = await Tool.RunAsync("receipts", "audit", "--file", fixture.ExportFile, "--url", fixture.Gateway.Url, "--pin", kid);
        Assert.True(pinned.ExitCode == 0, pinned.ToString());
    }

    [Fact]
    public async Task Verify_checks_one_document_alone_or_inside_an_execute_answer()
    {
        var (lines, _, execIds) = fixture.Export();
        var one = fixture.WriteVariant("one.json", [lines[1]]);
        var answer = fixture.WriteVariant("answer.json", [fixture.FirstExecuteAnswer]);

        var run = await Tool.RunAsync("receipts", "verify", one, "--keys", fixture.KeysFile);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains(execIds[1], run.Out, StringComparison.Ordinal);
        Assert.Contains("VALID", run.Out, StringComparison.Ordinal);

        var fromAnswer = await Tool.RunAsync("receipts", "verify", answer, "--url", fixture.Gateway.Url);
        Assert.True(fromAnswer.ExitCode == 0, fromAnswer.ToString());
        Assert.Contains(execIds[0], fromAnswer.Out, StringComparison.Ordinal);

        var altered = fixture.WriteVariant("altered-one.json", [lines[1].Replace("\"executed\"", "\"executes\"", StringComparison.Ordinal)]);
        var bad = await Tool.RunAsync("receipts", "verify", altered, "--keys", fixture.KeysFile);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("hash       FAILED", bad.Out, StringComparison.Ordinal);
        Assert.Contains("INVALID", bad.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task One_altered_byte_fails_the_hash_check_of_that_receipt()
    {
        var (lines, _, execIds) = fixture.Export();
        var altered = lines.ToArray();
        var at = altered[2].IndexOf("\"action\":\"add\"", StringComparison.Ordinal);
        Assert.True(at > 0);
        altered[2] = altered[2][..(at + 10)] + "b" + altered[2][(at + 11)..]; // "add" -> "abd"

        var run = await Audit(fixture.WriteVariant("altered.ndjson", altered));

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"FAILED at seq 3 exec_id {execIds[2]} (line 3): hash", run.Out, StringComparison.Ordinal);
        Assert.Contains("hash       FAILED: 1 failed, 5 ok", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_deleted_receipt_fails_the_seq_check_at_the_receipt_after_it()
    {
        var (lines, _, execIds) = fixture.Export();

        var run = await Audit(fixture.WriteVariant("deleted.ndjson", lines.Where((_, i) => i != 2)));

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"first failing receipt seq 4 exec_id {execIds[3]} (line 3), check seq: expected seq 3, found 4", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reordered_pair_fails_the_seq_check_at_the_first_receipt_out_of_place()
    {
        var (lines, _, execIds) = fixture.Export();
        var swapped = lines.ToArray();
        (swapped[2], swapped[3]) = (swapped[3], swapped[2]);

        var run = await Audit(fixture.WriteVariant("reordered.ndjson", swapped));

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"first failing receipt seq 4 exec_id {execIds[3]} (line 3), check seq", run.Out, StringComparison.Ordinal);
        // Each receipt still verifies alone: only the chain is broken.
        Assert.Contains("signature  ok: 6 of 6", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_receipt_re_signed_by_another_key_fails_the_signature_check()
    {
        var (lines, _, execIds) = fixture.Export();
        var forged = lines.ToArray();
        forged[2] = ReSign(forged[2]);

        var run = await Audit(fixture.WriteVariant("resigned.ndjson", forged));

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"FAILED at seq 3 exec_id {execIds[2]} (line 3): signature", run.Out, StringComparison.Ordinal);
        Assert.Contains("not among the trusted keys", run.Out, StringComparison.Ordinal);
        Assert.Contains("signature  FAILED: 1 failed, 5 ok", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cut_tail_passes_the_chain_but_fails_against_the_checkpoint()
    {
        var (lines, _, _) = fixture.Export();
        var cut = fixture.WriteVariant("cut.ndjson", lines.Take(5));

        var withoutHead = await Audit(cut);
        Assert.Equal(0, withoutHead.ExitCode);

        var withHead = await Tool.RunAsync("receipts", "audit", "--file", cut, "--keys", fixture.KeysFile, "--head", fixture.CheckpointFile);
        Assert.Equal(1, withHead.ExitCode);
        Assert.Contains("tail cut", withHead.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_line_that_is_not_a_receipt_is_named_by_its_line_number()
    {
        var (lines, _, _) = fixture.Export();
        var broken = lines.ToArray();
        broken[4] = broken[4][..^1];

        var run = await Audit(fixture.WriteVariant("broken.ndjson", broken));

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("FAILED: line 5: format", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_without_the_audit_token_is_refused_with_a_sentence_saying_so()
    {
        var run = await Tool.RunAsync("receipts", "export", "--url", fixture.Gateway.Url, "--out", Path.Combine(fixture.Dir, "no-token.ndjson"));

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("needs an audit token (HTTP 401)", run.Err, StringComparison.Ordinal);
        Assert.Contains("--token", run.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(fixture.Dir, "no-token.ndjson")));
    }

    [Fact]
    public async Task Export_with_a_wrong_token_is_refused_with_a_sentence_saying_the_token_was_refused()
    {
        // Told "needs an audit token" when one was given, the auditor looks for the wrong mistake.
        var run = await Tool.RunAsync("receipts", "export", "--url", fixture.Gateway.Url, "--token", "not-the-token", "--out", Path.Combine(fixture.Dir, "wrong-token.ndjson"));

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("refused the audit token (HTTP 401)", run.Err, StringComparison.Ordinal);
        Assert.Contains("wrong or revoked", run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("needs an audit token", run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("not-the-token", run.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(fixture.Dir, "wrong-token.ndjson")));
    }

    [Fact]
    public async Task Export_after_a_seq_and_its_partial_audit_link_to_the_earlier_part()
    {
        var (_, _, _) = fixture.Export();
        var tail = Path.Combine(fixture.Dir, "tail.ndjson");
        var export = await Tool.RunAsync("receipts", "export", "--url", fixture.Gateway.Url, "--token", ClawShieldGatewayFixture.AuditToken, "--after", "3", "--out", tail);
        Assert.True(export.ExitCode == 0, export.ToString());
        Assert.Equal(3, File.ReadAllLines(tail).Length);

        var prev = JsonNode.Parse(File.ReadAllLines(fixture.ExportFile)[2])!["hash"]!.GetValue<string>();
        var linked = await Tool.RunAsync("receipts", "audit", "--file", tail, "--keys", fixture.KeysFile, "--after", "3", "--prev", prev);
        Assert.True(linked.ExitCode == 0, linked.ToString());

        var wrongPrev = await Tool.RunAsync("receipts", "audit", "--file", tail, "--keys", fixture.KeysFile, "--after", "3", "--prev", new string('a', 64));
        Assert.Equal(1, wrongPrev.ExitCode);
        Assert.Contains("check prev", wrongPrev.Out, StringComparison.Ordinal);
    }

    private Task<CliRun> Audit(string file) => Tool.RunAsync("receipts", "audit", "--file", file, "--keys", fixture.KeysFile);

    /// <summary>Re-signs a receipt as a batch of one under a new key: a forger's best effort.</summary>
    private static string ReSign(string line)
    {
        var document = JsonNode.Parse(line)!.AsObject();
        using var forger = ReceiptSigningKey.Generate();
        var leaf = Convert.FromHexString(document["hash"]!.GetValue<string>());
        var root = SHA256.HashData([0x00, .. leaf]);
        document["batch"] = new JsonObject { ["size"] = 1, ["index"] = 0, ["path"] = new JsonArray() };
        document["kid"] = forger.Kid;
        document["signature"] = Base64Url.Encode(forger.Sign(root));
        return document.ToJsonString();
    }
}
