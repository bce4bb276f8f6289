using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Hosting;

namespace OpenExec.Gateway.Store;

/// <summary>
/// The embedded durable store: one SQLite database (WAL, synchronous=FULL) in the data dir.
/// All writes go through one writer thread that group-commits whatever is queued: one fsync
/// and one receipt signature serve a whole batch, and claims are atomic because one writer
/// applies them in order. Reads use their own pooled connections and never wait for it.
/// </summary>
internal sealed class SqliteExecutionStore : IExecutionStore, IDisposable
{
    /// <summary>Most operations one transaction takes; bounds the latency a batch adds.</summary>
    private const int MaxBatch = 512;

    private readonly Channel<WriteOp> _queue = Channel.CreateUnbounded<WriteOp>(new UnboundedChannelOptions { SingleReader = true });
    private readonly GatewayIdentity _identity;
    private readonly TimeProvider _time;
    private readonly string _readConnectionString;
    private readonly SqliteConnection _writer;
    private readonly Thread _writerThread;
    private readonly ILogger<SqliteExecutionStore> _log;
    private long _headSeq;
    private string _headHash;
    private volatile bool _faulted;

    public SqliteExecutionStore(GatewayIdentity identity, TimeProvider time, ILogger<SqliteExecutionStore> log)
    {
        _identity = identity;
        _time = time;
        _log = log;
        var path = Path.Combine(identity.DataDir, "openexec.db");
        var builder = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false };
        _writer = new SqliteConnection(builder.ToString());
        _writer.Open();
        Exec(_writer, """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=FULL;
            CREATE TABLE IF NOT EXISTS claims(
              nonce_sha256 TEXT PRIMARY KEY,
              request_sha256 TEXT NOT NULL,
              approval_identity TEXT,
              exec_id TEXT NOT NULL,
              action TEXT NOT NULL,
              tenant TEXT NOT NULL,
              done INTEGER NOT NULL,
              decision TEXT,
              receipt TEXT,
              created_ms INTEGER NOT NULL,
              lease_until_ms INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS approvals(
              identity TEXT PRIMARY KEY,
              nonce_sha256 TEXT NOT NULL,
              created_ms INTEGER NOT NULL);
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
            """);
        Exec(_writer, "INSERT OR IGNORE INTO signing_keys(kid, x) VALUES($kid, $x)",
            ("$kid", identity.SigningKey.Kid), ("$x", Base64Url.Encode(identity.SigningKey.PublicKeyRaw)));

