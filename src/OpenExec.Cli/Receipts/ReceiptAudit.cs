using OpenExec.Core.Json;
using OpenExec.Core.Receipts;

namespace OpenExec.Cli.Receipts;

/// <summary>A receipt (or line) that failed a check: where it is, which check, and why in one sentence.</summary>
internal sealed record AuditFinding(long Line, long? Seq, string? ExecId, string Check, string Detail)
{
    public string Where => Seq is { } seq ? $"seq {seq} exec_id {ExecId} (line {Line})" : $"line {Line}";
}

/// <summary>How many receipts passed one per-document check, and the first that did not.</summary>
internal sealed class CheckTally
{
    public long Passed { get; private set; }

    public long Failed { get; private set; }

    public AuditFinding? First { get; private set; }

    public void Pass(long count = 1) => Passed += count;

    public void Fail(AuditFinding finding)
    {
        Failed++;
        First ??= finding;
    }
}

/// <summary>The audit of one gateway's chain: per-check tallies and the first receipt that breaks it.</summary>
internal sealed class ChainResult(string gateway)
{
    public string Gateway { get; } = gateway;

    public long Count { get; set; }

    public long FirstSeq { get; set; }

    public long LastSeq { get; set; }

    public string FirstPrev { get; set; } = ReceiptBody.GenesisPrev;

    public CheckTally Hash { get; } = new();

    public CheckTally Inclusion { get; } = new();

    public CheckTally Signature { get; } = new();

    /// <summary>Null when every receipt verified and the chain links from the expected start to the end.</summary>
    public AuditFinding? ChainFailure { get; set; }

    /// <summary>The receipt hash at the checkpoint's seq, when the chain verified up to it.</summary>
    public string? HashAtCheckpoint { get; set; }

    public bool Ok => ChainFailure is null;
}

/// <summary>What <c>--head</c> found: whether the checkpoint is signed and matches the export.</summary>
internal sealed record HeadResult(bool Ok, string Detail);

/// <summary>The whole audit: unreadable lines, each chain, the checkpoint.</summary>
internal sealed class AuditResult
{
    public CheckTally Format { get; } = new();

    public List<ChainResult> Chains { get; } = [];

    public HeadResult? Head { get; set; }

    public bool Ok => Format.Failed == 0 && Chains.All(c => c.Ok) && Head?.Ok != false;
}

/// <summary>
/// Audits an NDJSON export with a <see cref="ChainAuditor"/> per gateway, in one streaming pass:
/// memory grows with the number of chains, not receipts, and the file is read once, so a pipe
/// (<c>--file /dev/stdin</c>, <c>&lt;(...)</c>) or a file that changes meanwhile cannot show the
/// audit other receipts than the ones it counted, and many chains cost no extra passes.
/// Every receipt is verified once by ChainAudit; after a break the rest are still verified
/// alone, so each check's tally covers the whole file.
/// </summary>
internal sealed class ReceiptAudit(string path, TrustedKeys keys, ProgressMeter progress)
{
    /// <param name="after">The export started after this seq: each chain is expected to start at after + 1.</param>
    /// <param name="prev">The hash of receipt <paramref name="after"/>, when known; otherwise a partial chain's first prev is taken on trust.</param>
    public AuditResult Run(long after, string? prev, Checkpoint? checkpoint)
    {
        var result = new AuditResult();
        var chains = new Dictionary<string, (ChainResult Result, ChainAuditor Auditor)>(StringComparer.Ordinal);
        progress.Restart("audited");
        foreach (var (line, document, error) in ReadAll())
        {
            progress.Add();
            if (document is null)
            {
                result.Format.Fail(new AuditFinding(line, null, null, "format", error!));
                continue;
            }
            result.Format.Pass();
            if (!chains.TryGetValue(document.Body.Gateway, out var chain))
            {
                var found = new ChainResult(document.Body.Gateway) { FirstSeq = document.Body.Seq, FirstPrev = document.Body.Prev };
                var expectedPrev = after == 0 ? ReceiptBody.GenesisPrev : prev ?? found.FirstPrev;
                chain = (found, new ChainAuditor(keys.For(found.Gateway), after + 1, expectedPrev));
                chains.Add(found.Gateway, chain);
                result.Chains.Add(found);
            }
            Audit(chain.Result, chain.Auditor, new NdjsonLineDocument(line, document), checkpoint);
        }
        if (checkpoint is not null)
        {
            result.Head = CheckHead(result, checkpoint, after);
        }
        return result;
    }

