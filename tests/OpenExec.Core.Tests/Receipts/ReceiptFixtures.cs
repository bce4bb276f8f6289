using NSec.Cryptography;
using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;

namespace OpenExec.Core.Tests.Receipts;

internal static class ReceiptFixtures
{
    public static ReceiptBody Body(long seq = 1, string? prev = null, string gateway = "gw-a", string execId = "exec-1") => new()
    {
        ExecId = execId,
        Gateway = gateway,
        Seq = seq,
        Prev = prev ?? ReceiptBody.GenesisPrev,
        Tenant = "tenant-001",
        Action = "echo",
        Mode = "clawshield",
        NonceSha256 = "4320dc19cdcec8c9febcdaf557d92d9183e8cd6d7eefcdbb5d1151880121f2a1",
        RequestSha256 = "11410011e527ad258990fa54c54137f90192e73eea1358202783c45ea6f86b38",
        Decision = "executed",
        StartedAt = "2026-11-25T20:19:26.123456Z",
        FinishedAt = "2026-11-25T20:19:26.223456Z",
    };

    public static Func<string, PublicKey?> Keys(params ReceiptSigningKey[] keys) =>
        kid => keys.FirstOrDefault(k => k.Kid == kid)?.PublicKey;

    /// <summary>A chain of <paramref name="count"/> receipts signed in batches of <paramref name="batchSize"/>.</summary>
    public static List<ReceiptDocument> Chain(ReceiptSigningKey key, int count, int batchSize, string gateway = "gw-a")
    {
        var documents = new List<ReceiptDocument>();
        var prev = ReceiptBody.GenesisPrev;
        var seq = 1L;
        while (documents.Count < count)
        {
            var bodies = new List<ReceiptBody>();
            for (var i = 0; i < batchSize && documents.Count + bodies.Count < count; i++)
            {
                var body = Body(seq, prev, gateway, $"exec-{seq}");
                prev = ReceiptHash.Compute(body);
                bodies.Add(body);
                seq++;
            }
            documents.AddRange(ReceiptBatchSigner.Sign(key, bodies));
        }
        return documents;
    }
}
