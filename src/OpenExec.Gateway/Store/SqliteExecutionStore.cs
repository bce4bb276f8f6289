using OpenExec.Core.Receipts;
using OpenExec.Gateway.Hosting;

namespace OpenExec.Gateway.Store;

/// <summary>
/// The embedded durable store: the receipt ledger with the claim tables in the same database,
/// so one writer thread group-commits claims and receipts together (<see cref="SqliteReceiptLedger"/>).
/// Only this process writes its data dir, so an unfinished claim found at start belonged to a
/// process that died (<see cref="RecoverAsync"/>).
/// </summary>
internal sealed class SqliteExecutionStore : IExecutionStore, IDisposable
{
    private readonly SqliteReceiptLedger _ledger;
    private readonly ILogger<SqliteExecutionStore> _log;
    private readonly ITimer? _pruning;
    private readonly TimeProvider _time;
    private readonly DateTimeOffset _startedAt;
    private readonly long _started;
    private int _aheadLogged;
    private volatile bool _disposed;

    public SqliteExecutionStore(GatewayIdentity identity, Configuration.GatewaySettings settings, TimeProvider time, ILogger<SqliteExecutionStore> log)
    {
        _log = log;
        _time = time;
        (_startedAt, _started) = (time.GetUtcNow(), time.GetTimestamp());
        _ledger = new SqliteReceiptLedger(identity, new SqliteClaimTable(), copier: null, log);
        // Nonces are kept forever unless a retention is configured (SPEC section 3).
        if (settings.Options.NonceRetention is { } retention)
        {
            var every = TimeSpan.FromTicks(Math.Clamp(retention.Ticks / 10, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromHours(1).Ticks));
            _pruning = time.CreateTimer(_ => _ = PruneAsync(RetentionNow() - retention), null, TimeSpan.Zero, every);
        }
    }

    /// <summary>The wall clock at start plus what the monotonic clock has counted since: a wall clock stepped since does not move it.</summary>
    private DateTimeOffset Counted() => _startedAt + _time.GetElapsedTime(_started);

    /// <summary>
    /// The time retention is measured against: the wall clock, but never ahead of the time counted
    /// since start (<see cref="Counted"/>). A wall clock stepped forward (and later back, by NTP or
    /// by hand) would otherwise make claims look older than they are and forget nonces whose
    /// approvals are still valid: one approval could run twice. A clock that was behind at start
    /// and is corrected later keeps nonces longer by that much until a restart (logged once). A
    /// clock already ahead at start is not caught.
    /// </summary>
    private DateTimeOffset RetentionNow()
    {
        var (wall, counted) = (_time.GetUtcNow(), Counted());
        if (wall - counted > TimeSpan.FromMinutes(1) && Interlocked.Exchange(ref _aheadLogged, 1) == 0)
        {
            StoreLog.WallClockAhead(_log, (long)(wall - counted).TotalSeconds);
        }
        return wall < counted ? wall : counted;
    }

    /// <summary>
    /// A claim is dated no earlier than the time counted since start: one taken while the wall
    /// clock was stepped back, dated by it, would look that much older once the clock is put right,
    /// and be forgotten early (its approval could run again). The date goes beside the request,
    /// not into a copy of it (one object per claim fewer).
    /// </summary>
    private DateTimeOffset Dated(ClaimRequest request) => Counted() is var counted && request.Now < counted ? counted : request.Now;

    /// <summary>
    /// Forgets used nonces older than the cutoff, a few hundred at a time (each a write of its own,
    /// queued between requests' writes); a store failure is retried next time. One prune at a time:
    /// a cutoff asked for while a prune runs is not dropped but taken by that prune once it has
    /// finished its own, so no tick of the timer is lost to a slow write.
    /// </summary>
    internal async Task PruneAsync(DateTimeOffset cutoff)
    {
        var asked = cutoff.UtcTicks;
        for (var seen = Volatile.Read(ref _cutoffTicks); seen < asked;)
        {
            var was = Interlocked.CompareExchange(ref _cutoffTicks, asked, seen);
            seen = was == seen ? asked : was;
        }
        var total = 0;
        while (!_disposed && Interlocked.Exchange(ref _pruningNow, 1) == 0)
        {
            try
            {
                while (_prunedTicks < Volatile.Read(ref _cutoffTicks) && !_disposed)
                {
                    var taking = Volatile.Read(ref _cutoffTicks);
                    int pruned;
                    do
                    {
                        pruned = await _ledger.PruneClaimsAsync(new DateTimeOffset(taking, TimeSpan.Zero)).ConfigureAwait(false);
                        total += pruned;
                    }
                    while (pruned == SqliteReceiptLedger.PruneLimit && !_disposed);
                    _prunedTicks = taking;
                }
            }
            catch (StoreUnavailableException)
            {
                return;
            }
            finally
            {
                // A full fence: the re-check below must not read the cutoff before this release is
                // seen, or a caller raising it meanwhile (and finding the prune still held) and this
                // one would each leave it to the other.
                Interlocked.Exchange(ref _pruningNow, 0);
                if (total > 0)
                {
                    StoreLog.PrunedClaims(_log, total);
                    total = 0;
                }
            }
            // A cutoff asked for between the last check and the release is this caller's to take.
            if (_prunedTicks >= Volatile.Read(ref _cutoffTicks))
            {
                return;
            }
        }
    }

