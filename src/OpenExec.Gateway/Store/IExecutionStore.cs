using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;

namespace OpenExec.Gateway.Store;

/// <summary>
/// Durable state behind the boundary: nonce claims, consumed approvals and the receipt ledger.
/// One interface, two implementations (embedded SQLite, Redis); both keep the same guarantees:
/// a claim is durable before the action runs, and a receipt is durable before its answer leaves.
/// </summary>
internal interface IExecutionStore
{
    /// <summary>A short name for /health: <c>sqlite</c>, <c>redis</c>.</summary>
    string Kind { get; }

    /// <summary>
    /// Whether other chains' receipts leave this store with the nonce retention (Redis keeps its
    /// copies as long as the claims), so that a receipt's predecessor may be gone for good reason.
    /// </summary>
    bool ReceiptCopiesExpire { get; }

    /// <summary>Whether another instance can take a claim over once its lease ends (Redis): a call must then start within <see cref="Actions.BackendTimeouts.SendWithin"/> of its claim.</summary>
    bool ClaimsCanBeTakenOver { get; }

    /// <summary>
    /// Before serving: claims a dead process left unfinished in this data dir's embedded claim
    /// table become outcome_unknown receipts (with Redis too: a data dir that was run with the
    /// embedded store), so that their nonces and approvals never read as free. Returns the
    /// receipts written.
    /// </summary>
    Task<IReadOnlyList<ReceiptDocument>> RecoverAsync(Func<RecoveredClaim, ReceiptBody> draftFor, CancellationToken cancellationToken);

    /// <summary>SPEC step 4: what the store knows of this (tenant-scoped, hashed) nonce.</summary>
    ValueTask<NonceState> LookupAsync(string nonceSha256, CancellationToken cancellationToken);

    /// <summary>SPEC step 6: claim nonce and approval identity together, or neither.</summary>
    ValueTask<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Steps 6 and 7 in one write, for an in-process action whose result was worked out before
    /// the claim and leaves the process only with its receipt: claims as <see cref="ClaimAsync"/>
    /// does and, only when claimed, stores <paramref name="executed"/> as the claim's outcome.
    /// A crash before the write leaves nothing: no claim, no receipt, no answer.
    /// </summary>
    ValueTask<(ClaimResult Claim, ReceiptDocument? Receipt)> ClaimAndRecordAsync(ClaimRequest request, ReceiptBody executed, CancellationToken cancellationToken);

    /// <summary>
    /// Chains, signs and durably stores one receipt (group-committed with others), applying the
    /// claim update (outcome, or release) in the same write.
    /// </summary>
    ValueTask<ReceiptDocument> AppendReceiptAsync(ReceiptBody draft, ClaimUpdate? claimUpdate, CancellationToken cancellationToken);

    /// <summary>
    /// Extends the lease of a claim this exec id holds and has not finished to
    /// <paramref name="lease"/> from now (never shortening it); anything else is left as it is.
    /// With Redis, now is Redis's clock, not the gateway's.
    /// </summary>
    ValueTask RenewLeaseAsync(string nonceSha256, string execId, TimeSpan lease, CancellationToken cancellationToken);

    ValueTask<ReceiptDocument?> GetReceiptAsync(string execId, CancellationToken cancellationToken);

    ValueTask<IReadOnlyList<ReceiptDocument>> ListReceiptsAsync(string gateway, long afterSeq, int limit, CancellationToken cancellationToken);

    /// <summary>The last receipt of a gateway's chain, or null when it has none.</summary>
    ValueTask<ChainHead?> GetHeadAsync(string gateway, CancellationToken cancellationToken);

    ValueTask<IReadOnlyList<ChainHead>> ListGatewaysAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The latest signed checkpoint (the JSON of GET /receipts/head) each gateway sharing this
    /// store published, by gateway id: with Redis, what every instance lists for the others in
    /// /receipts/gateways. None in the embedded store, whose one gateway signs its own on request.
    /// </summary>
    ValueTask<IReadOnlyDictionary<string, string>> ListCheckpointsAsync(CancellationToken cancellationToken);

