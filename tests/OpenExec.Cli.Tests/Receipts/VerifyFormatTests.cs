using OpenExec.Cli.Tests.Infrastructure;
using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;

namespace OpenExec.Cli.Tests.Receipts;

/// <summary>
/// `receipts verify` given a file that is not a receipt document as the gateway writes it: a
/// failed check (INVALID, exit 1) naming what is wrong, as `audit` reports the same document,
/// not a usage error.
/// </summary>
public sealed class VerifyFormatTests : IDisposable
{
    private readonly ReceiptFiles _files = new();
    private readonly ReceiptSigningKey _key = ReceiptSigningKey.Generate();

    public void Dispose()
    {
        _key.Dispose();
        _files.Dispose();
    }

    private ReceiptDocument Document() => ReceiptBatchSigner.Sign(_key, [ReceiptFiles.Body("ex_1", "gw-a", 1, ReceiptBody.GenesisPrev)])[0];

    private static string Altered(string text, string from, string to)
    {
        var altered = text.Replace(from, to, StringComparison.Ordinal);
        Assert.NotEqual(text, altered);
        return altered;
    }

    [Theory]
    [InlineData("{\"body\":{", "{\"body\":{\"extra\":\"x\",", "unknown field 'extra'")]
    [InlineData("\"exec_id\":\"ex_1\",", "", "missing field 'exec_id'")]
    [InlineData("\"seq\":1,", "\"seq\":\"1\",", "field 'seq' must be an integer")]
    [InlineData("\"kid\":", "\"note\":\"x\",\"kid\":", "unknown field 'note'")]
    [InlineData("\"seq\":1,", "\"seq\":1,\"seq\":2,", "Duplicate key 'seq'")]
    public async Task A_receipt_with_a_member_added_removed_mistyped_or_doubled_is_invalid_as_audit_says(string from, string to, string problem)
    {
        var altered = Altered(Document().ToJson(), from, to);

        var verify = await Tool.RunAsync("receipts", "verify", _files.Write("receipt.json", altered), "--keys", _files.KeysFile(_key));
        var audit = await Tool.RunAsync("receipts", "audit", "--file", _files.WriteLines([altered]), "--keys", _files.KeysFile(_key));

        Assert.True(verify.ExitCode == 1, verify.ToString());
        Assert.Contains("format     FAILED: not a receipt document:", verify.Out, StringComparison.Ordinal);
        Assert.Contains(problem, verify.Out, StringComparison.Ordinal);
        Assert.EndsWith("INVALID" + Environment.NewLine, verify.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("receipts audit", verify.Out + verify.Err, StringComparison.Ordinal);
        Assert.True(audit.ExitCode == 1, audit.ToString());
        Assert.Contains(problem, audit.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_that_is_not_json_is_invalid_as_such_a_line_is_for_audit()
    {
        var truncated = Document().ToJson()[..^1];

        var verify = await Tool.RunAsync("receipts", "verify", _files.Write("receipt.json", truncated), "--keys", _files.KeysFile(_key));
        var audit = await Tool.RunAsync("receipts", "audit", "--file", _files.WriteLines([truncated]), "--keys", _files.KeysFile(_key));

        Assert.True(verify.ExitCode == 1, verify.ToString());
        Assert.Contains("format     FAILED: not a receipt document: Unexpected end of input", verify.Out, StringComparison.Ordinal);
        Assert.True(audit.ExitCode == 1, audit.ToString());
    }

    [Fact]
    public async Task Usage_errors_are_still_exit_2_and_come_before_the_documents_check()
    {
        var altered = Altered(Document().ToJson(), "{\"body\":{", "{\"body\":{\"extra\":\"x\",");

        var missing = await Tool.RunAsync("receipts", "verify", Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N") + ".json"), "--keys", _files.KeysFile(_key));
        var noKeys = await Tool.RunAsync("receipts", "verify", _files.Write("receipt.json", altered), "--keys", _files.Write("keys.json", "{\"keys\":"));
        var export = await Tool.RunAsync("receipts", "verify", _files.WriteLines([Document().ToJson(), Document().ToJson()]), "--keys", _files.KeysFile(_key));

        Assert.True(missing.ExitCode == 2, missing.ToString());
        Assert.Contains("does not exist", missing.Err, StringComparison.Ordinal);
        Assert.True(noKeys.ExitCode == 2, noKeys.ToString());
        Assert.Contains("keys.json", noKeys.Err, StringComparison.Ordinal);
        Assert.True(export.ExitCode == 2, export.ToString());
        Assert.Contains("openexec receipts audit --file", export.Err, StringComparison.Ordinal);
    }
}