    private int _pruningNow;
    private long _cutoffTicks = long.MinValue;
    private long _prunedTicks = long.MinValue;

    public string Kind => "sqlite";

    public bool ReceiptCopiesExpire => false;

    public bool ClaimsCanBeTakenOver => false;

    /// <summary>
    /// Claims left by a process that died (every unfinished claim, since only this process
    /// writes this data dir) become <c>outcome_unknown</c>, each with its receipt in this chain.
    /// </summary>
    public async Task<IReadOnlyList<ReceiptDocument>> RecoverAsync(Func<RecoveredClaim, ReceiptBody> draftFor, CancellationToken cancellationToken)
        => await _ledger.RecoverUnfinishedAsync(draftFor, _log, cancellationToken).ConfigureAwait(false);

    public ValueTask<NonceState> LookupAsync(string nonceSha256, CancellationToken cancellationToken)
        => _ledger.LookupAsync(nonceSha256);

    public ValueTask<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken)
        => _ledger.ClaimAsync(request, Dated(request));

    public ValueTask<(ClaimResult Claim, ReceiptDocument? Receipt)> ClaimAndRecordAsync(ClaimRequest request, ReceiptBody executed, CancellationToken cancellationToken)
        => _ledger.ClaimAndRecordAsync(request, Dated(request), executed);

    public ValueTask<ReceiptDocument> AppendReceiptAsync(ReceiptBody draft, ClaimUpdate? claimUpdate, CancellationToken cancellationToken)
        => _ledger.AppendAsync(draft, claimUpdate);

    /// <summary>
    /// Nothing to do: only this process writes its data dir, so its unfinished claims never
    /// expire while it runs; at start every one left is a dead holder's (<see cref="RecoverAsync"/>).
    /// </summary>
    public ValueTask RenewLeaseAsync(string nonceSha256, string execId, TimeSpan lease, CancellationToken cancellationToken)
        => ValueTask.CompletedTask;

    public ValueTask<ReceiptDocument?> GetReceiptAsync(string execId, CancellationToken cancellationToken)
        => _ledger.GetReceiptAsync(execId, cancellationToken);

    public ValueTask<IReadOnlyList<ReceiptDocument>> ListReceiptsAsync(string gateway, long afterSeq, int limit, CancellationToken cancellationToken)
        => _ledger.ListReceiptsAsync(gateway, afterSeq, limit, cancellationToken);

    public async ValueTask<ChainHead?> GetHeadAsync(string gateway, CancellationToken cancellationToken)
    {
        var heads = await _ledger.ListGatewaysAsync(cancellationToken).ConfigureAwait(false);
        return heads.FirstOrDefault(h => h.Gateway == gateway);
    }

    public ValueTask<IReadOnlyList<ChainHead>> ListGatewaysAsync(CancellationToken cancellationToken)
        => _ledger.ListGatewaysAsync(cancellationToken);

    public ValueTask<IReadOnlyDictionary<string, string>> ListCheckpointsAsync(CancellationToken cancellationToken)
        => ValueTask.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>());

    public ValueTask<IReadOnlyList<SigningKeyRecord>> ListKeysAsync(CancellationToken cancellationToken)
        => _ledger.ListKeysAsync(cancellationToken);

    public ValueTask<bool> PingAsync(CancellationToken cancellationToken)
        => _ledger.PingAsync(cancellationToken);

    /// <summary>
    /// For as long as the store is open, whatever the lease: no one takes an embedded claim over,
    /// so a claim whose record is given up on would read in_progress until the next start.
    /// </summary>
    public bool KeepRecording(DateTimeOffset leaseUntil, DateTimeOffset now) => !_disposed;

    public void Dispose()
    {
        _disposed = true;
        _pruning?.Dispose();
        _ledger.Dispose();
    }
}
