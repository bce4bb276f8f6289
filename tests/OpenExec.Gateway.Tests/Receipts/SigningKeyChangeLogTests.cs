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

    public void Dispose() => Directory.Delete(_dataDir, recursive: true);
}
