using OpenExec.Core.Crypto;

namespace OpenExec.Core.Receipts;

/// <summary>
/// What every receipt of one attempt records of it, as values: the hashes of its nonce and its
/// request, its approval's identity (clawshield mode, once its signature verified), its trace and
/// when it started. The gateway's ticket is one; a draft body reads these
/// from it rather than keep copies (about 90 bytes per receipt).
/// </summary>
internal interface IReceiptAttempt
{
    Sha256Digest Nonce { get; }

    Sha256Digest Request { get; }

    /// <summary>The approval's identity (SHA-256 of its signed message), or null.</summary>
    Sha256Digest? Approval { get; }

    W3CTraceId? Trace { get; }

    DateTimeOffset StartedAt { get; }
}
