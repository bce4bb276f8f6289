using System.Collections.Concurrent;
using System.Globalization;
using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;
using StackExchange.Redis;

namespace OpenExec.Gateway.Store;

/// <summary>
/// Copies this gateway's committed receipts, in chain order, from the local ledger to Redis,
/// retrying with backoff until each copy succeeds (SPEC section 6). On start, and after any
/// failure, it resumes from the last seq Redis has for this gateway, so a Redis that lost data
/// is filled again. Each copy also records its claim's outcome if that is still missing.
/// It also registers this gateway's signing key and checks Redis's settings now and then.
/// </summary>
internal sealed class RedisReceiptReplicator : IReceiptCopier, IDisposable
{
    private const int BatchSize = 256;

    /// <summary>Committed receipts held for the copier, each with its JSON (a few KB together: some 10 MB at most, while Redis is away); beyond this it reads them back from the ledger.</summary>
    internal const int DefaultRecentCapacity = 4096;
    private static readonly TimeSpan MinBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan IdlePoll = TimeSpan.FromSeconds(1);

    /// <summary>How often, at most, the copied chain's checkpoint is signed and published while receipts keep coming.</summary>
    private static readonly TimeSpan CheckpointInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan SettingsCheckInterval = TimeSpan.FromMinutes(1);

    /// <summary>How often an idle copier checks that Redis still has its chain's head (a flush or failover loses it).</summary>
    private static readonly TimeSpan HeadCheckInterval = TimeSpan.FromSeconds(5);

    /// <summary>How often claims whose lease has passed are swept (<see cref="RedisExecutionStore.SweepAsync"/>).</summary>
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(5);

    private readonly RedisExecutionStore _store;
    private readonly ILogger _log;

    /// <summary>A copy failure is logged with its exception (Redis's diagnostics, ~8 KB) once a minute; each retry in between in one line.</summary>
    private readonly Hosting.LogThrottle _failureLog = new(TimeSpan.FromMinutes(1));

    /// <summary>The same for the sweep, on its own: copy retries must not use up a sweep failure's full log (its cause may differ).</summary>
    private readonly Hosting.LogThrottle _sweepFailureLog = new(TimeSpan.FromMinutes(1));
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly ConcurrentQueue<CommittedReceipt> _recent = new();
    private readonly int _recentCapacity;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private volatile bool _resync;

    public RedisReceiptReplicator(RedisExecutionStore store, ILogger<RedisReceiptReplicator> log, int recentCapacity = DefaultRecentCapacity)
    {
        _store = store;
        _log = log;
        _recentCapacity = recentCapacity;
    }

    /// <summary>The last seq known to be in Redis, or -1 before the first successful round.</summary>
    public long CopiedSeq
    {
        get => Volatile.Read(ref _copiedSeq);
        private set => Volatile.Write(ref _copiedSeq, value);
    }

    private long _copiedSeq = -1;

    /// <summary>
    /// How long a write held for its receipt's copy waits at most: then its caller resumes and
    /// the copy records the outcome later (as long as one Redis command may take).
    /// </summary>
    internal static readonly TimeSpan HoldAtMost = TimeSpan.FromSeconds(2);

    private readonly Lock _heldLock = new();

    /// <summary>Writes held for their receipts' copy, in seq order, with the tick they were held at.</summary>
    private readonly Queue<(HeldWrite Write, long Since)> _held = new();

    /// <summary>True while copies fail (or the copier has stopped): writes are then not held.</summary>
    private bool _failing;

    /// <summary>
    /// Receipts just committed to the local ledger, in chain order (called on its writer thread):
    /// held in memory so the copier need not read them back and parse them. When the copier
    /// falls behind by more than the capacity, the rest are read from the ledger as before.
    /// The writes held for their copy resume once it lands, at once while copies fail, and after
    /// <see cref="HoldAtMost"/> in any case.
    /// </summary>
    public void Committed(IReadOnlyList<ReceiptDocument> documents, IReadOnlyList<byte[]> json, IReadOnlyList<HeldWrite> held)
    {
        for (var i = 0; i < documents.Count; i++)
        {
            if (_recent.Count >= _recentCapacity)
            {
                break;
            }
            _recent.Enqueue(new CommittedReceipt(documents[i], i < json.Count ? json[i] : default));
        }
        if (held.Count > 0)
        {
            var now = Environment.TickCount64;
            var holding = false;
            lock (_heldLock)
            {
                // Read under the lock: a round that copied them has set CopiedSeq before it
                // released what was held, so nothing is left behind after it.
                if (!_failing && held[^1].Seq > CopiedSeq)
                {
                    holding = true;
                    foreach (var write in held)
                    {
                        _held.Enqueue((write, now));
                    }
                }
            }
            if (!holding)
            {
                foreach (var write in held)
                {
                    write.Write.Complete();
                }
            }
        }
        Signal();
    }

