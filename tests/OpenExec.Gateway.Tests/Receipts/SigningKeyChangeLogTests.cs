using Microsoft.Extensions.Logging;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Receipts;

/// <summary>
/// A data dir's receipt-signing key replaced or lost between runs: the next start signs with a
/// new key, the earlier receipts stay verifiable, and the operator is told (it was silent; only
/// /health's receipt_key_id changed).
/// </summary>
public sealed class SigningKeyChangeLogTests : IDisposable
{
    private readonly string _dataDir = TempDir.Create();

    [Fact]
    public async Task A_start_with_another_key_than_the_chain_was_signed_with_logs_a_warning_naming_both()
    {
        string first;
        var quiet = new LogCapture();
        await using (var gateway = await GatewayServer.StartAsync(dataDir: _dataDir, configure: b => b.Logging.AddProvider(quiet)))
        {
            await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { a = 1 }, "before"));
            first = (await Json.ReadAsync(await gateway.Client.GetAsync("/health"))).Str("receipt_key_id");
        }
        Assert.DoesNotContain(quiet.Lines, l => l.Contains("Receipt signing key changed", StringComparison.Ordinal));

        // The same key again: nothing said.
        var same = new LogCapture();
        await using (await GatewayServer.StartAsync(dataDir: _dataDir, configure: b => b.Logging.AddProvider(same)))
        {
        }
        Assert.DoesNotContain(same.Lines, l => l.Contains("Receipt signing key changed", StringComparison.Ordinal));

        File.Delete(Path.Combine(_dataDir, "receipt-signing-key.pem"));
        var logs = new LogCapture();
        await using var again = await GatewayServer.StartAsync(dataDir: _dataDir, configure: b => b.Logging.AddProvider(logs));
        var now = (await Json.ReadAsync(await again.Client.GetAsync("/health"))).Str("receipt_key_id");
        Assert.NotEqual(first, now);
        var line = Assert.Single(logs.Lines, l => l.Contains("Receipt signing key changed", StringComparison.Ordinal));
        Assert.Contains($"now signed with key {now}; its earlier receipts were signed with {first}", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rotation_undone_by_a_start_without_the_key_path_logs_a_warning_naming_the_last_receipts_key()
    {
        // Started again without OpenExec:ReceiptKeyPath, the gateway signed with the data dir's
        // own (older) key without a word: a key the chain had used was not "changed".
        string older;
        await using (var gateway = await GatewayServer.StartAsync(dataDir: _dataDir))
        {
            await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { a = 1 }, "before"));
            older = (await Json.ReadAsync(await gateway.Client.GetAsync("/health"))).Str("receipt_key_id");
        }
        var rotated = Path.Combine(_dataDir, "rotated-key.pem");
        using (var generated = Core.Crypto.ReceiptSigningKey.Generate())
        {
            await File.WriteAllTextAsync(rotated, generated.ExportPrivatePem());
        }
        string newer;
        await using (var gateway = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["OpenExec:ReceiptKeyPath"] = rotated }, dataDir: _dataDir))
        {
            await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { a = 2 }, "rotated"));
            newer = (await Json.ReadAsync(await gateway.Client.GetAsync("/health"))).Str("receipt_key_id");
        }

        var logs = new LogCapture();
        await using var undone = await GatewayServer.StartAsync(dataDir: _dataDir, configure: b => b.Logging.AddProvider(logs));

        Assert.Equal(older, (await Json.ReadAsync(await undone.Client.GetAsync("/health"))).Str("receipt_key_id"));
        var line = Assert.Single(logs.Lines, l => l.Contains("Receipt signing key changed back", StringComparison.Ordinal));
        Assert.Contains($"now signed with key {older}, which it used before, but its last receipt (seq 2) was signed with {newer}", line, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dataDir, recursive: true);
}
