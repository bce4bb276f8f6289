using System.Text.Json;
using NSec.Cryptography;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;

namespace OpenExec.Gateway.Tests.Chaos;

/// <summary>
/// The independent audit an outside auditor runs: the full NDJSON export of one gateway's chain,
/// every line read strictly, checked by <see cref="ChainAudit"/> with nothing but the keys
/// published at <c>/.well-known/openexec-keys</c> (raw Ed25519 from base64url <c>x</c>).
/// </summary>
public static class ReceiptAuditor
{
    public static async Task<(List<ReceiptDocument> Chain, ChainAuditReport Report)> AuditAsync(HttpClient gateway, string? gatewayId = null)
    {
        var chain = await ExportAsync(gateway, gatewayId);
        var report = ChainAudit.Audit(chain, await KeysAsync(gateway));
        return (chain, report);
    }

    /// <summary>GET /receipts in pages of 10000 until the chain ends.</summary>
    public static async Task<List<ReceiptDocument>> ExportAsync(HttpClient gateway, string? gatewayId = null)
    {
        var chain = new List<ReceiptDocument>();
        while (true)
        {
            var query = $"/receipts?limit=10000&after={chain.Count}" + (gatewayId is null ? "" : $"&gateway={gatewayId}");
            var page = (await gateway.GetStringAsync(query)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            chain.AddRange(page.Select(line => ReceiptDocument.Parse(StrictJson.Parse(line))));
            if (page.Length < 10000)
            {
                return chain;
            }
        }
    }

    public static async Task<Func<string, PublicKey?>> KeysAsync(HttpClient gateway)
    {
        using var doc = JsonDocument.Parse(await gateway.GetStringAsync("/.well-known/openexec-keys"));
        var byKid = new Dictionary<string, PublicKey>(StringComparer.Ordinal);
        foreach (var key in doc.RootElement.GetProperty("keys").EnumerateArray())
        {
            if (key.GetProperty("kty").GetString() != "OKP" || key.GetProperty("crv").GetString() != "Ed25519")
            {
                continue;
            }
            var raw = System.Buffers.Text.Base64Url.DecodeFromChars(key.GetProperty("x").GetString());
            byKid[key.GetProperty("kid").GetString()!] = PublicKey.Import(SignatureAlgorithm.Ed25519, raw, KeyBlobFormat.RawPublicKey);
        }
        return kid => byKid.GetValueOrDefault(kid);
    }
}