    /// <summary>Writes held for their copy: waiting now.</summary>
    internal int HeldWrites
    {
        get
        {
            lock (_heldLock)
            {
                return _held.Count;
            }
        }
    }

    /// <summary>
    /// After a round of the copier: resumes the held writes whose receipts Redis now has, those
    /// held for <see cref="HoldAtMost"/>, and, when the round failed (or the copier stops), all of
    /// them; while copies fail, none is held. Those resumed without their copy are logged.
    /// </summary>
    private void ReleaseHeld(bool failed) => ReleaseHeld((bool?)failed);

    /// <param name="failed">Null between rounds (<see cref="_expiry"/>): only the copied and the expired, the copier's state left as it is.</param>
    private void ReleaseHeld(bool? failed)
    {
        var copied = CopiedSeq;
        var expired = Environment.TickCount64 - (long)HoldAtMost.TotalMilliseconds;
        var uncopied = 0;
        lock (_heldLock)
        {
            if (failed is { } state)
            {
                _failing = state;
            }
            while (_held.TryPeek(out var head) && (failed == true || head.Write.Seq <= copied || head.Since <= expired))
            {
                _held.Dequeue();
                uncopied += head.Write.Seq <= copied ? 0 : 1;
                // Queues the caller's resumption on the thread pool: nothing runs here.
                head.Write.Write.Complete();
            }
        }
        if (uncopied > 0)
        {
            StoreLog.OutcomesDeferred(_log, uncopied);
        }
    }

    /// <summary>
    /// Resumes held writes whose time is up while a round is still running (a Redis that hangs
    /// holds a round up to its command timeout, which may be configured far longer).
    /// </summary>
    private Timer? _expiry;

    public void Start()
    {
        _expiry = new Timer(static state => ((RedisReceiptReplicator)state!).ReleaseHeld(failed: null), this, ExpiryCheck, ExpiryCheck);
        _loop = Task.Run(RunLoopAsync);
    }

    private static readonly TimeSpan ExpiryCheck = TimeSpan.FromMilliseconds(250);

    private async Task RunLoopAsync()
    {
        try
        {
            await RunAsync(_stop.Token).ConfigureAwait(false);
            await _sweep.ConfigureAwait(false);
        }
        finally
        {
            // Stopped: nobody waits for a copy any more.
            ReleaseHeld(failed: true);
        }
    }

    /// <summary>
    /// Redis came back: it may have lost writes (no AOF, fsync every second, a failover), so
    /// start again from the seq it has now, restoring what it lost.
    /// </summary>
    public void Resync()
    {
        _resync = true;
        Signal();
    }

