using OpenExec.Core.Receipts;

namespace OpenExec.Gateway.Store;

/// <summary>A write whose caller resumes only when it is completed.</summary>
internal interface IHeldCompletion
{
    /// <summary>Resumes the caller with the write's result (on the thread pool, never inline).</summary>
    void Complete();
}

/// <summary>A committed receipt and its document's JSON as stored (empty when it was read back, not handed over).</summary>
internal readonly record struct CommittedReceipt(ReceiptDocument Document, ReadOnlyMemory<byte> Json);

/// <summary>A committed receipt's write, held until the receipt at <paramref name="Seq"/> is copied.</summary>
internal readonly record struct HeldWrite(long Seq, IHeldCompletion Write);

/// <summary>
/// Where a ledger's committed receipts go next (the Redis store's copier). A write may ask to be
/// held until its receipt is copied: its caller then resumes once the receipt is there (with the
/// Redis store, once Redis has recorded the claim's outcome it carries), or once the copier gives
/// up waiting. The copier must complete every write it is given, exactly once.
/// </summary>
internal interface IReceiptCopier
{
    /// <summary>
    /// Called on the ledger's writer thread after each commit that added receipts, with them in
    /// chain order, each one's document JSON exactly as the ledger stored it (the same index; the
    /// arrays are the callee's to keep, never changed), and the writes of that commit held for
    /// their copy (in seq order). No list is the callee's to keep: the ledger reuses them. Must
    /// not throw.
    /// </summary>
    void Committed(IReadOnlyList<ReceiptDocument> documents, IReadOnlyList<byte[]> json, IReadOnlyList<HeldWrite> held);
}