    /// <summary>Every receipt-signing public key ever used by a gateway sharing this store, with the gateways that used it.</summary>
    ValueTask<IReadOnlyList<SigningKeyRecord>> ListKeysAsync(CancellationToken cancellationToken);

    /// <summary>True when the store answers now.</summary>
    ValueTask<bool> PingAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Whether a claim's record that could not be written (its outcome, or its release) is still
    /// worth retrying at <paramref name="now"/>: with Redis only until the claim's lease ends
    /// (past it, another instance may take the claim over); with the embedded store for as long
    /// as it is open, since nothing else finishes the claim while this process runs.
    /// </summary>
    bool KeepRecording(DateTimeOffset leaseUntil, DateTimeOffset now);
}

/// <summary>
/// What the store holds for a nonce. <paramref name="TakenOver"/> is set for exactly one caller:
/// the one whose look-up or claim found the claim's lease expired without an outcome and turned
/// it into <c>outcome_unknown</c> (Redis store); that caller writes the claim's receipt.
/// </summary>
internal sealed record NonceState(NonceStatus Status, string? RequestSha256, string? ExecId, string? Receipt, string? Decision, RecoveredClaim? TakenOver = null)
{
    public static readonly NonceState Free = new(NonceStatus.Free, null, null, null, null);
}

/// <summary>A claim without an outcome whose holder is gone: found at start-up (embedded store) or past its lease (Redis).</summary>
/// <param name="ApprovalId">The verified artifact's approval_id (null in demo mode, and for a claim kept by a build before it was stored).</param>
internal sealed record RecoveredClaim(string NonceSha256, string RequestSha256, string? ApprovalIdentity, string ExecId, string Action, string Tenant, DateTimeOffset ClaimedAt, string? TraceId = null, string? ApprovalId = null)
{
    /// <summary>What its outcome_unknown receipt does to it: records that outcome, keeping nonce and approval used.</summary>
    public ClaimUpdate Outcome => new(NonceSha256, ApprovalIdentity, Release: false);
}

internal enum NonceStatus
{
    /// <summary>Never claimed (or released after nothing was sent).</summary>
    Free,

    /// <summary>Claimed and its holder is still running it.</summary>
    InProgress,

    /// <summary>Claimed and finished: the decision and receipt are known.</summary>
    Done,
}

/// <summary>
/// Steps 4 and 6 as one operation. With <paramref name="LookupOnly"/> (a step-5 check refused
/// the request) the store only reports a used nonce and otherwise writes nothing.
/// <paramref name="Now"/> is the gateway's clock (the claim's recorded start, its receipts'
/// started_at); <paramref name="Lease"/> is how long the claim holds from when the store takes
/// it (with Redis on Redis's clock, so no gateway's clock can end it early; below zero: already
/// over). The pipeline's ticket is its claim request (<see cref="Pipeline.ExecutionTicket"/>
/// derives from this): one object per request rather than a copy of its fields for the store.
/// </summary>
internal record ClaimRequest(
    Sha256Digest Nonce,
    Sha256Digest Request,
    Sha256Digest? Approval,
    string ExecId,
    string Action,
    string Tenant,
    DateTimeOffset Now,
    TimeSpan Lease,
    bool LookupOnly = false,
    W3CTraceId? Trace = null,
    string? ApprovalId = null,
    TimeSpan? SendWithin = null)
{
    /// <summary>The trace id in hex, or null (a new string each read: for the Redis store).</summary>
    public string? TraceId
    {
        get => Trace?.ToString();
        init => Trace = value is null ? null : W3CTraceId.ParseHex(value);
    }

    /// <summary>
    /// How soon after the claim was sent its call must start, or never: a call started later may
    /// outlive the lease (<see cref="Lease"/> = its timeout + this) and be taken over while it
    /// runs. <see cref="Actions.BackendTimeouts.SendWithin"/> unless set (tests).
    /// </summary>
    public TimeSpan StartWithin => SendWithin ?? Actions.BackendTimeouts.SendWithin;

    /// <summary>A claim request from the hashes' hex (lowercase; <see cref="FormatException"/> otherwise).</summary>
    public ClaimRequest(string NonceSha256, string RequestSha256, string? ApprovalIdentity, string ExecId, string Action, string Tenant, DateTimeOffset Now, TimeSpan Lease, bool LookupOnly = false, string? TraceId = null, string? ApprovalId = null, TimeSpan? SendWithin = null)
        : this(Sha256Digest.ParseHex(NonceSha256), Sha256Digest.ParseHex(RequestSha256), ApprovalIdentity is null ? null : Sha256Digest.ParseHex(ApprovalIdentity), ExecId, Action, Tenant, Now, Lease, LookupOnly, TraceId is null ? null : W3CTraceId.ParseHex(TraceId), ApprovalId, SendWithin)
    {
    }

    /// <summary>The approval's identity in hex, or null (a new string each read: for the Redis store's keys and values).</summary>
    public string? ApprovalIdentity => Approval?.ToString();

    /// <summary>The nonce hash in hex (a new string each read: for the Redis store's keys and values).</summary>
    public string NonceSha256 => Nonce.ToString();

    /// <summary>The action hash in hex (a new string each read).</summary>
    public string RequestSha256 => Request.ToString();
}

