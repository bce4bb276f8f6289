using System.Collections.Concurrent;
using System.Threading.Channels;
using System.Threading.Tasks.Sources;
using Microsoft.Data.Sqlite;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Hosting;

namespace OpenExec.Gateway.Store;

/// <summary>
/// This gateway's receipt chain in one SQLite database (WAL, synchronous=FULL) in the data dir.
/// All writes go through one writer thread that group-commits whatever is queued: one fsync
/// and one receipt signature serve a whole batch. With <see cref="SqliteClaimTable"/> the claims
/// join the same transactions (the embedded store: claims are atomic because one writer applies
/// them in order); without it the ledger holds receipts and keys only (the Redis store's local
/// ledger). Reads use their own read-only pooled connections and never wait for the writer.
/// </summary>
internal sealed class SqliteReceiptLedger : IDisposable
{
    /// <summary>Most operations one transaction takes; bounds the latency a batch adds.</summary>
    private const int MaxBatch = 512;

    /// <summary>How long a write waits for a lock another connection holds before its batch fails.</summary>
    internal static readonly TimeSpan WriterBusyTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Bytes the WAL file is cut back to when it restarts after growing past them (4 MiB: four checkpoints' worth).</summary>
    internal const long WalSizeLimit = 4 << 20;

    private readonly Channel<WriteOp> _queue = Channel.CreateUnbounded<WriteOp>(new UnboundedChannelOptions { SingleReader = true });
    private readonly GatewayIdentity _identity;
    private readonly SqliteClaimTable? _claims;
    private readonly IReceiptCopier? _copier;

    /// <summary>A batch's writes held for their receipts' copy (<see cref="IReceiptCopier"/>), reused from batch to batch by the writer thread.</summary>
    private readonly List<HeldWrite> _held = [];

    /// <summary>With a copier, a batch's documents as stored, in chain order, handed to it: written once for both.</summary>
    private readonly List<byte[]> _storedJson = [];
    private readonly string _readConnectionString;
    private readonly SqliteConnection _writer;
    private int _disposed;
    private readonly SqliteStatements _statements;
    private readonly ReceiptJsonBuffer _documentJson = new();

    // A batch's bodies and hashes, kept by the writer thread from batch to batch (the signer keeps
    // neither list): growing two lists per batch was ~60 bytes per receipt.
    private readonly List<ReceiptBody> _batchBodies = [];
    private readonly List<string> _batchHashes = [];
    private readonly Thread _writerThread;
    private readonly ILogger _log;

    /// <summary>A write failure is logged with its exception once per 10 s; each further failure in one line (a full disk fails every batch).</summary>
    private readonly Hosting.LogThrottle _failureLog = new(TimeSpan.FromSeconds(10));
    private long _headSeq;
    private string _headHash;

    /// <param name="identity">Whose chain this is; the database lives in its data dir.</param>
    /// <param name="claims">The claim tables to keep in the same transactions, or null for a receipts-only ledger.</param>
    /// <param name="copier">Given each commit's receipts (and the writes held for their copy), or null.</param>
    /// <param name="log">Where write failures go.</param>
    public SqliteReceiptLedger(GatewayIdentity identity, SqliteClaimTable? claims, IReceiptCopier? copier, ILogger log)
    {
        _identity = identity;
        _claims = claims;
        _copier = copier;
        _log = log;
        var path = Path.Combine(identity.DataDir, GatewayIdentity.LedgerFile);
        var builder = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false };
        _writer = new SqliteConnection(builder.ToString());
        _writer.Open();
        _statements = new SqliteStatements(_writer);
        // Another connection holding the write lock (a tool, a copy being taken) makes the writer
        // wait, retrying inside SQLite, rather than fail the batch at once; the statements run
        // on the C API, which has no retry of its own.
        SQLitePCL.raw.sqlite3_busy_timeout(_writer.Handle, (int)WriterBusyTimeout.TotalMilliseconds);
        // The WAL is copied into the database by the committing thread every 250 pages (1 MiB),
        // not SQLite's default 1 000: the copy holds the batch behind it, and four short holds
        // cost the latency tail less than one long one (p99 at 32 connections ~6.5 -> ~4.5 ms,
        // same req/s; bench/README.md). A checkpoint cannot pass a reader's snapshot, so while
        // another connection holds a read transaction (a backup, a monitoring query, sqlite3 by
        // hand) the WAL grows with every write (~10 KB a request); once the WAL restarts, SQLite
        // cuts it back to the journal size limit, which it otherwise would never do.
        Exec(_writer, $"""
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=FULL;
            PRAGMA wal_autocheckpoint=250;
            PRAGMA journal_size_limit={WalSizeLimit};
            CREATE TABLE IF NOT EXISTS receipts(
              gateway TEXT NOT NULL,
              seq INTEGER NOT NULL,
              exec_id TEXT NOT NULL,
              hash TEXT NOT NULL,
              document TEXT NOT NULL,
              PRIMARY KEY(gateway, seq));
            CREATE INDEX IF NOT EXISTS receipts_by_exec ON receipts(exec_id);
            CREATE TABLE IF NOT EXISTS signing_keys(
              kid TEXT PRIMARY KEY,
              x TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS ready_probe(
              id INTEGER PRIMARY KEY,
              n INTEGER NOT NULL);
            """);
        claims?.Open(_writer);
        WarnIfTheKeyChanged(_writer, identity, log);
        Exec(_writer, "INSERT OR IGNORE INTO signing_keys(kid, x) VALUES($kid, $x)",
            ("$kid", identity.SigningKey.Kid), ("$x", Base64Url.Encode(identity.SigningKey.PublicKeyRaw)));

        (_headSeq, _headHash) = ReadHead(_writer, identity.GatewayId);
        _readConnectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = true }.ToString();

