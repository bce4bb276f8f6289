using NSec.Cryptography;

namespace OpenExec.Core.Receipts;

/// <summary>The first receipt that broke the chain and the check it failed: hash, inclusion, signature, gateway, seq or prev.</summary>
public sealed record ChainAuditFailure(long Seq, string ExecId, string Check);

/// <summary>
/// The result of auditing one gateway's chain. <see cref="Count"/> is the number of documents
/// examined: all of them when <see cref="Ok"/>, otherwise up to and including the failing one.
/// </summary>
public sealed record ChainAuditReport(long Count, bool Ok, ChainAuditFailure? Failure);

/// <summary>
/// Audits one gateway's receipts in chain order: each verifies alone, seq rises by exactly one,
/// each prev is the hash before it, one gateway throughout. Stops at the first failure and names it.
/// </summary>
public static class ChainAudit
{
    public static ChainAuditReport Audit(
        IEnumerable<ReceiptDocument> documentsInOrder,
        Func<string, PublicKey?> keys,
        long expectedFirstSeq = 1,
        string? expectedPrev = null)
    {
        ArgumentNullException.ThrowIfNull(documentsInOrder);
        ArgumentNullException.ThrowIfNull(keys);

        var expectedSeq = expectedFirstSeq;
        var prev = expectedPrev ?? ReceiptBody.GenesisPrev;
        string? gateway = null;
        long count = 0;
        foreach (var document in documentsInOrder)
        {
            count++;
            var check = FirstFailedCheck(document, keys, gateway, expectedSeq, prev);
            if (check is not null)
            {
                return new ChainAuditReport(count, false, new ChainAuditFailure(document.Body.Seq, document.Body.ExecId, check));
            }
            gateway = document.Body.Gateway;
            prev = document.Hash;
            expectedSeq++;
        }
        return new ChainAuditReport(count, true, null);
    }

    private static string? FirstFailedCheck(ReceiptDocument document, Func<string, PublicKey?> keys, string? gateway, long expectedSeq, string prev)
    {
        var checks = ReceiptVerifier.Verify(document, keys);
        if (checks.Hash != true)
        {
            return "hash";
        }
        if (checks.Inclusion != true)
        {
            return "inclusion";
        }
        if (checks.Signature != true)
        {
            return "signature";
        }
        if (gateway is not null && !string.Equals(document.Body.Gateway, gateway, StringComparison.Ordinal))
        {
            return "gateway";
        }
        if (document.Body.Seq != expectedSeq)
        {
            return "seq";
        }
        if (!string.Equals(document.Body.Prev, prev, StringComparison.Ordinal))
        {
            return "prev";
        }
        return null;
    }
}
