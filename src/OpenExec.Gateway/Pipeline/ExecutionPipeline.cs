using System.Diagnostics;
using System.Runtime.CompilerServices;
using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Configuration;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Telemetry;

namespace OpenExec.Gateway.Pipeline;

/// <summary>
/// SPEC section 3, steps 3–7, shared by both front doors (/execute and the proxy): approval,
/// nonce look-up, allow-list and time window, the atomic claim, then the receipt of whatever
/// happened. A front door does step 1 (reading its request) and 2 (resolving the action), calls
/// <see cref="AuthorizeAsync"/>, executes only with a ticket, then calls <see cref="CompleteAsync"/>.
/// </summary>
internal sealed class ExecutionPipeline
{
    /// <summary>The tenant every demo-mode nonce is scoped to.</summary>
    public const string DemoTenant = "default";

    /// <summary>Receipt tenant of a refused artifact when no tenant is pinned (AllowAnyTenant).</summary>
    private const string UnverifiedTenant = "unverified";

    /// <summary>How often a call that is still making progress renews its claim's lease.</summary>
    public static readonly TimeSpan LeaseRenewal = TimeSpan.FromSeconds(10);

    private readonly GatewaySettings _settings;
    private readonly IExecutionStore _store;
    private readonly GatewayClock _clock;
    private readonly Actions.BackendTimeouts _timeouts;

    public ExecutionPipeline(GatewaySettings settings, IExecutionStore store, GatewayClock clock, Actions.BackendTimeouts timeouts)
    {
        _settings = settings;
        _store = store;
        _clock = clock;
        _timeouts = timeouts;
    }

    /// <summary>
    /// Called as a running call makes progress (bytes from its backend): true, with the mark moved
    /// to now, when the claim's lease is due for renewal. A call that makes no progress for its
    /// backend timeout is ended by it, so renewing on progress keeps the lease ahead of any live
    /// call: at most <see cref="LeaseRenewal"/> + timeout after the last renewal, against a lease
    /// of timeout + 30 s. A clock stepped back behind the mark renews at once: the lease runs on
    /// the store's clock (Redis's), which did not step, and must not wait for this one to catch up.
    /// </summary>
    public bool LeaseRenewalDue(ref DateTimeOffset renewedAt)
    {
        var now = _clock.Now;
        if (now >= renewedAt && now - renewedAt < LeaseRenewal)
        {
            return false;
        }
        renewedAt = now;
        return true;
    }

    /// <summary>
    /// Extends a running call's lease, so that a long answer (an event stream, a slow download) is
    /// never taken for a dead holder's. A store that cannot be reached now is not retried: the
    /// lease then runs out as it would have, and the claim reads as outcome_unknown, never as free.
    /// </summary>
    public async Task RenewLeaseAsync(ExecutionTicket ticket)
    {
        try
        {
            await _store.RenewLeaseAsync(ticket.NonceSha256, ticket.ExecId, Actions.BackendTimeouts.Lease(ticket.CallTimeout), CancellationToken.None).ConfigureAwait(false);
        }
        catch (StoreUnavailableException)
        {
        }
    }

    /// <summary>
    /// Steps 3–6. A denial is already receipted; a ticket holds a durable claim.
    /// <paramref name="traceId"/> is the request's trace (<see cref="Telemetry.RequestTrace.TraceId"/>), recorded in its receipts.
    /// </summary>
    public ValueTask<Authorization> AuthorizeAsync(ExecutionRequest request, W3CTraceId? traceId, CancellationToken cancellationToken)
        => AuthorizeAsync(request, traceId, inProcess: null, cancellationToken);

    /// <summary>
    /// Steps 3–7 for an in-process action (a built-in) whose outcome was worked out from the
    /// request alone and has no effect until its answer leaves: the claim and the receipt of
    /// <paramref name="outcome"/> are one durable write (<see cref="IExecutionStore.ClaimAndRecordAsync"/>).
    /// A ticket comes with its receipt in <see cref="Authorization.Recorded"/>.
    /// </summary>
    public ValueTask<Authorization> AuthorizeAndRecordAsync(ExecutionRequest request, W3CTraceId? traceId, ExecutionOutcome outcome, CancellationToken cancellationToken)
        => AuthorizeAsync(request, traceId, outcome, cancellationToken);

