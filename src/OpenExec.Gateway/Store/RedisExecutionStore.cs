using System.Globalization;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Http;
using StackExchange.Redis;

namespace OpenExec.Gateway.Store;

/// <summary>
/// The shared store for several gateway instances: nonce claims and consumed approvals live in
/// Redis (one atomic script per claim, <see cref="RedisScripts"/>); each instance writes its own
/// receipt chain to its embedded ledger first (group commit, chain, batch signature) and
/// <see cref="RedisReceiptReplicator"/> copies it to Redis, so that any instance answers for all.
/// Fails closed: without Redis no look-up or claim succeeds, so nothing executes.
/// </summary>
internal sealed class RedisExecutionStore : IExecutionStore, IDisposable
{
    /// <summary>Nonce retention when <c>OpenExec:NonceRetention</c> is not set.</summary>
    public static readonly TimeSpan DefaultRetention = TimeSpan.FromDays(30);

    /// <summary>Client timeouts when the configuration string names none: fail fast, answer 503.</summary>
    private const int DefaultTimeoutMs = 2000;

    private readonly IConnectionMultiplexer _redis;
    private readonly SqliteReceiptLedger _ledger;
    private readonly RedisReceiptReplicator _replicator;
    private readonly GatewayIdentity _identity;
    private readonly TimeProvider _time;
    private readonly HealthWarnings? _warnings;
    private readonly ILogger<RedisExecutionStore> _log;
    private readonly long _retentionMs;
    private int _disposed;

    /// <param name="identity">This instance: its chain, key and data dir (the local ledger).</param>
    /// <param name="redis">The shared Redis; owned (disposed) by the store.</param>
    /// <param name="retention">How long claims and consumed approvals are kept.</param>
    /// <param name="time">The gateway's clock (what a claim records as its start). Leases, copy ages and sweeps are read on Redis's clock instead, one for every instance.</param>
    /// <param name="warnings">Where Redis settings that weaken the guarantee are reported, or null.</param>
    /// <param name="loggers">Logging.</param>
    /// <param name="recentCapacity">Committed receipts held in memory for the copy to Redis.</param>
    public RedisExecutionStore(GatewayIdentity identity, IConnectionMultiplexer redis, TimeSpan retention, TimeProvider time, HealthWarnings? warnings, ILoggerFactory loggers, int recentCapacity = RedisReceiptReplicator.DefaultRecentCapacity)
    {
        _identity = identity;
        _redis = redis;
        _time = time;
        _warnings = warnings;
        _log = loggers.CreateLogger<RedisExecutionStore>();
        _retentionMs = (long)retention.TotalMilliseconds;
        _replicator = new RedisReceiptReplicator(this, loggers.CreateLogger<RedisReceiptReplicator>(), recentCapacity);
        // The claim table is kept for what a data dir run with the embedded store may hold: its
        // unfinished claims are recovered at start (RecoverAsync); claims made here live in Redis.
        _ledger = new SqliteReceiptLedger(identity, new SqliteClaimTable(), copier: _replicator, _log);
        _redis.ConnectionRestored += OnConnectionRestored;
        _replicator.Start();
    }

    public string Kind => "redis";

    public bool ReceiptCopiesExpire => true;

    public bool ClaimsCanBeTakenOver => true;