    private void Audit(ChainResult chain, ChainAuditor auditor, NdjsonLineDocument item, Checkpoint? checkpoint)
    {
        chain.Count++;
        chain.LastSeq = item.Document.Body.Seq;
        if (chain.ChainFailure is null)
        {
            var expectedSeq = auditor.ExpectedSeq;
            if (auditor.Add(item.Document) is not { } check)
            {
                chain.Hash.Pass();
                chain.Inclusion.Pass();
                chain.Signature.Pass();
                // Only a receipt that passed every check, and every link before it, can be compared with the checkpoint.
                if (checkpoint is not null && item.Document.Body.Seq == checkpoint.Seq
                    && string.Equals(checkpoint.Gateway, chain.Gateway, StringComparison.Ordinal))
                {
                    chain.HashAtCheckpoint = item.Document.Hash;
                }
                return;
            }
            chain.ChainFailure = new AuditFinding(item.Line, item.Document.Body.Seq, item.Document.Body.ExecId, check, ChainDetail(check, item.Document, expectedSeq));
        }

        // The failing receipt and the rest: each verified alone, for complete per-check tallies.
        Tally(chain, item);
    }

    private void Tally(ChainResult chain, NdjsonLineDocument item)
    {
        var checks = ReceiptVerifier.Verify(item.Document, keys.For(item.Document.Body.Gateway));
        Record(chain.Hash, checks.Hash, item, "hash");
        Record(chain.Inclusion, checks.Inclusion, item, "inclusion");
        Record(chain.Signature, checks.Signature, item, "signature");
    }

    private void Record(CheckTally tally, bool? passed, NdjsonLineDocument item, string check)
    {
        if (passed == true)
        {
            tally.Pass();
        }
        else
        {
            tally.Fail(new AuditFinding(item.Line, item.Document.Body.Seq, item.Document.Body.ExecId, check, ChainDetail(check, item.Document, item.Document.Body.Seq)));
        }
    }

    private string ChainDetail(string check, ReceiptDocument document, long expectedSeq) => check switch
    {
        "hash" => "the body does not hash to the receipt's 'hash': the receipt was altered",
        "inclusion" => "the batch inclusion path does not lead to a root: 'hash' or 'batch' was altered",
        "signature" when keys.NotTrustedFor(document.Kid, document.Body.Gateway) is { } why => $"signed by a key not trusted for it: {why}",
        "signature" => $"the signature does not verify under key {document.Kid}: the receipt or its batch was altered",
        "seq" => $"expected seq {expectedSeq}, found {document.Body.Seq}: a receipt is missing, duplicated or out of order before this one",
        "prev" => "'prev' is not the hash of the receipt before it: the chain was cut or spliced here",
        "gateway" => "the receipt names another gateway",
        _ => check,
    };

    private static HeadResult CheckHead(AuditResult result, Checkpoint checkpoint, long after)
    {
        var chain = result.Chains.FirstOrDefault(c => string.Equals(c.Gateway, checkpoint.Gateway, StringComparison.Ordinal));
        // When it was signed is part of what it vouches for: an old checkpoint is genuine too, and
        // proves nothing about what was written after it.
        var at = $"checkpoint of gateway {checkpoint.Gateway} at seq {checkpoint.Seq} (signed {checkpoint.Timestamp})";
        if (checkpoint.Seq == 0)
        {
            return string.Equals(checkpoint.Hash, ReceiptBody.GenesisPrev, StringComparison.Ordinal)
                ? new HeadResult(true, $"{at}: an empty chain")
                : new HeadResult(false, $"{at} names hash {checkpoint.Hash}, but an empty chain's head is 64 zeros");
        }
        if (checkpoint.Seq <= after)
        {
            return new HeadResult(true, $"{at} is before the audited range (after {after}); not compared");
        }
        if (chain is null)
        {
            return new HeadResult(false, $"the export holds no receipts of gateway {checkpoint.Gateway}, but its {at} vouches for {checkpoint.Seq} of them");
        }
        if (chain.HashAtCheckpoint is null)
        {
            return chain.Ok
                ? new HeadResult(false, $"the export ends at seq {chain.LastSeq}, but the {at} vouches for more: receipts {chain.LastSeq + 1}..{checkpoint.Seq} are missing (tail cut)")
                : new HeadResult(false, $"{at}: not comparable, the chain breaks before it (at seq {chain.ChainFailure!.Seq})");
        }
        return string.Equals(chain.HashAtCheckpoint, checkpoint.Hash, StringComparison.Ordinal)
            ? new HeadResult(true, $"{at}: receipt seq {checkpoint.Seq} has the checkpointed hash")
            : new HeadResult(false, $"{at}: receipt seq {checkpoint.Seq} has hash {chain.HashAtCheckpoint}, the checkpoint says {checkpoint.Hash}");
    }

    private IEnumerable<(long Line, ReceiptDocument? Document, string? Error)> ReadAll()
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        foreach (var line in NdjsonLines.Read(stream))
        {
            ReceiptDocument? document = null;
            string? error = null;
            try
            {
                document = ReceiptDocument.Parse(StrictJson.Parse(line.Bytes));
            }
            catch (Exception e) when (e is StrictJsonException or ReceiptFormatException)
            {
                error = NotADocument(e);
            }
            yield return (line.Number, document, error);
        }
    }

    /// <summary>The format check's finding for a line (or, for 'verify', a file) that is not a receipt document.</summary>
    internal static string NotADocument(Exception e) => $"not a receipt document: {e.Message}";

    private readonly record struct NdjsonLineDocument(long Line, ReceiptDocument Document);
}