    private ValueTask<Authorization> AuthorizeAsync(ExecutionRequest request, W3CTraceId? traceId, ExecutionOutcome? inProcess, CancellationToken cancellationToken)
    {
        var options = _settings.Options;
        var started = _clock.Now;
        var startTimestamp = Stopwatch.GetTimestamp();
        var requestHash = request.RequestSha256();

        // Step 3: approval.
        var approval = new ApprovalCheck(options.IsClawShield ? options.TenantId ?? UnverifiedTenant : DemoTenant, null, null, null);
        if (options.IsClawShield)
        {
            using var span = GatewayTelemetry.Start(GatewayTelemetry.Spans.ApprovalVerify);
            approval = CheckApproval(request.Approval, requestHash, approval.Tenant);
            if (approval.Refusal is { } r)
            {
                GatewayTelemetry.Fail(span, r.Code);
            }
        }

        // Step 5's checks consume nothing and need no store, so they are worked out first; but
        // they only answer when the nonce is free: a replay of an approved request is a replay
        // even after its approval expired (step 4 first).
        (string Code, string Detail)? windowRefusal = null;
        if (approval.Refusal is null)
        {
            if (_settings.AllowList is { } allowList && !allowList.Contains(request.Action))
            {
                windowRefusal = ("action_not_allowed", $"Action '{request.Action}' is not in the execution allow-list");
            }
            else if (options.IsClawShield && ApprovalWindow.Check(request.Approval!, started, options.ClockSkew, options.MaxApprovalLifetime) is { } refusal)
            {
                windowRefusal = (refusal.Code, refusal.Detail);
            }
        }

        // Steps 4 and 6 in one store operation: look the (tenant-scoped) nonce up and, only when it
        // is free and step 5 passed, claim nonce and approval together, atomically and durably.
        var ticket = new ExecutionTicket(GatewayClock.NewExecId(), request.Action, approval.Tenant, NonceHash.Of(approval.Tenant, request.Nonce), requestHash, approval.Identity, approval.Id, started, traceId, startTimestamp, _timeouts.For(request.Action), LookupOnly: windowRefusal is not null);
        if (approval.Refusal is { } denied)
        {
            return DenyAsync(ticket, denied.Status, denied.Code, denied.Detail, cancellationToken);
        }
        return ClaimAsync(ticket, inProcess, windowRefusal, cancellationToken);
    }