        _writerThread = new Thread(WriterLoop) { IsBackground = true, Name = "openexec-store-writer" };
        _writerThread.Start();
    }

    public GatewayIdentity Identity => _identity;

    /// <summary>The seq of the last committed receipt of this chain (0 when it has none).</summary>
    public long CommittedSeq => Volatile.Read(ref _headSeq);

    /// <summary>False once a write failed for a reason other than a busy database, or the writer stopped.</summary>


    /// <summary>Claims nonce and approval in the next group commit. Needs the claim tables.</summary>
    public ValueTask<ClaimResult> ClaimAsync(ClaimRequest request)
        => ClaimAsync(request, request.Now);

    /// <summary>The same, the claim dated <paramref name="now"/> (not the request's own time).</summary>
    public ValueTask<ClaimResult> ClaimAsync(ClaimRequest request, DateTimeOffset now)
        => EnqueueClaim(ClaimOp.Rent(request, now));

    /// <summary>Claims and, only when claimed, stores the executed receipt as its outcome: one transaction.</summary>
    public ValueTask<(ClaimResult Claim, ReceiptDocument? Receipt)> ClaimAndRecordAsync(ClaimRequest request, ReceiptBody executed)
        => ClaimAndRecordAsync(request, request.Now, executed);

    /// <summary>The same, the claim dated <paramref name="now"/>.</summary>
    public ValueTask<(ClaimResult Claim, ReceiptDocument? Receipt)> ClaimAndRecordAsync(ClaimRequest request, DateTimeOffset now, ReceiptBody executed)
        => EnqueueClaim(ClaimRecordOp.Rent(request, now, Unchained(executed)));

    /// <summary>What the claim tables hold for a nonce, read in order with the writes. Needs the claim tables.</summary>
    public async ValueTask<NonceState> LookupAsync(string nonceSha256)
    {
        if (!Sha256Digest.TryParseHex(nonceSha256, out var nonce))
        {
            throw new ArgumentException("A nonce hash is not a SHA-256 in lowercase hex", nameof(nonceSha256));
        }
        var now = DateTimeOffset.UnixEpoch;
        var found = await ClaimAsync(new ClaimRequest(nonce, default, null, "", "", "", now, TimeSpan.Zero, LookupOnly: true)).ConfigureAwait(false);
        return found.Status == ClaimStatus.NonceTaken ? found.Existing : NonceState.Free;
    }

    /// <summary>
    /// Every claim left unfinished in the claim table (only a dead process leaves one: this
    /// process alone writes its data dir) gets an outcome_unknown receipt that finishes it.
    /// Returns the receipts written.
    /// </summary>
    public async Task<IReadOnlyList<ReceiptDocument>> RecoverUnfinishedAsync(Func<RecoveredClaim, ReceiptBody> draftFor, ILogger log, CancellationToken cancellationToken)
    {
        var orphans = await ReadAsync(conn => SqliteClaimTable.UnfinishedAsync(conn, cancellationToken), cancellationToken).ConfigureAwait(false);
        var recorded = new List<ReceiptDocument>(orphans.Count);
        foreach (var orphan in orphans)
        {
            recorded.Add(await AppendAsync(draftFor(orphan), orphan.Outcome).ConfigureAwait(false));
        }
        if (orphans.Count > 0)
        {
            StoreLog.RecoveredClaims(log, orphans.Count);
        }
        return recorded;
    }

    /// <summary>
    /// Claims one prune forgets at most (<see cref="PruneClaimsAsync"/>): a prune runs in the
    /// writer's batch, between requests' writes, and an hour of claims at a busy gateway is
    /// millions of rows (seconds of writer time in one piece); 512 claims take a few
    /// milliseconds, and their undo entries fit the table's kept undo log.
    /// </summary>
    public const int PruneLimit = 512;

    /// <summary>
    /// Forgets up to <see cref="PruneLimit"/> finished claims and consumed approvals created
    /// before the cutoff (retention); returns how many. Fewer than the limit: none older are left.
    /// </summary>
    public ValueTask<int> PruneClaimsAsync(DateTimeOffset cutoff)
        => _claims is null
            ? ValueTask.FromException<int>(new InvalidOperationException("This ledger keeps no claims"))
            : Enqueue(new PruneOp(cutoff.ToUnixTimeMilliseconds()));

    /// <summary>Chains, signs and durably stores one receipt, applying the claim update when this ledger keeps claims.</summary>
    /// <param name="holdForCopy">Completes once the copier has the receipt where it copies it to (or gives up waiting: <see cref="IReceiptCopier"/>), not at its commit; only with a copier.</param>
    public ValueTask<ReceiptDocument> AppendAsync(ReceiptBody draft, ClaimUpdate? claimUpdate, bool holdForCopy = false)
    {
        return Enqueue(ReceiptOp.Rent(Unchained(draft), claimUpdate, holdForCopy && _copier is not null));
    }

    /// <summary>
    /// The draft the writer may chain in place (<see cref="ReceiptBody.ChainDraft"/>): the one
    /// given, unless it was chained before (seq is set): a write retried after it failed, or a
    /// receipt already handed out, which must never change. Those are copied.
    /// </summary>
    private static ReceiptBody Unchained(ReceiptBody draft) => draft.Seq == 0 ? draft : draft with { };

    /// <summary>
    /// An exec id's (first) receipt: the first of its rows whose document names it. The column is
    /// only an index: a row whose document names another attempt (a store written by other than
    /// the gateway) is never served as this one's.
    /// </summary>
    public async ValueTask<ReceiptDocument?> GetReceiptAsync(string execId, CancellationToken cancellationToken)
    {
        var docs = await QueryDocumentsAsync("SELECT document FROM receipts WHERE exec_id = $a ORDER BY seq", execId, null, cancellationToken).ConfigureAwait(false);
        foreach (var doc in docs)
        {
            if (string.Equals(doc.Body.ExecId, execId, StringComparison.Ordinal))
            {
                return doc;
            }
        }
        return null;
    }

    public ValueTask<IReadOnlyList<ReceiptDocument>> ListReceiptsAsync(string gateway, long afterSeq, int limit, CancellationToken cancellationToken)
        => QueryDocumentsAsync($"SELECT document FROM receipts WHERE gateway = $a AND seq > $b ORDER BY seq LIMIT {limit}", gateway, afterSeq, cancellationToken);

    /// <summary>
    /// Every chain's head, through the (gateway, seq) key alone: the next gateway after the last
    /// one, then its highest seq, each a look-up in the index. (A GROUP BY read every receipt
    /// ever written, on every <c>/receipts/gateways</c> and <c>/receipts/head</c>: ~95 ms per
    /// call at a million receipts, and growing, open to anyone when no audit token is set.)
    /// </summary>
    internal const string HeadsSql = """
        WITH RECURSIVE chains(gateway) AS (
          SELECT (SELECT MIN(gateway) FROM receipts)
          UNION ALL
          SELECT (SELECT MIN(gateway) FROM receipts WHERE gateway > chains.gateway) FROM chains WHERE chains.gateway IS NOT NULL)
        SELECT r.gateway, r.seq, r.hash FROM chains JOIN receipts r
          ON r.gateway = chains.gateway AND r.seq = (SELECT MAX(seq) FROM receipts WHERE gateway = chains.gateway)
        ORDER BY r.gateway
        """;

    public async ValueTask<IReadOnlyList<ChainHead>> ListGatewaysAsync(CancellationToken cancellationToken)
    {
        return await ReadAsync(async conn =>
        {
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = HeadsSql;
            var heads = new List<ChainHead>();
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                heads.Add(new ChainHead(reader.GetString(0), reader.GetInt64(1), reader.GetString(2)));
            }
            return (IReadOnlyList<ChainHead>)heads;
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<SigningKeyRecord>> ListKeysAsync(CancellationToken cancellationToken)
    {
        return await ReadAsync(async conn =>
        {
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = "SELECT kid, x FROM signing_keys ORDER BY kid";
            var keys = new List<SigningKeyRecord>();
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                // A data dir is one gateway's: every key it holds is one that gateway signed with.
                keys.Add(new SigningKeyRecord(reader.GetString(0), reader.GetString(1), [_identity.GatewayId]));
            }
            return (IReadOnlyList<SigningKeyRecord>)keys;
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> PingAsync(CancellationToken cancellationToken)
    {
        if (!_writerThread.IsAlive)
        {
            return false;
        }
        try
        {
            // Through the writer, every time, writing a row: another process can hold the write
            // lock before any claim failed on it (an idle gateway), a read succeeds under it (WAL),
            // and a disk can fill with no claim to find out; and once writes land again /ready
            // recovers by itself, with no traffic sent to a gateway that is not ready.
            if (!await Enqueue(new ProbeOp()).AsTask().WaitAsync(cancellationToken).ConfigureAwait(false))
            {
                return false;
            }
            return await ReadAsync(async conn =>
            {
                await using var cmd = conn.CreateCommand();
                cmd.CommandText = "SELECT 1";
                return Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) == 1;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException)
        {
            return false;
        }
    }

    /// <summary>Runs a query on a read-only connection; SQLite errors become <see cref="StoreUnavailableException"/>.</summary>
    public async ValueTask<T> ReadAsync<T>(Func<SqliteConnection, Task<T>> read, CancellationToken cancellationToken)
    {
        try
        {
            await using var conn = new SqliteConnection(_readConnectionString);
            await conn.OpenAsync(cancellationToken).ConfigureAwait(false);
            return await read(conn).ConfigureAwait(false);
        }
        catch (SqliteException ex)
        {
            throw new StoreUnavailableException("The embedded store could not be read", ex);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _queue.Writer.TryComplete();
        if (!_writerThread.Join(TimeSpan.FromSeconds(10)))
        {
            // Still writing (a lock held by another connection): its statements and connection
            // stay with it rather than be freed under it; the process is exiting anyway.
            return;
        }
        _statements.Dispose();
        _documentJson.Dispose();
        // A clean stop leaves everything in openexec.db itself: checkpoints run every 250 pages,
        // so a small ledger lived in the WAL alone, and a backup that copied openexec.db without
        // its -wal (a plain cp) held none of it: restored, the gateway re-opened every used nonce
        // and began its chain again at seq 1. The readers' pooled connections are closed first
        // (an open one would keep the WAL from being emptied).
        SqliteConnection.ClearAllPools();
        try
        {
            Exec(_writer, "PRAGMA wal_checkpoint(TRUNCATE)");
        }
        catch (SqliteException)
        {
            // Another process reading the database (a backup, sqlite3 by hand): the WAL stays, as
            // after a crash, and is read at the next start.
        }
        _writer.Dispose();
        SqliteConnection.ClearAllPools();
    }

    /// <summary>Queues a claim operation: it needs the claim tables (its keys are digests, never malformed).</summary>
    private ValueTask<T> EnqueueClaim<T>(WriteOp<T> op)
    {
        if (_claims is null)
        {
            op.Return();
            return ValueTask.FromException<T>(new InvalidOperationException("This ledger keeps no claims"));
        }
        return Enqueue(op);
    }

    private ValueTask<T> Enqueue<T>(WriteOp<T> op)
    {
        var pending = op.AsValueTask();
        if (!_queue.Writer.TryWrite(op))
        {
            op.Return();
            return ValueTask.FromException<T>(new StoreUnavailableException("The embedded store is shutting down"));
        }
        return pending;
    }

    private void WriterLoop()
    {
        var batch = new List<WriteOp>(MaxBatch);
        var reader = _queue.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            batch.Clear();
            while (batch.Count < MaxBatch && reader.TryRead(out var op))
            {
                batch.Add(op);
            }
            WriteBatch(batch);
        }
    }

    private void WriteBatch(List<WriteOp> batch)
    {
        var seq = _headSeq;
        var prev = _headHash;
        var bodies = _batchBodies;
        var hashes = _batchHashes;
        bodies.Clear();
        hashes.Clear();
        IReadOnlyList<ReceiptDocument> documents = [];
        try
        {
            _statements.Execute("BEGIN IMMEDIATE");
            for (var i = 0; i < batch.Count; i++)
            {
                switch (batch[i])
                {
                    case ClaimOp claim:
                        claim.Result = _claims!.Apply(_statements, claim.Request, claim.Now, outcome: null);
                        break;
                    case ProbeOp probe:
                        // A row is written every time: taking the lock proves nothing about the
                        // disk, and a gateway that no claim has reached since its disk filled
                        // (or its mount went read-only) must not read as ready.
                        _statements.Execute("INSERT OR REPLACE INTO ready_probe(id, n) VALUES(1, 1)");
                        probe.Result = true;
                        break;
                    case PruneOp prune:
                        prune.Result = _claims!.Prune(_statements, prune.CutoffMs, PruneLimit);
                        break;
                    case ReceiptOp receipt:
                        // Chain fields are assigned here, in commit order, so the chain has no gaps.
                        seq++;
                        var body = receipt.Draft;
                        body.ChainDraft(_identity.GatewayId, seq, prev);
                        prev = ReceiptHash.Compute(body);
                        bodies.Add(body);
                        hashes.Add(prev);
                        break;
                    case ClaimRecordOp claimRecord:
                        // The claim is inserted finished, its receipt chained after it; losing
                        // the claim writes nothing.
                        var chained = claimRecord.Executed;
                        chained.ChainDraft(_identity.GatewayId, seq + 1, prev);
                        var hash = ReceiptHash.Compute(chained);
                        var claimed = _claims!.Apply(_statements, claimRecord.Request, claimRecord.Now, (chained.Decision, hash));
                        claimRecord.Claim = claimed;
                        if (claimed.Status == ClaimStatus.Claimed)
                        {
                            seq++;
                            prev = hash;
                            bodies.Add(chained);
                            hashes.Add(hash);
                        }
                        break;
                }
            }

            documents = bodies.Count == 0 ? [] : ReceiptBatchSigner.Sign(_identity.SigningKey, bodies, hashes);
            var d = 0;
            for (var i = 0; i < batch.Count; i++)
            {
                switch (batch[i])
                {
                    case ReceiptOp receipt:
                        var doc = documents[d++];
                        StoreReceipt(doc);
                        if (receipt.ClaimUpdate is { } update && _claims is not null)
                        {
                            _claims.ApplyUpdate(_statements, update, doc);
                        }
                        receipt.Result = doc;
                        if (receipt.HoldForCopy)
                        {
                            _held.Add(new HeldWrite(doc.Body.Seq, receipt));
                        }
                        break;
                    case ClaimRecordOp claimRecord:
                        ReceiptDocument? recorded = null;
                        if (claimRecord.Claim.Status == ClaimStatus.Claimed)
                        {
                            recorded = documents[d++];
                            StoreReceipt(recorded);
                        }
                        claimRecord.Result = (claimRecord.Claim, recorded);
                        break;
                }
            }
            _statements.Execute("COMMIT");
            _claims?.Committed();
        }
        catch (Exception ex)
        {
            RollBack();
            _claims?.RolledBack();
            _failureLog.Log(ex, (_log, batch.Count),
                static (s, e) => StoreLog.WriteFailed(s._log, s.Count, e),
                static (s, reason) => StoreLog.WriteFailedAgain(s._log, reason, s.Count));
            _held.Clear();
            _storedJson.Clear();
            var failure = new StoreUnavailableException("The embedded store could not be written", ex);
            foreach (var op in batch)
            {
                op.Fail(failure);
            }
            return;
        }

        Volatile.Write(ref _headSeq, seq);
        _headHash = prev;
        for (var i = 0; i < batch.Count; i++)
        {
            if (batch[i] is not ReceiptOp { HoldForCopy: true })
            {
                batch[i].Complete();
            }
        }
        if (documents.Count > 0)
        {
            // The batch's receipts, signed and stored in chain order, and the writes that complete
            // once they are copied: from here on the copier's (it completes them, and a completed
            // one may be reused at once), so nothing here reads them again.
            _copier?.Committed(documents, _storedJson, _held);
        }
        _held.Clear();
        _storedJson.Clear();
    }

    private void StoreReceipt(ReceiptDocument doc)
    {
        // The document's UTF-8 bytes, written into one reused buffer and bound as the TEXT they
        // are; with a copier, kept (exactly sized) for it too, so that it need not write them again.
        var json = _documentJson.Write(doc);
        if (_copier is not null)
        {
            var kept = json.ToArray();
            _storedJson.Add(kept);
            json = kept;
        }
        _statements.For("INSERT INTO receipts(gateway, seq, exec_id, hash, document) VALUES(?1, ?2, ?3, ?4, ?5)")
            .Bind(1, doc.Body.Gateway)
            .Bind(2, doc.Body.Seq)
            .Bind(3, doc.Body.ExecId)
            .Bind(4, doc.Hash)
            .BindUtf8(5, json)
            .Run();
    }

    /// <summary>Ends a failed batch's transaction, if SQLite has not already ended it.</summary>
    private void RollBack()
    {
        if (SQLitePCL.raw.sqlite3_get_autocommit(_writer.Handle) != 0)
        {
            return;
        }
        try
        {
            _statements.Execute("ROLLBACK");
        }
        catch (SqliteException ex)
        {
            StoreLog.RollbackFailed(_log, ex);
        }
    }

    private async ValueTask<IReadOnlyList<ReceiptDocument>> QueryDocumentsAsync(string sql, string a, long? b, CancellationToken cancellationToken)
    {
        return await ReadAsync(async conn =>
        {
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = sql;
            cmd.Parameters.AddWithValue("$a", a);
            if (b is { } bv)
            {
                cmd.Parameters.AddWithValue("$b", bv);
            }
            var docs = new List<ReceiptDocument>();
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                docs.Add(ParseDocument(reader.GetString(0)));
            }
            return (IReadOnlyList<ReceiptDocument>)docs;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A stored document, as the ledger (or a copy of it) wrote it.</summary>
    public static ReceiptDocument ParseDocument(string json)
        => ReceiptDocument.Parse(StrictJson.Parse(System.Text.Encoding.UTF8.GetBytes(json)));

    private static (long Seq, string Hash) ReadHead(SqliteConnection conn, string gateway)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT seq, hash FROM receipts WHERE gateway = $g ORDER BY seq DESC LIMIT 1";
        cmd.Parameters.AddWithValue("$g", gateway);
        using var reader = cmd.ExecuteReader();
        return reader.Read() ? (reader.GetInt64(0), reader.GetString(1)) : (0, ReceiptBody.GenesisPrev);
    }

    /// <summary>
    /// A start that signs with a key this ledger has not seen, while it holds receipts: a
    /// rotation through OpenExec:ReceiptKeyPath, or a key file replaced or lost (a new one is
    /// then generated). Earlier receipts stay verifiable (their keys stay listed); the operator
    /// is told, since an unplanned key change is an incident: whoever holds a key signs receipts.
    /// </summary>
    private static void WarnIfTheKeyChanged(SqliteConnection conn, GatewayIdentity identity, ILogger log)
    {
        var known = new List<string>();
        using (var command = conn.CreateCommand())
        {
            command.CommandText = "SELECT kid FROM signing_keys WHERE EXISTS (SELECT 1 FROM receipts WHERE gateway = $gateway) ORDER BY rowid";
            command.Parameters.AddWithValue("$gateway", identity.GatewayId);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                known.Add(reader.GetString(0));
            }
        }
        if (known.Count > 0 && !known.Contains(identity.SigningKey.Kid, StringComparer.Ordinal))
        {
            StoreLog.SigningKeyChanged(log, identity.GatewayId, identity.SigningKey.Kid, string.Join(", ", known));
            return;
        }
        // A key the chain used before, but not for its last receipt: a rotation undone (the key
        // path unset again), whose receipts an auditor told of the rotation reads as forged.
        using var last = conn.CreateCommand();
        last.CommandText = "SELECT seq, document FROM receipts WHERE gateway = $gateway ORDER BY seq DESC LIMIT 1";
        last.Parameters.AddWithValue("$gateway", identity.GatewayId);
        using var row = last.ExecuteReader();
        if (row.Read() && ParseDocument(row.GetString(1)).Kid is var lastKid && !string.Equals(lastKid, identity.SigningKey.Kid, StringComparison.Ordinal))
        {
            StoreLog.SigningKeyReverted(log, identity.GatewayId, identity.SigningKey.Kid, row.GetInt64(0), lastKid);
        }
    }

    private static void Exec(SqliteConnection conn, string sql, params (string Name, object Value)[] parameters)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }
        cmd.ExecuteNonQuery();
    }

    /// <summary>
    /// One queued write and the caller's pending result. Operations are pooled: each is a
    /// reusable <see cref="IValueTaskSource{TResult}"/>, so a write allocates no task, completion
    /// source or boxed result; it goes back to its pool once the caller has read the result.
    /// </summary>
    private abstract class WriteOp : IHeldCompletion
    {
        /// <summary>Completes the caller with the result the batch stored in the operation.</summary>
        public abstract void Complete();

        public abstract void Fail(Exception ex);
    }

    /// <summary>
    /// An operation is its own thread-pool work item: the writer hands each finished one to the
    /// pool, where it completes its caller (whose continuation runs there, inline). The writer
    /// thread never runs request code, and no work item is allocated per completion (the value
    /// task core's asynchronous continuations allocated one per operation: two per call).
    /// </summary>
    private abstract class WriteOp<T> : WriteOp, IValueTaskSource<T>, IThreadPoolWorkItem
    {
        private ManualResetValueTaskSourceCore<T> _core;

        private Exception? _failure;

        /// <summary>Set by the writer while it applies the batch.</summary>
        public T Result { get; set; } = default!;

        public ValueTask<T> AsValueTask() => new(this, _core.Version);

        public override void Complete() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);

        public override void Fail(Exception ex)
        {
            _failure = ex;
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }

        void IThreadPoolWorkItem.Execute()
        {
            if (_failure is { } failure)
            {
                _failure = null;
                _core.SetException(failure);
                return;
            }
            _core.SetResult(Result);
        }

        /// <summary>Clears the operation and puts it back in its pool (if it has one).</summary>
        public void Return()
        {
            Result = default!;
            _core.Reset();
            Clear();
        }

        /// <summary>Drops the operation's inputs and returns it to its pool.</summary>
        protected abstract void Clear();

        T IValueTaskSource<T>.GetResult(short token)
        {
            try
            {
                return _core.GetResult(token);
            }
            finally
            {
                Return();
            }
        }

        ValueTaskSourceStatus IValueTaskSource<T>.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource<T>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
            => _core.OnCompleted(continuation, state, token, flags);
    }

    /// <summary>Finished operations kept for reuse; bounded, so a burst leaves no lasting garbage.</summary>
    private static class Pool<TOp>
        where TOp : class, new()
    {
        private const int Capacity = 1024;
        private static readonly ConcurrentQueue<TOp> Items = new();

        public static TOp Rent() => Items.TryDequeue(out var op) ? op : new TOp();

        public static void Return(TOp op)
        {
            if (Items.Count < Capacity)
            {
                Items.Enqueue(op);
            }
        }
    }

    private sealed class ClaimOp : WriteOp<ClaimResult>
    {
        public ClaimRequest Request { get; private set; } = null!;

        /// <summary>When the claim is dated (its lease counted from it).</summary>
        public DateTimeOffset Now { get; private set; }

        public static ClaimOp Rent(ClaimRequest request, DateTimeOffset now)
        {
            var op = Pool<ClaimOp>.Rent();
            op.Request = request;
            op.Now = now;
            return op;
        }

        protected override void Clear()
        {
            Request = null!;
            Pool<ClaimOp>.Return(this);
        }
    }

    private sealed class ClaimRecordOp : WriteOp<(ClaimResult, ReceiptDocument?)>
    {
        public ClaimRequest Request { get; private set; } = null!;

        public ReceiptBody Executed { get; private set; } = null!;

        /// <summary>When the claim is dated.</summary>
        public DateTimeOffset Now { get; private set; }

        /// <summary>Set by the first pass of the batch.</summary>
        public ClaimResult Claim { get; set; }

        public static ClaimRecordOp Rent(ClaimRequest request, DateTimeOffset now, ReceiptBody executed)
        {
            var op = Pool<ClaimRecordOp>.Rent();
            op.Request = request;
            op.Now = now;
            op.Executed = executed;
            return op;
        }

        protected override void Clear()
        {
            Request = null!;
            Executed = null!;
            Claim = default;
            Pool<ClaimRecordOp>.Return(this);
        }
    }

    /// <summary>
    /// Takes the write lock and commits (writing one row after a failed write): whether a claim
    /// could be written now (the lock free; with the row, the disk taking writes too).
    /// </summary>
    private sealed class ProbeOp : WriteOp<bool>
    {
        protected override void Clear()
        {
        }
    }

    private sealed class PruneOp(long cutoffMs) : WriteOp<int>
    {
        public long CutoffMs { get; } = cutoffMs;

        protected override void Clear()
        {
        }
    }

    private sealed class ReceiptOp : WriteOp<ReceiptDocument>
    {
        public ReceiptBody Draft { get; private set; } = null!;

        public ClaimUpdate? ClaimUpdate { get; private set; }

        /// <summary>Completed by the copier once its receipt is copied, not by the writer (<see cref="IReceiptCopier"/>).</summary>
        public bool HoldForCopy { get; private set; }

        public static ReceiptOp Rent(ReceiptBody draft, ClaimUpdate? claimUpdate, bool holdForCopy)
        {
            var op = Pool<ReceiptOp>.Rent();
            op.Draft = draft;
            op.ClaimUpdate = claimUpdate;
            op.HoldForCopy = holdForCopy;
            return op;
        }

        protected override void Clear()
        {
            Draft = null!;
            ClaimUpdate = null;
            HoldForCopy = false;
            Pool<ReceiptOp>.Return(this);
        }
    }
}