    /// <summary>New receipts were committed locally: copy them now rather than at the next poll.</summary>
    public void Signal()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
        catch (ObjectDisposedException)
        {
            // Shutting down: a batch the ledger commits now is copied at the next start. (This
            // runs on the ledger's writer thread, which must never see the exception.)
        }
    }

    /// <summary>
    /// On a clean shutdown, gives the copies a moment to catch up, so that other instances need
    /// not wait for this one's restart to read its last receipts. Bounded: Redis may be away.
    /// </summary>
    public void Drain(long committedSeq, TimeSpan timeout)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (CopiedSeq >= 0 && CopiedSeq < committedSeq && Environment.TickCount64 < deadline && _loop is { IsCompleted: false })
        {
            Signal();
            Thread.Sleep(10);
        }
    }

    public void Dispose()
    {
        _expiry?.Dispose();
        _stop.Cancel();
        try
        {
            _loop?.Wait(TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
        }
        // Whatever is still held (a loop that did not end in time, one never started) resumes,
        // and nothing is held from now on.
        ReleaseHeld(failed: true);
        _stop.Dispose();
        _signal.Dispose();
    }

    private async Task RunAsync(CancellationToken stop)
    {
        var identity = _store.Identity;
        var backoff = MinBackoff;
        var nextSettingsCheck = 0L;
        var nextHeadCheck = 0L;
        var nextSweep = 0L;
        long copied = -1;
        var startingChain = false;
        // The last copied receipt's hash, and the seq whose checkpoint was last published.
        string? copiedHash = null;
        long published = -1;
        var nextCheckpoint = 0L;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var db = _store.Database;
                if (_resync)
                {
                    _resync = false;
                    copied = -1;
                }
                if (copied < 0)
                {
                    startingChain = false;
                    // The hash went with the seq copied before: a checkpoint pairs the two.
                    copiedHash = null;
                    // Every key this data dir ever signed with, not only the current one: its
                    // ledger's receipts are copied whatever key signed them (a key replaced while
                    // on the embedded store, or before Redis lost its data), and every instance
                    // serves and verifies them with the keys Redis lists.
                    var keys = await _store.Ledger.ListKeysAsync(stop).ConfigureAwait(false);
                    await db.ScriptEvaluateAsync(RedisScripts.RegisterKeys, [RedisScripts.Keys, RedisScripts.Signers],
                        [identity.GatewayId, .. keys.SelectMany(k => new RedisValue[] { k.Kid, k.X })]).ConfigureAwait(false);
                    copied = await ReadHeadAsync(db, stop).ConfigureAwait(false);
                    if (copied == 0)
                    {
                        // Redis holds none of this chain (a first start on Redis, or Redis lost
                        // it): only receipts still inside the retention are worth a copy.
                        _chainStart = await FirstWorthCopyingAsync(db, stop).ConfigureAwait(false);
                        copied = _chainStart - 1;
                        // Nothing of a chain that begins past seq 1 is in Redis yet: a head below
                        // it is no loss until its first copy has landed.
                        startingChain = copied > 0;
                    }
                    CopiedSeq = copied;
                    StoreLog.ReplicationResumed(_log, copied);
                }
                if (copied > 0 && !startingChain && Environment.TickCount64 >= nextHeadCheck)
                {
                    // Redis without the head it had (flushed, or a replica that had not caught up
                    // took over) has lost claims too: copy again from what it has, restoring them.
                    nextHeadCheck = Environment.TickCount64 + (long)HeadCheckInterval.TotalMilliseconds;
                    var head = await db.HashGetAsync(RedisScripts.Gateways, identity.GatewayId).ConfigureAwait(false);
                    if (HeadSeq(head) < copied)
                    {
                        StoreLog.ReplicationLost(_log, copied, HeadSeq(head));
                        copied = -1;
                        continue;
                    }
                }
                // Only once every receipt of the ledger is in Redis (SweepAsync says why). Beside
                // the copies, not between them: a long sweep (many claims a killed process left)
                // must not hold up the copies that callers wait for.
                if (Environment.TickCount64 >= nextSweep && copied >= _store.Ledger.CommittedSeq && _sweep.IsCompleted)
                {
                    nextSweep = Environment.TickCount64 + (long)SweepInterval.TotalMilliseconds;
                    _sweep = SweepAsync(stop);
                }
                if (Environment.TickCount64 >= nextSettingsCheck)
                {
                    nextSettingsCheck = Environment.TickCount64 + (long)SettingsCheckInterval.TotalMilliseconds;
                    await CheckSettingsAsync().ConfigureAwait(false);
                }

                var batch = TakeRecent(copied) ?? ReadBack(await _store.Ledger.ListReceiptsAsync(identity.GatewayId, copied, BatchSize, stop).ConfigureAwait(false));
                if (batch.Count == 0)
                {
                    // Nothing to copy: a held write whose time is up resumes at least every poll.
                    ReleaseHeld(failed: false);
                    if (copiedHash is not null && published != copied)
                    {
                        published = await PublishCheckpointAsync(db, copied, copiedHash) ? copied : published;
                    }
                    await _signal.WaitAsync(IdlePoll, stop).ConfigureAwait(false);
                    continue;
                }
                // Groups of receipts per script call, pipelined in order on one connection; a failure
                // part-way is repaired by the retry, which starts again from what Redis has (copies
                // are idempotent).
                var copies = new Task<RedisResult>[(batch.Count + RedisScripts.CopyGroup - 1) / RedisScripts.CopyGroup];
                for (var g = 0; g < copies.Length; g++)
                {
                    copies[g] = CopyAsync(db, identity.GatewayId, batch, g * RedisScripts.CopyGroup, Math.Min(RedisScripts.CopyGroup, batch.Count - (g * RedisScripts.CopyGroup)));
                }
                foreach (var result in await Task.WhenAll(copies).ConfigureAwait(false))
                {
                    if ((long)result == -2)
                    {
                        _store.ChainForked();
                        throw new InvalidOperationException("Redis holds another receipt at a seq of this gateway's chain: another process signs it");
                    }
                    if ((long)result < 0)
                    {
                        throw new InvalidOperationException("A copy did not continue the chain Redis has (an earlier group failed, or Redis lost data): copying again from its head");
                    }
                }
                copied = batch[^1].Document.Body.Seq;
                copiedHash = batch[^1].Document.Hash;
                CopiedSeq = copied;
                ReleaseHeld(failed: false);
                startingChain = false;
                backoff = MinBackoff;
                if (Environment.TickCount64 >= nextCheckpoint)
                {
                    nextCheckpoint = Environment.TickCount64 + (long)CheckpointInterval.TotalMilliseconds;
                    published = await PublishCheckpointAsync(db, copied, copiedHash) ? copied : published;
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // Nobody waits for a copy while copies fail: their outcomes reach Redis with the retry.
                ReleaseHeld(failed: true);
                // Whatever failed, the receipts are safe in the local ledger: retry from what Redis has.
                _failureLog.Log(ex, (_log, DelayMs: (long)backoff.TotalMilliseconds),
                    static (s, e) => StoreLog.ReplicationFailed(s._log, s.DelayMs, e),
                    static (s, reason) => StoreLog.ReplicationFailedAgain(s._log, reason, s.DelayMs));
                copied = -1;
                try
                {
                    await Task.Delay(backoff, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }
    }

    /// <summary>
    /// The held receipts that continue the chain right after <paramref name="copied"/>, or null
    /// when they do not (a gap left by a full queue, or a resync from an earlier seq): then the
    /// ledger is read. Receipts already in Redis are dropped.
    /// </summary>
    private List<CommittedReceipt>? TakeRecent(long copied)
    {
        while (_recent.TryPeek(out var head) && head.Document.Body.Seq <= copied)
        {
            _recent.TryDequeue(out _);
        }
        if (copied < 0 || !_recent.TryPeek(out var first) || first.Document.Body.Seq != copied + 1)
        {
            return null;
        }
        var batch = new List<CommittedReceipt>();
        while (batch.Count < BatchSize && _recent.TryPeek(out var next) && next.Document.Body.Seq == copied + 1 + batch.Count)
        {
            _recent.TryDequeue(out _);
            batch.Add(next);
        }
        return batch;
    }

    /// <summary>Receipts read back from the ledger (no JSON at hand: each is written for its copy).</summary>
    private static List<CommittedReceipt> ReadBack(IReadOnlyList<ReceiptDocument> documents)
    {
        var batch = new List<CommittedReceipt>(documents.Count);
        foreach (var document in documents)
        {
            batch.Add(new CommittedReceipt(document, default));
        }
        return batch;
    }

    /// <summary>The last sweep started (<see cref="RedisExecutionStore.SweepAsync"/>); the next starts once it has ended.</summary>
    private Task _sweep = Task.CompletedTask;

    private async Task SweepAsync(CancellationToken stop)
    {
        try
        {
            await _store.SweepAsync(stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopping.
        }
        catch (Exception ex)
        {
            // Nothing is lost: the claims stay in the set for the next sweep.
            _sweepFailureLog.Log(ex, (_log, Seconds: (int)SweepInterval.TotalSeconds),
                static (s, e) => StoreLog.SweepFailed(s._log, s.Seconds, e),
                static (s, reason) => StoreLog.SweepFailedAgain(s._log, reason, s.Seconds));
        }
    }

    /// <summary>Where this chain's copy in Redis begins when Redis held none of it (see <see cref="FirstWorthCopyingAsync"/>).</summary>
    private long _chainStart = 1;

    /// <summary>
    /// The first seq of the ledger worth copying to a Redis that holds none of this chain: the
    /// first receipt that finished within the retention (on Redis's clock or this gateway's,
    /// whichever is behind, less a tenth of the
    /// retention, at most an hour, for clocks that disagree), and at least the last receipt, so
    /// that Redis knows the chain's head. Older receipts restore no claim (theirs have expired)
    /// and their copies would only leave again: copied from seq 1, a ledger of months took
    /// hours to copy, held Redis at months of receipts for a further retention, and left the
    /// claims of the latest receipts, copied last, missing meanwhile. Found by bisection over
    /// seq (receipts finish in about seq order).
    /// </summary>
    internal async Task<long> FirstWorthCopyingAsync(IDatabase db, CancellationToken cancellationToken)
    {
        var last = _store.Ledger.CommittedSeq;
        if (last <= 1)
        {
            return 1;
        }
        var time = (RedisResult[])(await db.ExecuteAsync("TIME").ConfigureAwait(false))!;
        var redisNowMs = (long.Parse((string)time[0]!, CultureInfo.InvariantCulture) * 1000) + (long.Parse((string)time[1]!, CultureInfo.InvariantCulture) / 1000);
        var margin = Math.Min(_store.RetentionMs / 10, (long)TimeSpan.FromHours(1).TotalMilliseconds);
        // The receipts' times are this gateway's: of its clock and Redis's, the one behind decides,
        // so that neither one's lead drops receipts whose claims are still kept.
        var cutoff = Math.Min(redisNowMs, _store.NowMs()) - _store.RetentionMs - margin;
        long low = 1, high = last;
        while (low < high)
        {
            var mid = low + ((high - low) / 2);
            var receipt = await _store.Ledger.ListReceiptsAsync(_store.Identity.GatewayId, mid - 1, 1, cancellationToken).ConfigureAwait(false);
            if (receipt.Count == 1 && FinishedMs(receipt[0].Body) < cutoff)
            {
                low = mid + 1;
            }
            else
            {
                high = mid;
            }
        }
        return low;
    }

    /// <summary>
    /// Signs a checkpoint of the chain as copied up to <paramref name="seq"/> and publishes it, so
    /// that /receipts/gateways on every instance lists this gateway with a checkpoint of its own
    /// signing (SPEC section 2), at most <see cref="CheckpointInterval"/> behind the latest copy
    /// while receipts come and the latest once they stop. A publication that fails is left to the
    /// next one: the receipts themselves are copied.
    /// </summary>
    private async Task<bool> PublishCheckpointAsync(IDatabase db, long seq, string hash)
    {
        var identity = _store.Identity;
        var checkpoint = OpenExec.Core.Receipts.Checkpoint.Sign(identity.SigningKey, identity.GatewayId, seq, hash, _store.Now());
        try
        {
            await db.HashSetAsync(RedisScripts.Checkpoints, identity.GatewayId, checkpoint.ToJson()).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (RedisExecutionStore.IsUnavailable(ex))
        {
            return false;
        }
    }

    private Task<RedisResult> CopyAsync(IDatabase db, string gateway, IReadOnlyList<CommittedReceipt> batch, int start, int count)
    {
        var keys = new RedisKey[3 + (count * 3)];
        var values = new RedisValue[4 + (count * 12)];
        keys[0] = RedisScripts.Chain(gateway);
        keys[1] = RedisScripts.Gateways;
        keys[2] = RedisScripts.CopyTimes(gateway);
        // Copy times are read on Redis's clock (RedisScripts.Copy); this gateway's time only bounds a restored claim's age.
        values[0] = gateway;
        values[1] = _store.RetentionMs;
        for (var i = 0; i < count; i++)
        {
            var (doc, json) = batch[start + i];
            var body = doc.Body;
            var nonceKey = RedisScripts.Nonce(body.NonceSha256);
            var started = StartedMs(body);
            var effect = ClaimEffect(body);
            var k = 3 + (i * 3);
            keys[k] = RedisScripts.Receipt(body.ExecId);
            keys[k + 1] = nonceKey;
            keys[k + 2] = body.ApprovalSha256 is { } approval ? RedisScripts.Approval(approval) : nonceKey;
            var a = 2 + (i * 12);
            values[a] = body.Seq;
            values[a + 1] = json.IsEmpty ? doc.ToJsonUtf8() : json;
            values[a + 2] = doc.Hash;
            values[a + 3] = body.ExecId;
            values[a + 4] = body.Decision;
            values[a + 5] = body.RequestSha256;
            values[a + 6] = body.ApprovalSha256 ?? "";
            values[a + 7] = body.Action;
            values[a + 8] = body.Tenant;
            values[a + 9] = started;
            // A lost claim is restored for what is left of its retention, which the script counts on Redis's clock.
            values[a + 10] = effect == "outcome" ? "1" : "0";
            values[a + 11] = effect;
        }
        // Where a chain Redis holds none of may begin (the script refuses any other gap), and this
        // gateway's time, against which its receipts' started_at was read (a restored claim's age).
        values[^2] = batch[start].Document.Body.Seq == _chainStart ? _chainStart : 0;
        values[^1] = _store.NowMs();
        return db.ScriptEvaluateAsync(RedisScripts.Copy, keys, values);
    }

    /// <summary>
    /// The seq of this gateway's chain head in Redis, once checked against the ledger. Redis's copy
    /// of the chain comes only from this ledger, so a head the ledger does not hold (a seq past its
    /// end, or another receipt at that seq) means the ledger lost receipts: a data dir restored
    /// from an earlier backup, a lost WAL. Signing on would put a second receipt at seqs Redis
    /// already has, and the copy would skip it: the store stops signing and claiming instead.
    /// </summary>
    internal async Task<long> ReadHeadAsync(IDatabase db, CancellationToken cancellationToken)
    {
        var head = await db.HashGetAsync(RedisScripts.Gateways, _store.Identity.GatewayId).ConfigureAwait(false);
        var seq = HeadSeq(head);
        if (seq == 0)
        {
            return 0;
        }
        var hash = head.ToString().Split(' ') is [_, var h, ..] ? h : null;
        var held = seq <= _store.Ledger.CommittedSeq
            ? await _store.Ledger.ListReceiptsAsync(_store.Identity.GatewayId, seq - 1, 1, cancellationToken).ConfigureAwait(false)
            : [];
        if (held.Count == 1 && (hash is null || string.Equals(held[0].Hash, hash, StringComparison.Ordinal)))
        {
            return seq;
        }
        _store.ChainConflict(seq, _store.Ledger.CommittedSeq);
        throw new InvalidOperationException("Redis holds receipts of this gateway's chain that its ledger does not");
    }

    /// <summary>The seq of a chain head as kept in <see cref="RedisScripts.Gateways"/> ("seq hash"); 0 when there is none.</summary>
    private static long HeadSeq(RedisValue head)
        => head.HasValue ? long.Parse(head.ToString().Split(' ')[0], CultureInfo.InvariantCulture) : 0;

    private static long StartedMs(ReceiptBody body) => Ms(body.StartedAt);

    private static long FinishedMs(ReceiptBody body) => Ms(body.FinishedAt);

    private static long Ms(string? time)
        => DateTimeOffset.TryParse(time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at.ToUnixTimeMilliseconds() : 0;

    /// <summary>
    /// What a receipt does to its claim. Only attempts that ran, or may have, hold their claim:
    /// executed, outcome_unknown, and upstream_failed with a backend status (the backend answered).
    /// upstream_failed without one released it (nothing was sent). Refusals claimed nothing.
    /// </summary>
    private static string ClaimEffect(ReceiptBody body) => body.Decision switch
    {
        "executed" or "outcome_unknown" => "outcome",
        "upstream_failed" => body.UpstreamStatus is null ? "release" : "outcome",
        _ => "none",
    };

    private async Task CheckSettingsAsync()
    {
        try
        {
            await _store.CheckSettingsAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (RedisExecutionStore.IsUnavailable(ex))
        {
            StoreLog.SettingsCheckFailed(_log, ex);
        }
    }
}
