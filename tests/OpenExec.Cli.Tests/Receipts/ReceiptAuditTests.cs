using OpenExec.Cli.Tests.Infrastructure;
using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;

namespace OpenExec.Cli.Tests.Receipts;

/// <summary>Audits of synthetic exports signed with the protocol core, without a gateway: several chains in one file.</summary>
public sealed class ReceiptAuditTests : IDisposable
{
    private readonly ReceiptFiles _files = new();
    private readonly ReceiptSigningKey _keyA = ReceiptSigningKey.Generate();
    private readonly ReceiptSigningKey _keyB = ReceiptSigningKey.Generate();

    public void Dispose()
    {
        _keyA.Dispose();
        _keyB.Dispose();
        _files.Dispose();
    }

    private static List<string> Chain(ReceiptSigningKey key, string gateway, int count, int batch)
    {
        var lines = new List<string>();
        var prev = ReceiptBody.GenesisPrev;
        var bodies = new List<ReceiptBody>();
        for (var seq = 1; seq <= count; seq++)
        {
            var body = ReceiptFiles.Body($"ex_{gateway}_{seq}", gateway, seq, prev);
            prev = ReceiptHash.Compute(body);
            bodies.Add(body);
            if (bodies.Count == batch || seq == count)
            {
                lines.AddRange(ReceiptBatchSigner.Sign(key, bodies).Select(d => d.ToJson()));
                bodies.Clear();
            }
        }
        return lines;
    }

    private string KeysFile() => _files.KeysFile(_keyA, _keyB);

    private string Write(IEnumerable<string> lines) => _files.WriteLines(lines);

    private static IEnumerable<string> Interleave(List<string> a, List<string> b) =>
        Enumerable.Range(0, Math.Max(a.Count, b.Count)).SelectMany(i => new[] { i < a.Count ? a[i] : null, i < b.Count ? b[i] : null }).OfType<string>();

