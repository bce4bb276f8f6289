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
        var auditor = new ChainAuditor(keys, expectedFirstSeq, expectedPrev);
        foreach (var document in documentsInOrder)
        {
            if (auditor.Add(document) is not null)
            {
                break;
            }
        }
        return auditor.Report;
    }
}

/// <summary>
/// <see cref="ChainAudit"/> one receipt at a time: for a reader that meets several chains'
/// receipts interleaved in one stream and keeps one auditor per chain, so that the stream is
/// read once. After the first failure it examines nothing more.
/// </summary>
public sealed class ChainAuditor
{
    private readonly Func<string, PublicKey?> _keys;
    private string _prev;
    private string? _gateway;

    public ChainAuditor(Func<string, PublicKey?> keys, long expectedFirstSeq = 1, string? expectedPrev = null)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _keys = keys;
        ExpectedSeq = expectedFirstSeq;
        _prev = expectedPrev ?? ReceiptBody.GenesisPrev;
    }

    /// <summary>The seq the next receipt must have (after a failure: the one the failing receipt should have had).</summary>
    public long ExpectedSeq { get; private set; }

    /// <summary>The documents examined: all of them while none failed, otherwise up to and including the failing one.</summary>
    public long Count { get; private set; }

    public ChainAuditFailure? Failure { get; private set; }

    public ChainAuditReport Report => new(Count, Failure is null, Failure);

    /// <summary>
    /// Checks the next document of the chain. Returns the check it failed (hash, inclusion,
    /// signature, gateway, seq or prev), or null when it verifies and links; once a document has
    /// failed, returns that failure's check for every later one without examining it.
    /// </summary>
    public string? Add(ReceiptDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        if (Failure is not null)
        {
            return Failure.Check;
        }
        Count++;
        var check = FirstFailedCheck(document, _keys, _gateway, ExpectedSeq, _prev);
        if (check is not null)
        {
            Failure = new ChainAuditFailure(document.Body.Seq, document.Body.ExecId, check);
            return check;
        }
        _gateway = document.Body.Gateway;
        _prev = document.Hash;
        ExpectedSeq++;
        return null;
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