        (_headSeq, _headHash) = ReadHead(_writer, identity.GatewayId);
        _readConnectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = true }.ToString();

        _writerThread = new Thread(WriterLoop) { IsBackground = true, Name = "openexec-store-writer" };
        _writerThread.Start();
    }

    public string Kind => "sqlite";

    /// <summary>
    /// Claims left by a process that died (every unfinished claim, since only this process
    /// writes this data dir) become <c>outcome_unknown</c>, each with its receipt in this chain.
    /// </summary>
    public async Task RecoverAsync(Func<RecoveredClaim, ReceiptBody> draftFor, CancellationToken cancellationToken)
    {
        var orphans = new List<RecoveredClaim>();
        await using (var cmd = _writer.CreateCommand())
        {
            cmd.CommandText = "SELECT nonce_sha256, request_sha256, approval_identity, exec_id, action, tenant, created_ms FROM claims WHERE done = 0";
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                orphans.Add(new RecoveredClaim(reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6))));
            }
        }
        foreach (var orphan in orphans)
        {
            await AppendReceiptAsync(draftFor(orphan), new ClaimUpdate(orphan.NonceSha256, orphan.ApprovalIdentity, Release: false), cancellationToken).ConfigureAwait(false);
        }
        if (orphans.Count > 0)
        {
            StoreLog.RecoveredClaims(_log, orphans.Count);
        }
    }

    public async ValueTask<NonceState> LookupAsync(string nonceSha256, CancellationToken cancellationToken)
    {
        try
        {
            await using var conn = new SqliteConnection(_readConnectionString);
            await conn.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = "SELECT request_sha256, exec_id, done, decision, receipt FROM claims WHERE nonce_sha256 = $n";
            cmd.Parameters.AddWithValue("$n", nonceSha256);
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadState(reader) : NonceState.Free;
        }
        catch (SqliteException ex)
        {
            throw new StoreUnavailableException("The embedded store could not be read", ex);
        }
    }

    public ValueTask<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken)
        => Enqueue<ClaimResult>(new ClaimOp(request));

    public ValueTask<ReceiptDocument> AppendReceiptAsync(ReceiptBody draft, ClaimUpdate? claimUpdate, CancellationToken cancellationToken)
        => Enqueue<ReceiptDocument>(new ReceiptOp(draft, claimUpdate));

    public async ValueTask<ReceiptDocument?> GetReceiptAsync(string execId, CancellationToken cancellationToken)
    {
        var docs = await QueryDocumentsAsync("SELECT document FROM receipts WHERE exec_id = $a LIMIT 1", execId, null, cancellationToken).ConfigureAwait(false);
        return docs.Count == 0 ? null : docs[0];
    }

    public ValueTask<IReadOnlyList<ReceiptDocument>> ListReceiptsAsync(string gateway, long afterSeq, int limit, CancellationToken cancellationToken)
        => QueryDocumentsAsync($"SELECT document FROM receipts WHERE gateway = $a AND seq > $b ORDER BY seq LIMIT {limit}", gateway, afterSeq, cancellationToken);

    public async ValueTask<ChainHead?> GetHeadAsync(string gateway, CancellationToken cancellationToken)
    {
        var heads = await ListGatewaysAsync(cancellationToken).ConfigureAwait(false);
        return heads.FirstOrDefault(h => h.Gateway == gateway);
    }

    public async ValueTask<IReadOnlyList<ChainHead>> ListGatewaysAsync(CancellationToken cancellationToken)
    {
        return await ReadAsync(async conn =>
        {
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = "SELECT r.gateway, r.seq, r.hash FROM receipts r JOIN (SELECT gateway, MAX(seq) AS seq FROM receipts GROUP BY gateway) m ON r.gateway = m.gateway AND r.seq = m.seq ORDER BY r.gateway";
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
                keys.Add(new SigningKeyRecord(reader.GetString(0), reader.GetString(1)));
            }
            return (IReadOnlyList<SigningKeyRecord>)keys;
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> PingAsync(CancellationToken cancellationToken)
    {
        if (_faulted || !_writerThread.IsAlive)
        {
            return false;
        }
        try
        {
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

    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _writerThread.Join(TimeSpan.FromSeconds(10));
        _writer.Dispose();
        SqliteConnection.ClearAllPools();
    }

    private ValueTask<T> Enqueue<T>(WriteOp op)
    {
        if (!_queue.Writer.TryWrite(op))
        {
            return ValueTask.FromException<T>(new StoreUnavailableException("The embedded store is shutting down"));
        }
        return new ValueTask<T>((Task<T>)op.Task);
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
        var bodies = new List<ReceiptBody>();
        var results = new object?[batch.Count];
        try
        {
            using var tx = _writer.BeginTransaction();
            for (var i = 0; i < batch.Count; i++)
            {
                switch (batch[i])
                {
                    case ClaimOp claim:
                        results[i] = ApplyClaim(tx, claim.Request);
                        break;
                    case ReceiptOp receipt:
                        // Chain fields are assigned here, in commit order, so the chain has no gaps.
                        seq++;
                        var body = receipt.Draft with { Gateway = _identity.GatewayId, Seq = seq, Prev = prev };
                        prev = ReceiptHash.Compute(body);
                        bodies.Add(body);
                        break;
                }
            }

            var documents = bodies.Count == 0 ? [] : ReceiptBatchSigner.Sign(_identity.SigningKey, bodies);
            var d = 0;
            for (var i = 0; i < batch.Count; i++)
            {
                if (batch[i] is ReceiptOp receipt)
                {
                    var doc = documents[d++];
                    StoreReceipt(tx, doc);
                    if (receipt.ClaimUpdate is { } update)
                    {
                        ApplyUpdate(tx, update, doc);
                    }
                    results[i] = doc;
                }
            }
            tx.Commit();
        }
        catch (Exception ex)
        {
            _faulted = ex is not SqliteException { SqliteErrorCode: 5 or 6 };
            StoreLog.WriteFailed(_log, ex);
            var failure = new StoreUnavailableException("The embedded store could not be written", ex);
            foreach (var op in batch)
            {
                op.Fail(failure);
            }
            return;
        }

        _faulted = false;
        _headSeq = seq;
        _headHash = prev;
        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Complete(results[i]);
        }
    }

    private ClaimResult ApplyClaim(SqliteTransaction tx, ClaimRequest request)
    {
        using (var cmd = _writer.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "SELECT request_sha256, exec_id, done, decision, receipt FROM claims WHERE nonce_sha256 = $n";
            cmd.Parameters.AddWithValue("$n", request.NonceSha256);
            using var reader = cmd.ExecuteReader();
            if (reader.Read())
            {
                return new ClaimResult(ClaimStatus.NonceTaken, ReadState(reader));
            }
        }
        if (request.ApprovalIdentity is { } identity)
        {
            using var cmd = _writer.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT OR IGNORE INTO approvals(identity, nonce_sha256, created_ms) VALUES($i, $n, $t)";
            cmd.Parameters.AddWithValue("$i", identity);
            cmd.Parameters.AddWithValue("$n", request.NonceSha256);
            cmd.Parameters.AddWithValue("$t", request.Now.ToUnixTimeMilliseconds());
            if (cmd.ExecuteNonQuery() == 0)
            {
                return new ClaimResult(ClaimStatus.ApprovalReused, NonceState.Free);
            }
        }
        using (var cmd = _writer.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO claims(nonce_sha256, request_sha256, approval_identity, exec_id, action, tenant, done, created_ms, lease_until_ms) VALUES($n, $r, $i, $e, $a, $tn, 0, $t, $l)";
            cmd.Parameters.AddWithValue("$n", request.NonceSha256);
            cmd.Parameters.AddWithValue("$r", request.RequestSha256);
            cmd.Parameters.AddWithValue("$i", (object?)request.ApprovalIdentity ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$e", request.ExecId);
            cmd.Parameters.AddWithValue("$a", request.Action);
            cmd.Parameters.AddWithValue("$tn", request.Tenant);
            cmd.Parameters.AddWithValue("$t", request.Now.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$l", request.LeaseUntil.ToUnixTimeMilliseconds());
            cmd.ExecuteNonQuery();
        }
        return new ClaimResult(ClaimStatus.Claimed, NonceState.Free);
    }

    private void ApplyUpdate(SqliteTransaction tx, ClaimUpdate update, ReceiptDocument doc)
    {
        using var cmd = _writer.CreateCommand();
        cmd.Transaction = tx;
        if (update.Release)
        {
            // Nothing reached the backend: the nonce and the approval may be used again.
            cmd.CommandText = "DELETE FROM claims WHERE nonce_sha256 = $n; DELETE FROM approvals WHERE nonce_sha256 = $n";
            cmd.Parameters.AddWithValue("$n", update.NonceSha256);
        }
        else
        {
            cmd.CommandText = "UPDATE claims SET done = 1, decision = $d, receipt = $h WHERE nonce_sha256 = $n";
            cmd.Parameters.AddWithValue("$n", update.NonceSha256);
            cmd.Parameters.AddWithValue("$d", doc.Body.Decision);
            cmd.Parameters.AddWithValue("$h", doc.Hash);
        }
        cmd.ExecuteNonQuery();
    }

    private void StoreReceipt(SqliteTransaction tx, ReceiptDocument doc)
    {
        using var cmd = _writer.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT INTO receipts(gateway, seq, exec_id, hash, document) VALUES($g, $s, $e, $h, $d)";
        cmd.Parameters.AddWithValue("$g", doc.Body.Gateway);
        cmd.Parameters.AddWithValue("$s", doc.Body.Seq);
        cmd.Parameters.AddWithValue("$e", doc.Body.ExecId);
        cmd.Parameters.AddWithValue("$h", doc.Hash);
        cmd.Parameters.AddWithValue("$d", doc.ToJson());
        cmd.ExecuteNonQuery();
    }

    private static NonceState ReadState(SqliteDataReader reader)
    {
        var done = reader.GetInt64(2) != 0;
        return new NonceState(
            done ? NonceStatus.Done : NonceStatus.InProgress,
            reader.GetString(0),
            reader.GetString(1),
            reader.IsDBNull(4) ? null : reader.GetString(4),
            reader.IsDBNull(3) ? null : reader.GetString(3));
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
                docs.Add(ReceiptDocument.Parse(StrictJson.Parse(System.Text.Encoding.UTF8.GetBytes(reader.GetString(0)))));
            }
            return (IReadOnlyList<ReceiptDocument>)docs;
        }, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<T> ReadAsync<T>(Func<SqliteConnection, Task<T>> read, CancellationToken cancellationToken)
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

    private static (long Seq, string Hash) ReadHead(SqliteConnection conn, string gateway)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT seq, hash FROM receipts WHERE gateway = $g ORDER BY seq DESC LIMIT 1";
        cmd.Parameters.AddWithValue("$g", gateway);
        using var reader = cmd.ExecuteReader();
        return reader.Read() ? (reader.GetInt64(0), reader.GetString(1)) : (0, ReceiptBody.GenesisPrev);
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

    private abstract class WriteOp
    {
        public abstract Task Task { get; }

        public abstract void Complete(object? result);

        public abstract void Fail(Exception ex);
    }

    private abstract class WriteOp<T> : WriteOp
    {
        private readonly TaskCompletionSource<T> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override Task Task => _tcs.Task;

        public override void Complete(object? result) => _tcs.TrySetResult((T)result!);

        public override void Fail(Exception ex) => _tcs.TrySetException(ex);
    }

    private sealed class ClaimOp(ClaimRequest request) : WriteOp<ClaimResult>
    {
        public ClaimRequest Request { get; } = request;
    }

    private sealed class ReceiptOp(ReceiptBody draft, ClaimUpdate? claimUpdate) : WriteOp<ReceiptDocument>
    {
        public ReceiptBody Draft { get; } = draft;

        public ClaimUpdate? ClaimUpdate { get; } = claimUpdate;
    }
}

/// <summary>An unfinished claim found at start-up.</summary>
internal sealed record RecoveredClaim(string NonceSha256, string RequestSha256, string? ApprovalIdentity, string ExecId, string Action, string Tenant, DateTimeOffset ClaimedAt);

internal static partial class StoreLog
{
    [LoggerMessage(1, LogLevel.Warning, "Recovered {Count} claims left unfinished by a previous process; each is recorded as outcome_unknown")]
    public static partial void RecoveredClaims(ILogger logger, int count);

    [LoggerMessage(2, LogLevel.Error, "Store write failed; the batch was rolled back and its requests answered 503")]
    public static partial void WriteFailed(ILogger logger, Exception exception);
}
