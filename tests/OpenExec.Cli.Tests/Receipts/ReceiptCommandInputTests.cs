using OpenExec.Cli.Tests.Infrastructure;

namespace OpenExec.Cli.Tests.Receipts;

/// <summary>The receipt commands' input errors, without a gateway.</summary>
public sealed class ReceiptCommandInputTests : IDisposable
{
    private readonly string _dir = TempDir.Create();

    public void Dispose() => TempDir.Delete(_dir);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public async Task Keys_must_come_from_exactly_one_of_file_or_url()
    {
        var export = Write("e.ndjson", "");
        var neither = await Tool.RunAsync("receipts", "audit", "--file", export);
        Assert.Equal(2, neither.ExitCode);
        Assert.Contains("exactly one of --keys FILE or --url URL", neither.Err, StringComparison.Ordinal);

        var both = await Tool.RunAsync("receipts", "audit", "--file", export, "--keys", "k.json", "--url", "http://127.0.0.1:1");
        Assert.Equal(2, both.ExitCode);
    }

    [Theory]
    [InlineData("{\"keys\":", "not a key set")]
    [InlineData("{\"nokeys\":[]}", "not a key set")]
    [InlineData("{\"keys\":[{\"kid\":\"x\",\"kty\":\"RSA\",\"crv\":\"Ed25519\",\"x\":\"AA\"}]}", "only kty OKP")]
    [InlineData("{\"keys\":[{\"kid\":\"x\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}]}", "32-byte public key")]
    [InlineData("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n", "not 'PUBLIC KEY'")]
    public async Task A_bad_key_file_is_a_usage_error_naming_the_problem(string keys, string expected)
    {
        var run = await Tool.RunAsync("receipts", "audit", "--file", Write("e.ndjson", ""), "--keys", Write("keys.json", keys));

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(expected, run.Err, StringComparison.Ordinal);
        Assert.Contains("keys.json", run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Audit_of_a_missing_file_and_verify_of_an_export_are_usage_errors()
    {
        var missing = await Tool.RunAsync("receipts", "audit", "--file", Path.Combine(_dir, "none.ndjson"), "--url", "http://127.0.0.1:1");
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("does not exist", missing.Err, StringComparison.Ordinal);

        var ndjson = Write("two.ndjson", "{\"a\":1}\n{\"a\":2}\n");
        var verify = await Tool.RunAsync("receipts", "verify", ndjson, "--keys", "unused.json");
        Assert.Equal(2, verify.ExitCode);
        Assert.Contains("receipts audit", verify.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_or_malformed_url_is_named()
    {
        var unreachable = await Tool.RunAsync("receipts", "export", "--url", "http://127.0.0.1:1", "--out", Path.Combine(_dir, "x.ndjson"));
        Assert.Equal(3, unreachable.ExitCode);
        Assert.Contains("http://127.0.0.1:1/receipts?after=0&limit=10000", unreachable.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "x.ndjson")));

        var malformed = await Tool.RunAsync("receipts", "export", "--url", "127.0.0.1:5000", "--out", Path.Combine(_dir, "x.ndjson"));
        Assert.Equal(2, malformed.ExitCode);
        Assert.Contains("not an http:// or https:// URL", malformed.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("export")]
    [InlineData("audit")]
    public async Task A_url_with_a_user_and_password_is_refused_without_printing_them(string command)
    {
        // The gateway takes audit tokens; the URL is named in every message, the password with it.
        string[] args = command == "export"
            ? ["receipts", "export", "--url", "http://alice:URLPASS1@127.0.0.1:1", "--out", Path.Combine(_dir, "x.ndjson")]
            : ["receipts", "audit", "--file", Write("e.ndjson", ""), "--url", "http://alice:URLPASS1@127.0.0.1:1"];
        var run = await Tool.RunAsync(args);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("'http://***@127.0.0.1:1' holds a user name or password", run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("URLPASS1", run.Err + run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_checkpoint_for_another_gateways_export_is_refused_before_anything_is_written()
    {
        // A gateway answers /receipts/head for its own chain only (with Redis it serves others' receipts too).
        using var gateway = WireMock.Server.WireMockServer.Start();
        gateway.Given(WireMock.RequestBuilders.Request.Create().WithPath("/receipts/head").UsingGet())
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithHeader("Content-Type", "application/json")
                .WithBody($$"""{"gateway":"gw-a","seq":0,"hash":"{{new string('0', 64)}}","timestamp":"2026-11-26T08:00:00Z","kid":"0123456789abcdef","signature":"x"}"""));
        gateway.Given(WireMock.RequestBuilders.Request.Create().WithPath("/receipts").UsingGet())
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithHeader("Content-Type", "application/x-ndjson").WithBody(""));
        var (export, checkpoint) = (Path.Combine(_dir, "b.ndjson"), Path.Combine(_dir, "head.json"));

        var refused = await Tool.RunAsync("receipts", "export", "--url", gateway.Url!, "--gateway", "gw-b", "--out", export, "--checkpoint", checkpoint);

        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("signs checkpoints of its own chain (gw-a) only, not of gw-b", refused.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(export));
        Assert.False(File.Exists(checkpoint));

        // Its own chain, named or not, keeps its checkpoint.
        var own = await Tool.RunAsync("receipts", "export", "--url", gateway.Url!, "--gateway", "gw-a", "--out", export, "--checkpoint", checkpoint);
        Assert.True(own.ExitCode == 0, own.ToString());
        Assert.True(File.Exists(checkpoint));
    }

    [Fact]
    public async Task A_checkpoint_into_a_missing_directory_is_refused_before_the_export_is_touched()
    {
        var export = Write("r.ndjson", "an earlier export\n");

        var run = await Tool.RunAsync("receipts", "export", "--url", "http://127.0.0.1:1", "--out", export, "--checkpoint", Path.Combine(_dir, "nodir", "head.json"));

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("nodir", run.Err, StringComparison.Ordinal);
        Assert.Equal("an earlier export\n", File.ReadAllText(export));
    }

    [Fact]
    public async Task A_pinned_key_missing_from_the_key_set_fails_verification()
    {
        // Keys are never removed from a gateway's key set: a pinned key that is not there is a
        // failed check (exit 1), not a usage error.
        var raw = new byte[32];
        Random.Shared.NextBytes(raw);
        var kid = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(raw))[..16];
        var keys = Write("keys.json", $$"""{"keys":[{"kid":"{{kid}}","kty":"OKP","crv":"Ed25519","x":"{{OpenExec.Core.Crypto.Base64Url.Encode(raw)}}"}]}""");

        var run = await Tool.RunAsync("receipts", "audit", "--file", Write("r.ndjson", ""), "--keys", keys, "--pin", "0123456789abcdef");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("0123456789abcdef", run.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("export", "-1")]
    [InlineData("audit", "-1")]
    [InlineData("export", "9223372036854775807")]
    [InlineData("audit", "9223372036854775807")]
    public async Task After_must_leave_room_for_a_receipt(string command, string after)
    {
        // No seq follows the largest one: an audit expecting "seq after + 1" overflowed and named
        // a negative seq as the expected one. Both commands refuse it as the usage error it is.
        var export = Write("r.ndjson", "");
        string[] args = command == "export"
            ? ["receipts", "export", "--url", "http://127.0.0.1:1", "--out", Path.Combine(_dir, "out.ndjson"), "--after", after]
            : ["receipts", "audit", "--file", export, "--url", "http://127.0.0.1:1", "--after", after];

        var run = await Tool.RunAsync(args);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("--after must be 0 or a positive seq below 9223372036854775807", run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("-9223372036854775808", run.Out + run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_receipts_command_has_help()
    {
        foreach (var command in new[] { "export", "verify", "audit" })
        {
            var run = await Tool.RunAsync("receipts", command, "--help");
            Assert.True(run.ExitCode == 0, run.ToString());
            Assert.Contains("Usage:", run.Out, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Ndjson_lines_keep_their_exact_bytes_and_numbers_across_chunk_boundaries()
    {
        var line = new string('x', 70_000);
        using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes($"a\n\n{line}\r\nlast"));

        var lines = Cli.Receipts.NdjsonLines.Read(stream).ToList();

        Assert.Equal([1L, 3, 4], lines.Select(l => l.Number));
        Assert.Equal(line + "\r", System.Text.Encoding.UTF8.GetString(lines[1].Bytes));
        Assert.Equal("last", System.Text.Encoding.UTF8.GetString(lines[2].Bytes));
    }
}