    [Fact]
    public async Task Interleaved_chains_of_two_gateways_are_audited_each_in_its_own_order()
    {
        var a = Chain(_keyA, "gw-a", 20, batch: 8);
        var b = Chain(_keyB, "gw-b", 7, batch: 3);

        var run = await Tool.RunAsync("receipts", "audit", "--file", Write(Interleave(a, b)), "--keys", KeysFile());

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("27 receipts in 2 chain(s)", run.Out, StringComparison.Ordinal);
        Assert.Contains("gateway gw-a: 20 receipts", run.Out, StringComparison.Ordinal);
        Assert.Contains("gateway gw-b: 7 receipts", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_break_in_one_chain_names_that_gateway_and_receipt_and_the_other_chain_passes()
    {
        var a = Chain(_keyA, "gw-a", 10, batch: 4);
        var b = Chain(_keyB, "gw-b", 10, batch: 4);
        b.RemoveAt(6);

        var run = await Tool.RunAsync("receipts", "audit", "--file", Write(Interleave(a, b)), "--keys", KeysFile());

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("FAILED: gateway gw-b: first failing receipt seq 8 exec_id ex_gw-b_8", run.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("FAILED: gateway gw-a", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_inclusion_path_that_leads_nowhere_fails_inclusion_and_another_position_fails_the_signature()
    {
        var a = Chain(_keyA, "gw-a", 8, batch: 4);
        var moved = a.ToList();
        moved[5] = moved[5].Replace("\"index\":1", "\"index\":2", StringComparison.Ordinal);
        var wrongPosition = await Tool.RunAsync("receipts", "audit", "--file", Write(moved), "--keys", KeysFile());
        Assert.Equal(1, wrongPosition.ExitCode);
        Assert.Contains("FAILED at seq 6 exec_id ex_gw-a_6 (line 6): signature", wrongPosition.Out, StringComparison.Ordinal);

        a[5] = a[5].Replace("\"index\":1", "\"index\":7", StringComparison.Ordinal);

        var run = await Tool.RunAsync("receipts", "audit", "--file", Write(a), "--keys", KeysFile());

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("FAILED at seq 6 exec_id ex_gw-a_6 (line 6): inclusion", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pinning_a_key_that_signed_only_one_chain_fails_the_other()
    {
        var a = Chain(_keyA, "gw-a", 3, batch: 3);
        var b = Chain(_keyB, "gw-b", 3, batch: 3);

        var run = await Tool.RunAsync("receipts", "audit", "--file", Write(Interleave(a, b)), "--keys", KeysFile(), "--pin", _keyA.Kid);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("first failing receipt seq 1 exec_id ex_gw-b_1", run.Out, StringComparison.Ordinal);
        Assert.Contains("not among the trusted keys", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_set_that_names_each_keys_gateway_fails_a_chain_signed_with_another_gateways_key()
    {
        // gw-a's key (stolen) signs a chain that names gw-b: it verifies under the key, not for gw-b.
        var bound = _files.KeysFile((_keyA, "gw-a"), (_keyB, "gw-b"));
        var honest = await Tool.RunAsync("receipts", "audit", "--file", Write(Interleave(Chain(_keyA, "gw-a", 3, batch: 2), Chain(_keyB, "gw-b", 3, batch: 2))), "--keys", bound);
        Assert.True(honest.ExitCode == 0, honest.ToString());

        var forged = Write(Chain(_keyA, "gw-b", 3, batch: 2));
        var run = await Tool.RunAsync("receipts", "audit", "--file", forged, "--keys", bound);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("first failing receipt seq 1 exec_id ex_gw-b_1", run.Out, StringComparison.Ordinal);
        Assert.Contains($"key {_keyA.Kid} is the key of gateway gw-a in key file {bound}, not of gw-b", run.Out, StringComparison.Ordinal);
        // A key set without the gateways (PEM, or from an older gateway) vouches for any chain.
        Assert.Equal(0, (await Tool.RunAsync("receipts", "audit", "--file", forged, "--keys", KeysFile())).ExitCode);

        // The checkpoint too: gw-a's key does not vouch for gw-b's head.
        var head = Checkpoint.Sign(_keyA, "gw-b", 3, ReceiptDocument.Parse(OpenExec.Core.Json.StrictJson.Parse(System.Text.Encoding.UTF8.GetBytes(Chain(_keyB, "gw-b", 3, batch: 2)[2]))).Hash, new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var checkpointFile = _files.Write("head.json", head.ToJson());
        var withHead = await Tool.RunAsync("receipts", "audit", "--file", Write(Chain(_keyB, "gw-b", 3, batch: 2)), "--keys", bound, "--head", checkpointFile);
        Assert.Equal(1, withHead.ExitCode);
        Assert.Contains("the checkpoint is signed by a key not trusted for it", withHead.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_listed_twice_for_two_gateways_vouches_for_both()
    {
        // Key sets of two deployments given one key file, merged into one file.
        var merged = _files.KeysFile((_keyA, "gw-a"), (_keyA, "gw-b"));
        var run = await Tool.RunAsync("receipts", "audit", "--file", Write(Interleave(Chain(_keyA, "gw-a", 2, batch: 2), Chain(_keyA, "gw-b", 2, batch: 2))), "--keys", merged);
        Assert.True(run.ExitCode == 0, run.ToString());
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"gw-a\"")]
    [InlineData("[\"\"]")]
    [InlineData("[1]")]
    public async Task A_key_set_whose_gateways_cannot_be_read_is_refused_not_read_as_any_gateway(string gateways)
    {
        var keys = _files.Write("bad-keys.json", $$"""{"keys":[{"kid":"{{_keyA.Kid}}","kty":"OKP","crv":"Ed25519","x":"{{OpenExec.Core.Crypto.Base64Url.Encode(_keyA.PublicKeyRaw)}}","gateways":{{gateways}}}]}""");
        var run = await Tool.RunAsync("receipts", "audit", "--file", Write(Chain(_keyA, "gw-a", 1, batch: 1)), "--keys", keys);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("'gateways' must be a list of one or more gateway ids", run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_export_read_from_a_pipe_is_audited_receipt_by_receipt()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // no /dev/stdin
        }
        var a = Chain(_keyA, "gw-a", 6, batch: 3);
        var altered = a.ToList();
        altered[3] = altered[3].Replace("\"action\":\"echo\"", "\"action\":\"add\"", StringComparison.Ordinal);
        static byte[] Ndjson(IEnumerable<string> lines) => System.Text.Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n");

        // A pipe can be read once: the audit must verify what it reads, not read it again.
        var ok = await Tool.RunProcessWithInputAsync(Ndjson(a), "receipts", "audit", "--file", "/dev/stdin", "--keys", KeysFile());
        var bad = await Tool.RunProcessWithInputAsync(Ndjson(altered), "receipts", "audit", "--file", "/dev/stdin", "--keys", KeysFile());

        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Contains("hash       ok: 6 of 6", ok.Out, StringComparison.Ordinal);
        Assert.True(bad.ExitCode == 1, bad.ToString());
        Assert.Contains("FAILED: gateway gw-a: first failing receipt seq 4 exec_id ex_gw-a_4 (line 4), check hash", bad.Out, StringComparison.Ordinal);
    }
}