    /// <summary>
    /// Steps 4 and 6 for a prepared attempt, whose ticket is its claim request: an in-process
    /// action's outcome is recorded with its claim, and a step-5 refusal (<paramref name="windowRefusal"/>,
    /// the ticket then only looks its nonce up) is answered only when the nonce turns out to be free.
    /// </summary>
    [AsyncMethodBuilder(typeof(PerRequestAsync<>))]
    private async ValueTask<Authorization> ClaimAsync(ExecutionTicket ticket, ExecutionOutcome? inProcess, (string Code, string Detail)? windowRefusal, CancellationToken cancellationToken)
    {
        ClaimResult claim;
        ReceiptDocument? recorded = null;
        using (var span = GatewayTelemetry.Start(GatewayTelemetry.Spans.NonceClaim))
        {
            var claimStarted = Stopwatch.GetTimestamp();
            if (_store.ClaimsCanBeTakenOver)
            {
                ticket.SendBy = _clock.TimestampAfter(_clock.Timestamp(), Actions.BackendTimeouts.SendWithin);
            }
            try
            {
                if (inProcess is not { } outcome || ticket.LookupOnly)
                {
                    claim = await _store.ClaimAsync(ticket, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    // The record completes even for a client that hung up: once claimed, it ran.
                    (claim, recorded) = await _store.ClaimAndRecordAsync(ticket, OutcomeBody(ticket, outcome), CancellationToken.None).ConfigureAwait(false);
                    if (recorded is not null)
                    {
                        // The claim and the receipt are one write, so the receipt's span covers the
                        // claim's; it exists only when a receipt was written (a used nonce or approval
                        // writes none here: its refusal's receipt has a span of its own).
                        using var write = GatewayTelemetry.StartSince(GatewayTelemetry.Spans.ReceiptWrite, span);
                        TagReceipt(write, recorded);
                    }
                }
            }
            catch (Exception ex) when (GatewayTelemetry.StoreFailureCode(ex) is { } code)
            {
                GatewayTelemetry.Fail(span, code);
                throw;
            }
            GatewayTelemetry.StoreOperation("claim", claimStarted);
        }
        if (claim.Status != ClaimStatus.Claimed)
        {
            return await DenyClaimAsync(ticket, claim, windowRefusal, cancellationToken).ConfigureAwait(false);
        }
        if (recorded is not null)
        {
            GatewayTelemetry.Decided(ticket.Action, ticket.ExecId, ticket.Tenant, recorded.Body.Decision, recorded.Body.Code, recorded.Hash, ticket.StartTimestamp);
        }
        return new Authorization(ticket, null, recorded);
    }

    /// <summary>
    /// False once the call may no longer start (<see cref="ExecutionTicket.SendBy"/>): asked right
    /// before its request leaves. Its claim's answer came in time, but the gateway was held up
    /// between that and the send; sent now, the call could go out after another instance took the
    /// claim over as outcome_unknown (and an agent ran it again): it is not sent, as a call whose
    /// backend could not be reached.
    /// </summary>
    public bool MaySend(ExecutionTicket ticket) => _clock.Timestamp() <= ticket.SendBy;

    /// <summary>What a call too late to send answers and records (nothing sent: the claim is released when no other instance took it over).</summary>
    public const string TooLateDetail = "The gateway was held up between claiming the nonce and calling the backend, past the time the call could still start within its claim's lease; nothing was sent, the nonce and approval may be retried";

    private ValueTask<Authorization> DenyClaimAsync(ExecutionTicket attempt, ClaimResult claim, (string Code, string Detail)? windowRefusal, CancellationToken cancellationToken) => claim.Status switch
    {
        ClaimStatus.NonceTaken => DenyUsedNonceAsync(attempt, claim.Existing, cancellationToken),
        ClaimStatus.NotClaimed => DenyAsync(attempt, 403, windowRefusal!.Value.Code, windowRefusal.Value.Detail, cancellationToken),
        ClaimStatus.ApprovalReused => DenyAsync(attempt, 403, "approval_reused", "Approval already used: each approval runs once, under one nonce", cancellationToken),
        _ => throw new UnreachableException($"Claim status {claim.Status} is not a refusal"),
    };

    /// <summary>Step 7's record: the outcome, durably, with its receipt, before the answer leaves.</summary>
    /// <param name="leaseRenewedAt">When the claim's lease was last renewed (default: its start).</param>
    /// <remarks>
    /// The pipeline's async methods reuse their state machines (pooled builder): await each
    /// returned task once, as every caller does.
    /// </remarks>
    [AsyncMethodBuilder(typeof(PerRequestAsync<>))]
    public async ValueTask<ReceiptDocument> CompleteAsync(ExecutionTicket ticket, ExecutionOutcome outcome, CancellationToken cancellationToken, DateTimeOffset? leaseRenewedAt = null)
    {
        var body = OutcomeBody(ticket, outcome);
        var update = new ClaimUpdate(ticket.Nonce, ticket.Approval, outcome.ReleaseClaim);
        // The answer must not be lost to a client that hung up: the record completes regardless.
        // The store's write is awaited here, not through WriteReceiptAsync: one state machine per
        // proxied request fewer.
        ReceiptDocument document;
        try
        {
            using var span = GatewayTelemetry.Start(GatewayTelemetry.Spans.ReceiptWrite);
            var started = Stopwatch.GetTimestamp();
            try
            {
                document = await _store.AppendReceiptAsync(body, update, CancellationToken.None).ConfigureAwait(false);
            }
            catch (StoreUnavailableException)
            {
                // With the code the agent is answered with (below).
                GatewayTelemetry.Fail(span, outcome.ReleaseClaim ? "store_unavailable" : "outcome_unknown");
                throw;
            }
            Appended(span, started, document);
        }
        catch (StoreUnavailableException ex)
        {
            // The claim stays held: it is finished later, in the background, with what the agent
            // was told: a release (nothing was sent; answered 503), or outcome_unknown (the action
            // may have run; answered 504, never "nothing executed").
            var later = outcome.ReleaseClaim ? body : Draft(ticket.ExecId, ticket, Decisions.OutcomeUnknown, "outcome_unknown");
            // With Redis until the lease as it now stands ends (renewals may have moved it far past
            // the first one: a long stream), and no later: past it, another instance may take the
            // claim over. The embedded store has no one else to finish it: until it is written.
            _ = RecordLaterAsync(later, update, Actions.BackendTimeouts.LeaseFrom(leaseRenewedAt ?? ticket.StartedAt, ticket.CallTimeout));
            if (outcome.ReleaseClaim)
            {
                throw;
            }
            throw new OutcomeNotRecordedException(ticket.ExecId, ex);
        }
        GatewayTelemetry.Decided(ticket.Action, ticket.ExecId, ticket.Tenant, outcome.Decision, outcome.Code, document.Hash, ticket.StartTimestamp);
        return document;
    }

    private ReceiptBody OutcomeBody(ExecutionTicket ticket, ExecutionOutcome outcome)
        => Draft(ticket.ExecId, ticket, outcome.Decision, outcome.Code, outcome);

    /// <summary>
    /// Before serving: every claim a dead process left unfinished in this data dir gets its
    /// outcome_unknown receipt (<see cref="IExecutionStore.RecoverAsync"/>), each counted as the
    /// claims this gateway takes over later are (<see cref="DenyUsedNonceAsync"/>).
    /// </summary>
    public async Task RecoverAsync(CancellationToken cancellationToken)
    {
        foreach (var recovered in await _store.RecoverAsync(OutcomeUnknownDraft, cancellationToken).ConfigureAwait(false))
        {
            GatewayTelemetry.Recovered(recovered.Body);
        }
    }

    /// <summary>
    /// The receipt of a claim whose holder died before recording its outcome: its hashes as the
    /// store kept them (strings, recorded as they are, read back from a store).
    /// </summary>
    private ReceiptBody OutcomeUnknownDraft(RecoveredClaim claim)
        => NewBody(claim.ExecId, null, claim.Action, claim.Tenant, claim.ApprovalId, claim.ClaimedAt, Decisions.OutcomeUnknown, "outcome_unknown") with
        {
            NonceSha256 = claim.NonceSha256,
            RequestSha256 = claim.RequestSha256,
            ApprovalSha256 = claim.ApprovalIdentity,
            StartedAt = ReceiptTime.Format(claim.ClaimedAt),
            TraceId = claim.TraceId,
        };

    /// <summary>
    /// Step 3: present, authentic, for this tenant, for exactly this request. The artifact's
    /// tenant and approval id are taken only once its signature verified; until then the attempt
    /// is <paramref name="tenant"/>'s.
    /// </summary>
    private ApprovalCheck CheckApproval(ApprovalArtifact? artifact, Sha256Digest requestSha256, string tenant)
    {
        var options = _settings.Options;
        if (artifact is null)
        {
            return new(tenant, null, null, (403, "approval_required", "ClawShield mode requires an approval artifact"));
        }
        // The signed message is hashed and verified, never kept: on the stack when small.
        var length = artifact.SignedMessageLength();
        byte[]? rented = null;
        var signedMessage = length <= 1024 ? stackalloc byte[length] : (rented = System.Buffers.ArrayPool<byte>.Shared.Rent(length)).AsSpan(0, length);
        Sha256Digest identity;
        bool authentic;
        try
        {
            artifact.WriteSignedMessage(signedMessage);
            // Its identity as a value: written as hex only into the receipt and the claim's row.
            identity = Sha256Digest.Of(signedMessage);
            authentic = _settings.Verifier!.VerifySignature(artifact, signedMessage);
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
            }
        }
        if (!authentic)
        {
            return new(tenant, identity, null, (403, "invalid_signature", "Invalid signature: approval artifact is not authentic"));
        }
        // The configured tenant's own string when it is the artifact's: no copy of it per request.
        var artifactTenant = options.TenantId is { } expected && artifact.TenantIs(expected) ? expected : artifact.TenantId;
        if (!options.AllowAnyTenant && !string.Equals(artifactTenant, options.TenantId, StringComparison.Ordinal))
        {
            // The signature verified, so the receipt names the artifact's tenant (SPEC section 6);
            // the answer never names the expected one.
            return new(artifactTenant, identity, artifact.ApprovalId, (403, "tenant_mismatch", "Tenant mismatch: approval is for another tenant"));
        }
        if (!artifact.ActionHashIs(requestSha256))
        {
            return new(artifactTenant, identity, artifact.ApprovalId, (403, "action_hash_mismatch", "Action hash mismatch: approval does not match this request"));
        }
        return new(artifactTenant, identity, artifact.ApprovalId, null);
    }

