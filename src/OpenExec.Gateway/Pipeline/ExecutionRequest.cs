using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Store;

namespace OpenExec.Gateway.Pipeline;

/// <summary>
/// One request as a front door read it (SPEC step 1 done): the action, its payload (for the
/// action hash), the nonce and, in clawshield mode, the approval artifact. A front door that
/// worked the action hash out without building the payload (the proxy:
/// <see cref="ActionHash.OfProxied"/>) gives <paramref name="ActionSha256"/> and no payload. A
/// value: no object per request.
/// </summary>
internal readonly record struct ExecutionRequest(string Action, StrictValue? Payload, string Nonce, ApprovalArtifact? Approval, Sha256Digest? ActionSha256 = null)
{
    /// <summary>The action hash (SPEC section 4).</summary>
    public Sha256Digest RequestSha256() => ActionSha256 ?? ActionHash.Of(Action, Payload ?? throw new InvalidOperationException("A request has a payload or its action hash"));
}

/// <summary>
/// A request that passed steps 3–6: its claim is durable and it may execute exactly once. It is
/// the claim request the store was given (with <paramref name="LookupOnly"/> when a step-5 check
/// refused it, and then never handed out), so an attempt is one object through the pipeline, its
/// refusals included.
/// </summary>
internal sealed record ExecutionTicket(
    string ExecId,
    string Action,
    string Tenant,
    Sha256Digest Nonce,
    Sha256Digest Request,
    Sha256Digest? Approval,
    string? ApprovalId,
    DateTimeOffset StartedAt,
    W3CTraceId? Trace,
    long StartTimestamp,
    TimeSpan CallTimeout,
    bool LookupOnly = false)
    : ClaimRequest(Nonce, Request, Approval, ExecId, Action, Tenant, StartedAt, Actions.BackendTimeouts.Lease(CallTimeout), LookupOnly, Trace, ApprovalId), IReceiptAttempt
{
    /// <summary>When the attempt started: the claim's <see cref="ClaimRequest.Now"/>.</summary>
    public DateTimeOffset StartedAt => Now;

    /// <summary>
    /// The timestamp (<see cref="GatewayClock.Timestamp"/>) after which the call must not be sent:
    /// its claim was sent <see cref="Actions.BackendTimeouts.SendWithin"/> before it. Never with a
    /// store whose claims nobody else takes over.
    /// </summary>
    public long SendBy { get; set; } = long.MaxValue;
}

/// <summary>What happened when a ticket was executed (a value: nothing allocated per request); the result's hash as a value too.</summary>
internal readonly record struct ExecutionOutcome(
    string Decision,
    string? Code,
    Sha256Digest? Result,
    string? ResultForm,
    int? UpstreamStatus,
    bool ReleaseClaim = false)
{
    public static ExecutionOutcome Executed(Sha256Digest result, string resultForm, int? upstreamStatus = null)
        => new(Decisions.Executed, null, result, resultForm, upstreamStatus);
}

/// <summary>The decisions a receipt can record (SPEC section 3).</summary>
internal static class Decisions
{
    public const string Executed = "executed";
    public const string Rejected = "rejected";
    public const string ReplayDenied = "replay_denied";
    public const string InProgress = "in_progress";
    public const string NonceReused = "nonce_reused";
    public const string UpstreamFailed = "upstream_failed";
    public const string OutcomeUnknown = "outcome_unknown";
}

/// <summary>
/// A refusal at steps 3–6, already receipted. <paramref name="AskAgainLater"/>: the answer will
/// change (an attempt still running), so it carries <c>Retry-After</c>.
/// </summary>
internal sealed record Denial(int Status, string Code, string Detail, string ExecId, string Receipt, OriginalAttempt? Original, bool AskAgainLater = false);

/// <summary>The first attempt a replay is denied in favour of.</summary>
internal sealed record OriginalAttempt(string Id, string? Receipt, string Decision);

/// <summary>
/// The result of steps 3–6: exactly one of <see cref="Ticket"/> and <see cref="Denial"/> is set;
/// <see cref="Recorded"/> is the ticket's receipt when its outcome was recorded with the claim.
/// </summary>
internal readonly record struct Authorization(ExecutionTicket? Ticket, Denial? Denial, ReceiptDocument? Recorded = null);
