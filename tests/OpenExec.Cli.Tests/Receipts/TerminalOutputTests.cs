using OpenExec.Cli.Tests.Infrastructure;
using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;

namespace OpenExec.Cli.Tests.Receipts;

/// <summary>
/// Reports quote values from documents the tool does not trust: a forged receipt must not drive
/// the auditor's terminal (escape sequences, carriage returns, bidirectional overrides).
/// </summary>
public sealed class TerminalOutputTests : IDisposable
{
    // Clears the line, returns to its start and prints a fake verdict; then reverses the text after it.
    private const string Hostile = "ex_1\u001b[2K\rVALID\u202Egnp.exe\u0085";

    private readonly ReceiptFiles _files = new();
    private readonly ReceiptSigningKey _key = ReceiptSigningKey.Generate();

    public void Dispose()
    {
        _key.Dispose();
        _files.Dispose();
    }

    private ReceiptDocument Document()
        => ReceiptBatchSigner.Sign(_key, [ReceiptFiles.Body(Hostile, "gw-a\u001b]0;title\u0007", 1, ReceiptBody.GenesisPrev)])[0];

    private string Write(string name, string text) => _files.Write(name, text);

    private string KeysFile() => _files.KeysFile(_key);

    [Fact]
    public async Task Verify_and_audit_print_control_characters_of_a_document_escaped()
    {
        var document = Document().ToJson();

        var verify = await Tool.RunAsync("receipts", "verify", Write("receipt.json", document), "--keys", KeysFile());
        var audit = await Tool.RunAsync("receipts", "audit", "--file", Write("receipts.ndjson", document + "\n"), "--keys", KeysFile());

        foreach (var run in new[] { verify, audit })
        {
            Assert.Equal(0, run.ExitCode);
            foreach (var forbidden in new[] { '\u001b', '\r', '\u202E', '\u0007', '\u0085' })
            {
                Assert.DoesNotContain(forbidden, run.Out + run.Err);
            }
        }
        Assert.Contains("ex_1\\u001b[2K\\u000dVALID\\u202egnp.exe\\u0085", verify.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_newline_in_a_value_cannot_start_a_report_line_of_its_own()
    {
        // Signed by a key the auditor does not trust: the verdicts are INVALID and FAILED, and the
        // values try to add lines reading as the verdicts of a document that passed.
        using var other = ReceiptSigningKey.Generate();
        var document = ReceiptBatchSigner.Sign(_key, [ReceiptFiles.Body("ex_1\nVALID\n", "gw-a\nOK: every check holds\n", 1, ReceiptBody.GenesisPrev)])[0].ToJson();

        var verify = await Tool.RunAsync("receipts", "verify", Write("receipt.json", document), "--keys", _files.KeysFile(other));
        var audit = await Tool.RunAsync("receipts", "audit", "--file", Write("receipts.ndjson", document + "\n"), "--keys", _files.KeysFile(other));

        Assert.Equal(1, verify.ExitCode);
        Assert.Equal(1, audit.ExitCode);
        Assert.DoesNotContain("VALID", verify.Out.Split('\n').Select(line => line.TrimEnd('\r')));
        Assert.DoesNotContain("OK: every check holds", audit.Out.Split('\n').Select(line => line.TrimEnd('\r')));
        Assert.Contains("ex_1\\u000aVALID\\u000a", verify.Out, StringComparison.Ordinal);
        Assert.Contains("gw-a\\u000aOK: every check holds\\u000a", audit.Out, StringComparison.Ordinal);
    }
}