    /// <summary>Step 3's findings: the attempt's tenant, the artifact's identity and approval id as far as they may be named, and its refusal.</summary>
    private readonly record struct ApprovalCheck(string Tenant, Sha256Digest? Identity, string? Id, (int Status, string Code, string Detail)? Refusal);

    private const string NonceReusedDetail = "Nonce already used for a different request; this one was not run. The first may have run (a retry with changes, or a redirect the client followed): check it before sending this request with a new nonce";

    [AsyncMethodBuilder(typeof(PerRequestAsync<>))]
    private async ValueTask<Authorization> DenyUsedNonceAsync(ExecutionTicket attempt, NonceState state, CancellationToken cancellationToken)
    {
        if (state.TakenOver is { } orphan)
        {
            // This gateway found a dead holder's expired claim first: its receipt goes in this chain.
            var recorded = await WriteReceiptAsync(OutcomeUnknownDraft(orphan), orphan.Outcome, CancellationToken.None).ConfigureAwait(false);
            GatewayTelemetry.Recovered(recorded.Body);
            state = state with { Receipt = recorded.Hash, Decision = recorded.Body.Decision, TakenOver = null };
        }
        if (!attempt.Request.IsHex(state.RequestSha256))
        {
            // Says nothing about the first request: a nonce guess must not reveal what it was for.
            // Nor does it advise a new nonce alone: a client that followed a backend's redirect,
            // or retried with a changed body, gets here after the first request ran.
            return await DenyAsync(attempt, 422, "nonce_reused", NonceReusedDetail, cancellationToken).ConfigureAwait(false);
        }
        if (state.Status == NonceStatus.InProgress)
        {
            // The same request (its hash matched): which attempt is running may be said, so an
            // agent whose own client gave up can find its receipt once it ends.
            var running = state.ExecId is { } runningId ? new OriginalAttempt(runningId, null, Decisions.InProgress) : null;
            return await DenyAsync(attempt, 409, "in_progress", "A request with this nonce is still running; retry later to see its outcome", cancellationToken, decision: Decisions.InProgress, original: running).ConfigureAwait(false);
        }
        var original = new OriginalAttempt(state.ExecId!, state.Receipt, state.Decision ?? Decisions.OutcomeUnknown);
        return await DenyAsync(attempt, 409, "replay_denied", "Replay denied: this nonce was already used for this request", cancellationToken, Decisions.ReplayDenied, original).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PerRequestAsync<>))]
    private async ValueTask<Authorization> DenyAsync(ExecutionTicket attempt, int status, string code, string detail, CancellationToken cancellationToken, string decision = Decisions.Rejected, OriginalAttempt? original = null)
    {
        if (status == 422)
        {
            decision = Decisions.NonceReused;
        }
        var execId = GatewayClock.NewExecId();
        var body = Draft(execId, attempt, decision, code);
        var doc = await WriteReceiptAsync(body, null, cancellationToken).ConfigureAwait(false);
        GatewayTelemetry.Decided(attempt.Action, execId, attempt.Tenant, decision, code, doc.Hash, attempt.StartTimestamp);
        // A nonce still running has its outcome to come: the same request asked again learns it.
        return new Authorization(null, new Denial(status, code, detail, execId, doc.Hash, original, AskAgainLater: decision == Decisions.InProgress));
    }

    /// <summary>
    /// Retries a claim's record that could not be written (a lock held too long, a full disk, Redis
    /// away), with backoff: with Redis until its lease would have run out (after that the claim is
    /// finished by whoever finds it); with the embedded store until it is written, since nothing
    /// else finishes it while this process runs (<see cref="IExecutionStore.KeepRecording"/>).
    /// </summary>
    private Task RecordLaterAsync(ReceiptBody body, ClaimUpdate update, DateTimeOffset until)
        => RetryBackoff.RunAsync(
            async () =>
            {
                var document = await WriteReceiptAsync(body, update, CancellationToken.None).ConfigureAwait(false);
                // The agent already had its 503 or 504 (counted as a refusal then).
                GatewayTelemetry.Decided(body.Action, body.ExecId, body.Tenant, body.Decision, body.Code, document.Hash, Stopwatch.GetTimestamp(), answered: true);
            },
            ex => ex is StoreUnavailableException,
            () => _store.KeepRecording(until, _clock.Now),
            waitFirst: true);

    [AsyncMethodBuilder(typeof(PerRequestAsync<>))]
    private async ValueTask<ReceiptDocument> WriteReceiptAsync(ReceiptBody body, ClaimUpdate? update, CancellationToken cancellationToken)
    {
        using var span = GatewayTelemetry.Start(GatewayTelemetry.Spans.ReceiptWrite);
        var started = Stopwatch.GetTimestamp();
        ReceiptDocument document;
        try
        {
            document = await _store.AppendReceiptAsync(body, update, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (GatewayTelemetry.StoreFailureCode(ex) is { } code)
        {
            GatewayTelemetry.Fail(span, code);
            throw;
        }
        Appended(span, started, document);
        return document;
    }

    private static void Appended(Activity? span, long started, ReceiptDocument document)
    {
        GatewayTelemetry.StoreOperation("append_receipt", started);
        TagReceipt(span, document);
    }

    private static void TagReceipt(Activity? span, ReceiptDocument document)
    {
        span?.SetTag(GatewayTelemetry.Tags.ExecId, document.Body.ExecId);
        span?.SetTag(GatewayTelemetry.Tags.Receipt, document.Hash);
    }

    /// <summary>
    /// The draft of a receipt of <paramref name="attempt"/> under <paramref name="execId"/> (its
    /// own, or a refusal's): a body without its chain fields (gateway, seq, prev: the store sets them).
    /// </summary>
    private ReceiptBody Draft(string execId, ExecutionTicket attempt, string decision, string? code, ExecutionOutcome? outcome = null)
        => NewBody(execId, attempt, attempt.Action, attempt.Tenant, attempt.ApprovalId, attempt.StartedAt, decision, code, outcome);

    /// <remarks>
    /// Its hashes and times are values, written into the receipt's JCS form and stored document
    /// without a string each (<see cref="ReceiptBody"/>'s internal constructor).
    /// </remarks>
    /// <param name="attempt">Its nonce, request and approval hashes, trace id and start, read by the body; null: the caller's <c>with</c> gives them as strings.</param>
    private ReceiptBody NewBody(string execId, ExecutionTicket? attempt, string action, string tenant, string? approvalId, DateTimeOffset started, string decision, string? code, ExecutionOutcome? outcome = null)
        // Never finished before it started: a wall clock stepped back during the call (NTP, by
        // hand) gave receipts whose call ended an hour before it began.
        => new(attempt, outcome?.Result, _clock.Now is var now && now > started ? now : started)
        {
            V = 1,
            ExecId = execId,
            Gateway = "",
            Seq = 0,
            Prev = "",
            Tenant = tenant,
            Action = action,
            Mode = _settings.Options.ModeName,
            ApprovalId = approvalId,
            Decision = decision,
            Code = code,
            ResultForm = outcome?.ResultForm,
            UpstreamStatus = outcome?.UpstreamStatus,
        };
}