internal enum ClaimStatus
{
    Claimed,

    /// <summary>The nonce is free but nothing was claimed (<see cref="ClaimRequest.LookupOnly"/>).</summary>
    NotClaimed,
    NonceTaken,
    ApprovalReused,
}

/// <summary>The claim's result; <see cref="Existing"/> describes the nonce when it was taken.</summary>
internal readonly record struct ClaimResult(ClaimStatus Status, NonceState Existing);

/// <summary>How a receipt changes its claim: record the outcome, or release it (nothing was sent).</summary>
internal readonly record struct ClaimUpdate(Sha256Digest Nonce, Sha256Digest? Approval, bool Release)
{
    /// <summary>An update from the hashes' hex (lowercase; <see cref="FormatException"/> otherwise).</summary>
    public ClaimUpdate(string NonceSha256, string? ApprovalIdentity, bool Release)
        : this(Sha256Digest.ParseHex(NonceSha256), ApprovalIdentity is null ? null : Sha256Digest.ParseHex(ApprovalIdentity), Release)
    {
    }

    /// <summary>The approval's identity in hex, or null (a new string each read).</summary>
    public string? ApprovalIdentity => Approval?.ToString();

    /// <summary>The nonce hash in hex (a new string each read).</summary>
    public string NonceSha256 => Nonce.ToString();
}

internal sealed record ChainHead(string Gateway, long Seq, string Hash);

/// <summary>
/// A receipt-signing public key and the gateways that sign with it (one, unless an operator gave
/// several instances one key file); null for a key registered before gateways were recorded with
/// their keys, which verifies any gateway's receipts as it always did.
/// </summary>
internal sealed record SigningKeyRecord(string Kid, string X, IReadOnlyList<string>? Gateways);

/// <summary>The store cannot be reached or written: fail closed, answer 503.</summary>
internal sealed class StoreUnavailableException : Exception
{
    public StoreUnavailableException(string message, Exception? inner = null) : base(message, inner) { }

    public StoreUnavailableException() : base("The store is unavailable") { }

    public StoreUnavailableException(string message) : base(message) { }
}

/// <summary>
/// The action ran (or may have) but its outcome could not be written: answered 504
/// <c>outcome_unknown</c>, never 503, because something may have happened.
/// </summary>
internal sealed class OutcomeNotRecordedException : Exception
{
    public OutcomeNotRecordedException(string execId, Exception inner)
        : base("The outcome could not be recorded", inner) => ExecId = execId;

    public OutcomeNotRecordedException() : base("The outcome could not be recorded") => ExecId = "";

    public OutcomeNotRecordedException(string message) : base(message) => ExecId = "";

    public string ExecId { get; }
}