    /// <summary>
    /// A data dir that was run with the embedded store may hold claims a dead process left
    /// unfinished; Redis never saw them. Each gets its outcome_unknown receipt here, and that
    /// receipt's copy restores the claim in Redis (the copy of a receipt whose claim Redis lacks
    /// does that). Waits, bounded, for those copies before the gateway serves.
    /// </summary>
    public async Task<IReadOnlyList<ReceiptDocument>> RecoverAsync(Func<RecoveredClaim, ReceiptBody> draftFor, CancellationToken cancellationToken)
    {
        // Kept for the sweeps of claims whose holder died (SweepAsync).
        _outcomeUnknownDraft = draftFor;
        try
        {
            // Before anything is signed: a ledger behind Redis's copy of its chain must not fork it.
            await _replicator.ReadHeadAsync(Database, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnavailable(ex) || _chainConflict is not null)
        {
            // Redis away: the copier checks once it is back (until then nothing is claimed).
        }
        if (_chainConflict is not null)
        {
            // Nothing is signed, these claims' receipts included: they are recovered at the first
            // start after the data dir is repaired. Meanwhile /health says why, and claims are refused.
            return [];
        }
        var recovered = await _ledger.RecoverUnfinishedAsync(draftFor, _log, cancellationToken).ConfigureAwait(false);
        // Claims are taken only once Redis has every receipt the ledger holds now (their copies
        // restore the claims Redis may lack). Normally it already has them.
        _claimsFromSeq = _ledger.CommittedSeq;
        if (recovered.Count == 0)
        {
            return recovered;
        }
        var deadline = Environment.TickCount64 + (long)RecoveryCopyWait.TotalMilliseconds;
        while (_replicator.CopiedSeq < _ledger.CommittedSeq && Environment.TickCount64 < deadline)
        {
            _replicator.Signal();
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
        return recovered;
    }

    private static readonly TimeSpan RecoveryCopyWait = TimeSpan.FromSeconds(10);

    /// <summary>How the pipeline drafts a dead holder's outcome_unknown receipt; set by <see cref="RecoverAsync"/>.</summary>
    private volatile Func<RecoveredClaim, ReceiptBody>? _outcomeUnknownDraft;

    /// <summary>How many expired claims one sweep script looks at, and how many scripts one sweep runs per gateway at most (every claim enters the set, so a sweep keeps up with 10 000 claims a second per gateway).</summary>
    private const int SweepBatch = 1000, SweepRounds = 50;

    /// <summary>
    /// A claim whose holder died (a killed process, a lost machine) reads as outcome_unknown once
    /// its lease has passed, but only a look-up of its nonce took it over and wrote that receipt:
    /// a nonce nobody sent again kept the attempt without any receipt until the retention ended.
    /// Each instance sweeps its own gateway's claims (those its previous process left) whose lease
    /// ended more than <see cref="SweepGrace"/> ago and takes over the ones still unfinished. Only
    /// its own, and only once its copier has caught up with its ledger (the replicator's call): a
    /// claim whose receipt the ledger holds but Redis has not yet been given (after an outage) is
    /// finished by that copy, never taken over; another instance could not know that.
    /// </summary>
    internal async Task SweepAsync(CancellationToken cancellationToken)
    {
        if (_outcomeUnknownDraft is not { } draftFor || _chainConflict is not null || !ClaimsOpen())
        {
            return;
        }
        var held = RedisScripts.Held(_identity.GatewayId);
        for (var round = 0; round < SweepRounds; round++)
        {
            var result = (RedisResult[])(await Database.ScriptEvaluateAsync(RedisScripts.Sweep, [held], [(long)SweepGrace.TotalMilliseconds, SweepBatch]).ConfigureAwait(false))!;
            await TakeOverAsync(result.Skip(1), draftFor, cancellationToken).ConfigureAwait(false);
            if ((long)result[0] < SweepBatch)
            {
                break;
            }
        }
    }

    /// <summary>How long after its lease (on Redis's clock) a claim is left before a sweep takes it over.</summary>
    private static readonly TimeSpan SweepGrace = TimeSpan.FromSeconds(10);

    /// <summary>Looks up each stranded claim (which takes over one whose lease has passed) and writes the receipt of each taken over.</summary>
    private async Task TakeOverAsync(IEnumerable<RedisResult> stranded, Func<RecoveredClaim, ReceiptBody> draftFor, CancellationToken cancellationToken)
    {
        foreach (var key in stranded)
        {
            var state = await LookupAsync(RedisScripts.NonceOf((string)key!), cancellationToken).ConfigureAwait(false);
            if (state.TakenOver is { } orphan)
            {
                var recorded = await AppendReceiptAsync(draftFor(orphan), orphan.Outcome, waitForCopy: false).ConfigureAwait(false);
                Telemetry.GatewayTelemetry.Recovered(recorded.Body);
            }
        }
    }

    /// <summary>The ledger's seq at start: no claim is taken before Redis has the receipts up to it (then 0).</summary>
    private long _claimsFromSeq;

    /// <summary>
    /// Once Redis has had the start-time receipts, the gate stays open: a later loss (a flush, a
    /// failover) is repaired by the copier while claims go on, as the README says, rather than
    /// refusing every claim while the whole history is copied again.
    /// </summary>
    private bool ClaimsOpen()
    {
        var from = Volatile.Read(ref _claimsFromSeq);
        if (from == 0)
        {
            return true;
        }
        if (_replicator.CopiedSeq < from)
        {
            return false;
        }
        Volatile.Write(ref _claimsFromSeq, 0);
        return true;
    }

    internal SqliteReceiptLedger Ledger => _ledger;

    /// <summary>
    /// Set when Redis holds more of this gateway's chain than its own ledger, or another receipt
    /// at one of its seqs: nothing is signed or claimed any more.
    /// </summary>
    private volatile string? _chainConflict;

    private readonly Lock _conflictLock = new();

    /// <summary>
    /// Redis holds this gateway's chain further than the local ledger does (a data dir restored
    /// from an earlier backup, a lost WAL): signing on would give a second receipt for the seqs
    /// Redis already has, which the copy would skip. Fail closed until the operator repairs it.
    /// </summary>
    internal void ChainConflict(long redisHead, long ledgerHead)
        => Conflict($"Redis holds this gateway's chain up to seq {redisHead} (receipts its ledger, at seq {ledgerHead}, does not hold): the data dir lost receipts (restored from an earlier backup?); nothing is signed or claimed until its latest state is restored");

    /// <summary>
    /// Redis holds another receipt at a seq this gateway signed: a second process signs its chain
    /// (a copy of the data dir started beside it, the same gateway id). Fail closed, as above.
    /// </summary>
    internal void ChainForked()
        => Conflict($"Redis holds another receipt at a seq of this gateway's chain ({_identity.GatewayId}): a second process signs it (a copy of this data dir running as another instance?); nothing is signed or claimed here until only one process runs with this data dir and this one is restarted");

    /// <summary>The first conflict found stays the one named (the checks after it find its consequences).</summary>
    private void Conflict(string conflict)
    {
        lock (_conflictLock)
        {
            if (_chainConflict is not null)
            {
                return;
            }
            _chainConflict = conflict;
        }
        _warnings?.Set("chain", [conflict]);
    }

    private void ThrowIfChainConflict()
    {
        if (_chainConflict is { } conflict)
        {
            throw new StoreUnavailableException(conflict);
        }
    }

    internal GatewayIdentity Identity => _identity;

    internal IDatabase Database => _redis.GetDatabase();

    internal long RetentionMs => _retentionMs;

    /// <summary>
    /// The StackExchange.Redis options for <c>ConnectionStrings:Redis</c>: never abort on a failed
    /// connect (reconnect in the background), fail commands fast while disconnected, and time
    /// out after 2 s unless the string says otherwise. Throws <see cref="ArgumentException"/> for
    /// a string StackExchange.Redis cannot read.
    /// </summary>
    /// <summary>
    /// What is wrong with a StackExchange.Redis configuration string, by the position of the
    /// element at fault and never its text: the string may hold a password, and a password with a
    /// comma or an '=' splits into elements (the rest read as a host, resolved and logged on every
    /// retry, or as an option whose name the parser's message would quote). Null when it is usable.
    /// </summary>
    public static string? ConfigurationProblem(string configuration)
    {
        var elements = configuration.Split(',');
        var endpoints = 0;
        for (var i = 0; i < elements.Length; i++)
        {
            var element = elements[i].Trim();
            if (element.Length == 0)
            {
                continue;
            }
            if (element.Contains("://", StringComparison.Ordinal))
            {
                // redis://host:6379 read as the host "redis://host" with its port: never resolved,
                // retried for ever with /ready and every request a 503.
                return $"element {i + 1} of the comma-separated string is a URL (scheme://...), which StackExchange.Redis does not read: give host:port, then options (127.0.0.1:6379,password=...,ssl=true) (not shown: it may hold a password)";
            }
            if (element.Contains('=', StringComparison.Ordinal))
            {
                try
                {
                    ConfigurationOptions.Parse(element);
                }
                catch (ArgumentException)
                {
                    return $"element {i + 1} of the comma-separated string is an option StackExchange.Redis does not know, or a value it cannot read (not shown: it may be part of a password, which cannot hold ',' here)";
                }
                continue;
            }
            var colon = element.LastIndexOf(':');
            var port = colon < 0 ? [] : element.AsSpan(colon + 1);
            if (colon <= 0 || port.IsEmpty || port.ContainsAnyExcept("0123456789") || !ushort.TryParse(port, out var number) || number == 0)
            {
                return $"element {i + 1} of the comma-separated string is neither an option (name=value) nor an endpoint with its port (host:port); give every endpoint as host:port (not shown: it may be part of a password, which cannot hold ',' here)";
            }
            endpoints++;
        }
        return endpoints == 0 ? "names no Redis endpoint: give host:port first (127.0.0.1:6379,...)" : null;
    }

    public static ConfigurationOptions ParseConfiguration(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.ReconnectRetryPolicy = new LinearRetry(1000);
        // StackExchange.Redis counts INFO (the settings check) as an admin command; the gateway
        // issues no other one.
        options.AllowAdmin = true;
        if (!Names(configuration, "connectTimeout"))
        {
            options.ConnectTimeout = DefaultTimeoutMs;
        }
        if (!Names(configuration, "syncTimeout"))
        {
            options.SyncTimeout = DefaultTimeoutMs;
        }
        if (!Names(configuration, "asyncTimeout"))
        {
            options.AsyncTimeout = DefaultTimeoutMs;
        }
        return options;

        static bool Names(string configuration, string option) => configuration.Contains(option + "=", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Never shorter than an approval can be used: a used approval must not run again.</summary>
    public static TimeSpan RetentionFor(TimeSpan? configured, TimeSpan maxApprovalLifetime, TimeSpan clockSkew)
    {
        var retention = configured ?? DefaultRetention;
        var longest = Core.Approvals.ApprovalWindow.LongestUse(maxApprovalLifetime, clockSkew);
        return retention < longest ? longest : retention;
    }

    public async ValueTask<NonceState> LookupAsync(string nonceSha256, CancellationToken cancellationToken)
    {
        var result = await EvaluateAsync(RedisScripts.LookupScript, [RedisScripts.Nonce(nonceSha256)], [_identity.GatewayId]).ConfigureAwait(false);
        var fields = (RedisResult[])result!;
        return (string?)fields[0] == "free" ? NonceState.Free : ReadState(fields, nonceSha256);
    }

    public async ValueTask<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken)
    {
        if (request.LookupOnly)
        {
            // Nothing may be written: a plain look-up (which still takes over an expired claim).
            var state = await LookupAsync(request.NonceSha256, cancellationToken).ConfigureAwait(false);
            return state.Status == NonceStatus.Free ? new ClaimResult(ClaimStatus.NotClaimed, NonceState.Free) : new ClaimResult(ClaimStatus.NonceTaken, state);
        }
        ThrowIfChainConflict();
        if (!ClaimsOpen())
        {
            // Redis does not yet hold this data dir's receipts as far as the ledger had them at
            // start (a data dir from the embedded store, a Redis that lost data): the claims they
            // restore may be missing, so nothing is claimed until they are there.
            throw new StoreUnavailableException("Redis is still receiving this gateway's receipts; nothing claimed");
        }
        var nonceKey = RedisScripts.Nonce(request.Nonce);
        // The identity's hex, made once: the approval's key and the claim's record both name it.
        var approval = request.ApprovalIdentity;
        var approvalKey = approval is not null ? RedisScripts.Approval(approval) : nonceKey;
        RedisResult result;
        var sent = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            result = await EvaluateAsync(RedisScripts.ClaimScript, [nonceKey, approvalKey, RedisScripts.Abandoned(request.ExecId), RedisScripts.Held(_identity.GatewayId)],
            [
                _identity.GatewayId, request.RequestSha256, request.ExecId, request.Action, request.Tenant,
                (long)request.Lease.TotalMilliseconds, _retentionMs, approval ?? "", request.Now.ToUnixTimeMilliseconds(),
                request.TraceId ?? "", request.ApprovalId ?? "",
            ]).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            // The caller answers 503, nothing consumed, and nothing runs under this exec id. But a
            // claim that timed out may still be applied once Redis catches up, before or after
            // this: free whatever it holds, and refuse it if it comes later, as soon as Redis
            // answers (only this exec id's claim is ever freed). A claim the client never wrote
            // (no connection: the fail-fast refusal of every request during an outage) has
            // nothing to undo.
            if (!NeverSent(ex))
            {
                Abandon(nonceKey, approvalKey, request);
            }
            throw;
        }
        var fields = (RedisResult[])result!;
        return (string?)fields[0] switch
        {
            "abandoned" => throw new StoreUnavailableException("This claim was given up on before Redis applied it; nothing claimed"),
            "claimed" => ClaimedInTime(sent, nonceKey, approvalKey, request),
            "approval" => new ClaimResult(ClaimStatus.ApprovalReused, NonceState.Free),
            _ => new ClaimResult(ClaimStatus.NonceTaken, ReadState(fields, request.NonceSha256)),
        };
    }

    /// <summary>
    /// A claim whose answer came back later than its call may start (a gateway paused, a VM
    /// suspended, a reply held on the network): its lease may have run out and another instance
    /// taken it over as outcome_unknown, on which an agent may already have acted (asked the
    /// backend, which had nothing, and run it again under a new nonce). Sending now could run the
    /// action twice; it is given up on instead, as a claim whose answer never came (503, nothing
    /// sent), measured on this process's monotonic clock, which a paused process still counts.
    /// </summary>
    private ClaimResult ClaimedInTime(long sent, RedisKey nonceKey, RedisKey approvalKey, ClaimRequest request)
    {
        var took = System.Diagnostics.Stopwatch.GetElapsedTime(sent);
        if (took < request.StartWithin)
        {
            return new ClaimResult(ClaimStatus.Claimed, NonceState.Free);
        }
        StoreLog.ClaimAnsweredLate(_log, request.ExecId, took);
        Abandon(nonceKey, approvalKey, request);
        throw new StoreUnavailableException($"Redis answered the claim after {took.TotalSeconds:0.#} s, too late to start its call within its lease; nothing sent");
    }

    /// <summary>
    /// The claim is Redis's (shared with the other instances), the receipt the local ledger's: two
    /// writes. When the second fails the claim stays held (outcome_unknown after its lease).
    /// </summary>
    public async ValueTask<(ClaimResult Claim, ReceiptDocument? Receipt)> ClaimAndRecordAsync(ClaimRequest request, ReceiptBody executed, CancellationToken cancellationToken)
    {
        var claim = await ClaimAsync(request, cancellationToken).ConfigureAwait(false);
        if (claim.Status != ClaimStatus.Claimed)
        {
            return (claim, null);
        }
        try
        {
            return (claim, await AppendReceiptAsync(executed, new ClaimUpdate(request.Nonce, request.Approval, Release: false), CancellationToken.None).ConfigureAwait(false));
        }
        catch (StoreUnavailableException ex)
        {
            throw new OutcomeNotRecordedException(request.ExecId, ex);
        }
    }

    /// <summary>How long an abandoned exec id stays marked: far beyond the moment a late claim is read off its connection.</summary>
    internal static readonly TimeSpan AbandonedMark = TimeSpan.FromHours(1);

    /// <summary>Abandoned claims waiting for Redis at most; past it, one is not marked (see <see cref="Abandon"/>).</summary>
    internal const int AbandonsKept = 10_000;

    /// <summary>Claims given up on (timed out, maybe applied later), by exec id, until Redis has them marked.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (RedisKey Nonce, RedisKey Approval, bool WithApproval)> _abandons = new(StringComparer.Ordinal);

    private int _abandoning;
    private int _abandonsDropped;

    /// <summary>Abandoned claims not yet marked in Redis.</summary>
    internal int PendingAbandons => _abandons.Count;

    /// <summary>True when the failure proves the command was never written to Redis (no connection to write it on).</summary>
    internal static bool NeverSent(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is RedisConnectionException { CommandStatus: CommandStatus.WaitingToBeSent })
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Frees an abandoned claim and marks its exec id (<see cref="RedisScripts.Abandon"/>) once
    /// Redis answers, however long that takes: a claim applied once Redis resumes, after its
    /// lease, would otherwise stay held and read as outcome_unknown for an attempt the agent was
    /// told never ran. One worker marks them all, retrying with backoff, and at most
    /// <see cref="AbandonsKept"/> wait: a long outage must not grow memory and retries without
    /// bound. One that does not fit is left as it is: if Redis applies it after all, it reads
    /// as outcome_unknown after its lease (the nonce spent; never free, never run twice).
    /// </summary>
    private void Abandon(RedisKey nonceKey, RedisKey approvalKey, ClaimRequest request)
    {
        if (_abandons.Count >= AbandonsKept)
        {
            if (Interlocked.Increment(ref _abandonsDropped) == 1)
            {
                StoreLog.AbandonsDropped(_log, AbandonsKept);
            }
            return;
        }
        _abandons.TryAdd(request.ExecId, (nonceKey, approvalKey, request.Approval is not null));
        if (Interlocked.Exchange(ref _abandoning, 1) == 0)
        {
            _ = MarkAbandonedAsync();
        }
    }

    private async Task MarkAbandonedAsync()
    {
        while (true)
        {
            foreach (var (execId, claim) in _abandons)
            {
                await RetryBackoff.RunAsync(
                    () => Database.ScriptEvaluateAsync(RedisScripts.Abandon, [claim.Nonce, claim.Approval, RedisScripts.Abandoned(execId)],
                        [execId, claim.WithApproval ? "1" : "0", (long)AbandonedMark.TotalMilliseconds]),
                    IsUnavailable,
                    () => Volatile.Read(ref _disposed) == 0).ConfigureAwait(false);
                if (Volatile.Read(ref _disposed) != 0)
                {
                    return;
                }
                _abandons.TryRemove(execId, out _);
            }
            Interlocked.Exchange(ref _abandoning, 0);
            // One added between the last pass and the release is this worker's, unless another took it.
            if (_abandons.IsEmpty || Interlocked.Exchange(ref _abandoning, 1) != 0)
            {
                return;
            }
        }
    }

    /// <summary>
    /// The receipt is durable in the local ledger before this returns, and the claim's outcome is
    /// in Redis too when Redis answers: a released claim is freed by its own script; an outcome is
    /// recorded by the receipt's copy, which this waits for (<see cref="RedisReceiptReplicator.HoldAtMost"/>
    /// at most; the copier carries the receipts of many calls in one script, and resumes their
    /// callers together). When Redis does not take it in time, the copy records it later (it
    /// retries until it succeeds); until then the claim reads as in progress, and after its lease
    /// as outcome_unknown: never as free.
    /// </summary>
    public ValueTask<ReceiptDocument> AppendReceiptAsync(ReceiptBody draft, ClaimUpdate? claimUpdate, CancellationToken cancellationToken)
        => AppendReceiptAsync(draft, claimUpdate, waitForCopy: true);

    /// <param name="waitForCopy">False for a sweep's takeovers: nobody waits for their answers, and a sweep of many need not wait for each copy.</param>
    private async ValueTask<ReceiptDocument> AppendReceiptAsync(ReceiptBody draft, ClaimUpdate? claimUpdate, bool waitForCopy)
    {
        ThrowIfChainConflict();
        var doc = await _ledger.AppendAsync(draft, claimUpdate: null, holdForCopy: waitForCopy && claimUpdate is { Release: false }).ConfigureAwait(false);
        if (claimUpdate is not { Release: true } update)
        {
            return doc;
        }
        try
        {
            // At once, not with the copy: a caller told nothing was sent may retry the same nonce now.
            var nonceKey = RedisScripts.Nonce(update.Nonce);
            var approvalKey = update.ApprovalIdentity is { } identity ? RedisScripts.Approval(identity) : nonceKey;
            await Database.ScriptEvaluateAsync(RedisScripts.Release, [nonceKey, approvalKey], [doc.Body.ExecId, update.ApprovalIdentity is null ? "0" : "1"]).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            StoreLog.ReleaseDeferred(_log, doc.Body.ExecId, ex);
        }
        return doc;
    }

    public async ValueTask RenewLeaseAsync(string nonceSha256, string execId, TimeSpan lease, CancellationToken cancellationToken)
        => await EvaluateAsync(RedisScripts.RenewScript, [RedisScripts.Nonce(nonceSha256), RedisScripts.Held(_identity.GatewayId)], [execId, (long)lease.TotalMilliseconds, _retentionMs]).ConfigureAwait(false);

    public async ValueTask<ReceiptDocument?> GetReceiptAsync(string execId, CancellationToken cancellationToken)
    {
        RedisValue json;
        try
        {
            json = await ReadReceiptCopyAsync(execId).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            // Our own receipts are answerable without Redis; anyone else's are not.
            return await _ledger.GetReceiptAsync(execId, cancellationToken).ConfigureAwait(false)
                ?? throw new StoreUnavailableException("Redis is unavailable", ex);
        }
        if (json.HasValue)
        {
            // The entry is only a pointer into a chain's copy, and whoever reaches Redis can move
            // it: a copy is this exec id's receipt only if its body says so.
            var copy = SqliteReceiptLedger.ParseDocument(json.ToString());
            if (string.Equals(copy.Body.ExecId, execId, StringComparison.Ordinal))
            {
                return copy;
            }
            StoreLog.ReceiptCopyMisfiled(_log, execId, copy.Body.Gateway, copy.Body.Seq, copy.Body.ExecId);
        }
        return await _ledger.GetReceiptAsync(execId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The copied document of an exec id's (first) receipt: its key holds "gateway seq", where it
    /// stands in that gateway's chain copy (copies written before that layout hold the document
    /// itself). Null when there is none, or when it has left the chain with the retention.
    /// </summary>
    private async Task<RedisValue> ReadReceiptCopyAsync(string execId)
    {
        var entry = await Database.StringGetAsync(RedisScripts.Receipt(execId)).ConfigureAwait(false);
        if (!entry.HasValue || entry.ToString() is not { } text || text.StartsWith('{'))
        {
            return entry;
        }
        var space = text.IndexOf(' ', StringComparison.Ordinal);
        if (space <= 0 || !long.TryParse(text.AsSpan(space + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
        {
            return RedisValue.Null;
        }
        var documents = await Database.SortedSetRangeByScoreAsync(RedisScripts.Chain(text[..space]), seq, seq, Exclude.None, Order.Ascending, 0, 1).ConfigureAwait(false);
        return documents.Length == 0 ? RedisValue.Null : documents[0];
    }

    public async ValueTask<IReadOnlyList<ReceiptDocument>> ListReceiptsAsync(string gateway, long afterSeq, int limit, CancellationToken cancellationToken)
    {
        if (gateway != _identity.GatewayId)
        {
            return await RedisChainAsync(gateway, afterSeq, limit).ConfigureAwait(false);
        }
        // The local ledger holds this chain whole; Redis may lag behind it, and its copies expire.
        var local = await _ledger.ListReceiptsAsync(gateway, afterSeq, limit, cancellationToken).ConfigureAwait(false);
        if (_chainConflict is null || local.Count == limit)
        {
            return local;
        }
        // After a chain conflict Redis holds receipts of this chain past the ledger's head, which
        // the ledger lost: the ledger's part, then Redis's from where the ledger ends.
        var ledgerEnd = local.Count > 0 ? local[^1].Body.Seq : Math.Max(afterSeq, (await LocalHeadAsync(cancellationToken).ConfigureAwait(false))?.Seq ?? 0);
        var beyond = await RedisChainAsync(gateway, ledgerEnd, limit - local.Count).ConfigureAwait(false);
        return [.. local, .. beyond];
    }

    private async Task<List<ReceiptDocument>> RedisChainAsync(string gateway, long afterSeq, int limit)
    {
        var members = await RunAsync(db => db.SortedSetRangeByScoreAsync(RedisScripts.Chain(gateway), afterSeq, double.PositiveInfinity, Exclude.Start, Order.Ascending, 0, limit)).ConfigureAwait(false);
        return members.Select(m => SqliteReceiptLedger.ParseDocument(m.ToString())).ToList();
    }

    public async ValueTask<ChainHead?> GetHeadAsync(string gateway, CancellationToken cancellationToken)
    {
        if (gateway == _identity.GatewayId)
        {
            // This head is what the gateway signs as its checkpoint: a ledger behind Redis would
            // certify a cut tail (or a forked receipt), so it answers nothing.
            ThrowIfChainConflict();
            return await LocalHeadAsync(cancellationToken).ConfigureAwait(false);
        }
        var value = await RunAsync(db => db.HashGetAsync(RedisScripts.Gateways, gateway)).ConfigureAwait(false);
        return value.HasValue ? ParseHead(gateway, value.ToString()) : null;
    }

    public async ValueTask<IReadOnlyList<ChainHead>> ListGatewaysAsync(CancellationToken cancellationToken)
    {
        var entries = await RunAsync(db => db.HashGetAllAsync(RedisScripts.Gateways)).ConfigureAwait(false);
        var heads = entries.Select(e => ParseHead(e.Name.ToString(), e.Value.ToString())).ToDictionary(h => h.Gateway, StringComparer.Ordinal);
        // After a chain conflict Redis's head of this chain stands: the ledger's is behind it.
        if (_chainConflict is null && await LocalHeadAsync(cancellationToken).ConfigureAwait(false) is { } own)
        {
            heads[own.Gateway] = own;
        }
        return heads.Values.OrderBy(h => h.Gateway, StringComparer.Ordinal).ToList();
    }

    public async ValueTask<IReadOnlyDictionary<string, string>> ListCheckpointsAsync(CancellationToken cancellationToken)
    {
        var entries = await RunAsync(db => db.HashGetAllAsync(RedisScripts.Checkpoints)).ConfigureAwait(false);
        return entries.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
    }

    public async ValueTask<IReadOnlyList<SigningKeyRecord>> ListKeysAsync(CancellationToken cancellationToken)
    {
        var entries = await RunAsync(db => db.HashGetAllAsync(RedisScripts.Keys)).ConfigureAwait(false);
        var signers = await RunAsync(db => db.SetMembersAsync(RedisScripts.Signers)).ConfigureAwait(false);
        // Only keys a gateway could have signed with, each under its own fingerprint: Redis's
        // key list is writable by whoever reaches Redis, and a listed key of small order let an
        // auditor's OpenSSL verify receipts nobody signed.
        var keys = entries.Where(e => IsSigningKey(e.Name.ToString(), e.Value.ToString()))
            .ToDictionary(e => e.Name.ToString(), e => (X: e.Value.ToString(), Gateways: (SortedSet<string>?)null), StringComparer.Ordinal);
        var anyGateway = new HashSet<string>(StringComparer.Ordinal);
        void Bind(string kid, string gateway)
        {
            if (gateway == RedisScripts.AnyGateway)
            {
                anyGateway.Add(kid);
            }
            else if (keys.TryGetValue(kid, out var key))
            {
                (key.Gateways ??= new SortedSet<string>(StringComparer.Ordinal)).Add(gateway);
                keys[kid] = key;
            }
        }
        foreach (var signer in signers)
        {
            var text = signer.ToString();
            var space = text.IndexOf(' ', StringComparison.Ordinal);
            if (space > 0)
            {
                Bind(text[..space], text[(space + 1)..]);
            }
        }
        foreach (var local in await _ledger.ListKeysAsync(cancellationToken).ConfigureAwait(false))
        {
            keys.TryAdd(local.Kid, (local.X, null));
            Bind(local.Kid, _identity.GatewayId);
        }
        return keys.OrderBy(k => k.Key, StringComparer.Ordinal)
            .Select(k => new SigningKeyRecord(k.Key, k.Value.X, anyGateway.Contains(k.Key) ? null : k.Value.Gateways?.ToList())).ToList();
    }

    private static bool IsSigningKey(string kid, string x)
        => OpenExec.Core.Crypto.Base64Url.TryDecode(x, out var raw)
            && !OpenExec.Core.Crypto.Ed25519PublicKeys.IsUnusable(raw)
            && string.Equals(OpenExec.Core.Crypto.KeyId.ForRaw(raw), kid, StringComparison.Ordinal);

    public async ValueTask<bool> PingAsync(CancellationToken cancellationToken)
    {
        // Not ready for as long as ClaimAsync refuses up front (a chain conflict, the start-up
        // receipts not yet in Redis), whatever Redis itself answers.
        if (_chainConflict is not null || !ClaimsOpen() || !await _ledger.PingAsync(cancellationToken).ConfigureAwait(false))
        {
            return false;
        }
        try
        {
            // A write, not PING: a Redis out of memory (noeviction), a read-only replica after a
            // failover, or one short of min-replicas answers PING while it refuses every claim.
            await Database.StringSetAsync(RedisScripts.Ready(_identity.GatewayId), NowMs(), TimeSpan.FromMinutes(1)).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            return false;
        }
    }

    /// <summary>
    /// Reports Redis settings that weaken the at-most-once guarantee: no AOF (a restart forgets
    /// used nonces) and an evicting memory policy (memory pressure forgets them); and cluster
    /// mode, where claims fail closed. Uses INFO, which managed Redis services allow where CONFIG
    /// is disabled.
    /// </summary>
    public async Task CheckSettingsAsync()
    {
        if (_warnings is null)
        {
            return;
        }
        var found = new List<string>();
        var read = false;
        foreach (var server in _redis.GetServers())
        {
            if (!server.IsConnected || server.IsReplica)
            {
                continue;
            }
            read = true;
            Dictionary<string, string> info;
            try
            {
                info = (await server.InfoAsync("persistence").ConfigureAwait(false))
                    .Concat(await server.InfoAsync("memory").ConfigureAwait(false))
                    .Concat(await server.InfoAsync("cluster").ConfigureAwait(false))
                    .SelectMany(g => g)
                    .GroupBy(kv => kv.Key, StringComparer.Ordinal)
                    .ToDictionary(g => g.Key, g => g.First().Value, StringComparer.Ordinal);
            }
            catch (Exception ex) when (ex is RedisServerException or RedisCommandException)
            {
                // INFO renamed away or refused (some managed services): only a log line said so,
                // and /health showed a Redis that keeps nonces.
                info = [];
            }
            if (!info.ContainsKey("aof_enabled") || !info.ContainsKey("maxmemory_policy"))
            {
                found.Add($"Redis at {server.EndPoint} does not show its persistence and memory policy (INFO refused, or without them): whether it keeps used nonces across a restart and under memory pressure is unchecked; make sure it runs with appendonly yes and maxmemory-policy noeviction");
            }
            if (info.TryGetValue("aof_enabled", out var aof) && aof != "1")
            {
                found.Add($"Redis persistence is off at {server.EndPoint} (appendonly no): a Redis restart forgets used nonces; set appendonly yes");
            }
            if (info.TryGetValue("maxmemory_policy", out var policy) && policy != "noeviction")
            {
                found.Add($"Redis maxmemory-policy is {policy} at {server.EndPoint}: memory pressure can evict used nonces; set maxmemory-policy noeviction");
            }
            if (info.TryGetValue("cluster_enabled", out var cluster) && cluster == "1")
            {
                found.Add($"Redis at {server.EndPoint} runs in cluster mode, which the gateway does not support: a claim touches two keys that may live in different slots, so claims fail (503, nothing runs); use a single node or primary/replica");
            }
        }
        // What this check read replaces the last one: a setting fixed in Redis clears its
        // warning. A check that reached no server changes nothing.
        if (read)
        {
            _warnings.Set("redis", found);
        }
    }

    /// <summary>
    /// Until the lease ends as this gateway reckons it: past it, another instance may take the
    /// claim over. The lease itself runs on Redis's clock; a gateway clock that steps only makes
    /// this stop early (the claim is then taken over: outcome_unknown) or late (the holder's
    /// receipt then replaces a takeover's outcome_unknown), never frees a claim.
    /// </summary>
    public bool KeepRecording(DateTimeOffset leaseUntil, DateTimeOffset now) => now < leaseUntil && Volatile.Read(ref _disposed) == 0;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _redis.ConnectionRestored -= OnConnectionRestored;
        // The ledger first: it commits what is still queued (the outcomes of calls that ended as
        // the gateway stopped) and hands those receipts to the copier, which is still running, so
        // that the drain copies the last receipts too, not only those committed before the stop.
        _ledger.Dispose();
        _replicator.Drain(_ledger.CommittedSeq, TimeSpan.FromSeconds(2));
        _replicator.Dispose();
        _redis.Dispose();
    }

    internal static bool IsUnavailable(Exception ex) => ex is RedisException or TimeoutException or ObjectDisposedException;

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => _replicator.Resync();

    internal long NowMs() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>The gateway's clock, as /receipts/head dates its checkpoints.</summary>
    internal DateTimeOffset Now() => _time.GetUtcNow();

    private async Task<RedisResult> EvaluateAsync(StoredScript script, RedisKey[] keys, RedisValue[] values)
    {
        try
        {
            try
            {
                return await Database.ScriptEvaluateAsync(script.Sha1, keys, values).ConfigureAwait(false);
            }
            catch (RedisServerException ex) when (StoredScript.NotLoaded(ex))
            {
                return await Database.ScriptEvaluateAsync(script.Text, keys, values).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw new StoreUnavailableException("Redis is unavailable", ex);
        }
    }

    private async Task<T> RunAsync<T>(Func<IDatabase, Task<T>> command)
    {
        try
        {
            return await command(Database).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw new StoreUnavailableException("Redis is unavailable", ex);
        }
    }

    private async ValueTask<ChainHead?> LocalHeadAsync(CancellationToken cancellationToken)
    {
        var heads = await _ledger.ListGatewaysAsync(cancellationToken).ConfigureAwait(false);
        return heads.FirstOrDefault(h => h.Gateway == _identity.GatewayId);
    }

    private static ChainHead ParseHead(string gateway, string value)
    {
        var space = value.IndexOf(' ', StringComparison.Ordinal);
        return new ChainHead(gateway, long.Parse(value.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture), value[(space + 1)..]);
    }

    /// <summary>{'taken', req, exec, done, decision, receipt, action, tenant, approval, created, takeover, trace, approval id}.</summary>
    private NonceState ReadState(RedisResult[] fields, string nonceSha256)
    {
        var request = (string)fields[1]!;
        var execId = (string)fields[2]!;
        var done = (string?)fields[3] == "1";
        RecoveredClaim? takenOver = null;
        if ((string?)fields[10] == "1")
        {
            StoreLog.ClaimTakenOver(_log, execId);
            takenOver = new RecoveredClaim(nonceSha256, request, NullIfEmpty(fields[8]), execId, (string)fields[6]!, (string)fields[7]!,
                DateTimeOffset.FromUnixTimeMilliseconds(long.Parse((string)fields[9]!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)),
                fields.Length > 11 ? NullIfEmpty(fields[11]) : null,
                fields.Length > 12 ? NullIfEmpty(fields[12]) : null);
        }
        return new NonceState(done ? NonceStatus.Done : NonceStatus.InProgress, request, execId, NullIfEmpty(fields[5]), NullIfEmpty(fields[4]), takenOver);
    }

    private static string? NullIfEmpty(RedisResult field) => (string?)field is { Length: > 0 } s ? s : null;
}
