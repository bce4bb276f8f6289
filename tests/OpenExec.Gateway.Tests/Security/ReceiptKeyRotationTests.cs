using System.Net;
using OpenExec.Gateway.Tests.Chaos;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Security;

/// <summary>SECURITY.md, key handling: a receipt key that was replaced stays published, so old receipts stay verifiable.</summary>
public sealed class ReceiptKeyRotationTests
{
    [Fact]
    public async Task A_replaced_receipt_signing_key_stays_in_well_known_keys_and_its_receipts_still_verify()
    {
        var dataDir = TempDir.Create();
        try
        {
            string oldKid, oldExec;
            await using (var first = await GatewayServer.StartAsync(dataDir: dataDir))
            {
                oldKid = (await Json.ReadAsync(await first.Client.GetAsync("/health"))).Str("receipt_key_id");
                oldExec = (await Json.ReadAsync(await first.ExecuteAsync("echo", new { a = 1 }, "before-rotation"))).Str("id");
            }
            var newKey = Path.Combine(dataDir, "rotated-key.pem");
            using (var generated = Core.Crypto.ReceiptSigningKey.Generate())
            {
                await File.WriteAllTextAsync(newKey, generated.ExportPrivatePem());
            }
            await using var second = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["OpenExec:ReceiptKeyPath"] = newKey }, dataDir: dataDir);
            var newKid = (await Json.ReadAsync(await second.Client.GetAsync("/health"))).Str("receipt_key_id");
            Assert.NotEqual(oldKid, newKid);
            Assert.Equal(HttpStatusCode.OK, (await second.ExecuteAsync("echo", new { a = 2 }, "after-rotation")).StatusCode);

            var keys = (await Json.ReadAsync(await second.Client.GetAsync("/.well-known/openexec-keys"))).GetProperty("keys").EnumerateArray().Select(k => k.Str("kid")).ToList();
            Assert.Contains(oldKid, keys);
            Assert.Contains(newKid, keys);
            var (chain, report) = await ReceiptAuditor.AuditAsync(second.Client);
            Assert.True(report.Ok, $"chain audit across the rotation failed: {report.Failure}");
            Assert.Contains(chain, d => d.Body.ExecId == oldExec && d.Kid == oldKid);
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }
}
