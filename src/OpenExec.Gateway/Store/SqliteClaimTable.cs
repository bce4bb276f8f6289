using Microsoft.Data.Sqlite;

namespace OpenExec.Gateway.Store;

/// <summary>
/// The embedded store's nonce claims and consumed approvals. Writes run on the ledger's writer
/// thread inside its group-commit transaction (<see cref="SqliteReceiptLedger"/>), so a claim and
/// the receipt that records its outcome are ordered by one writer.
/// <para>
/// The claims are rows appended in order (<c>claim_log</c>, keyed by a sequence) and found
/// through an index in memory (nonce hash → row, approval identity → row) that the writer keeps
/// in step with its transactions and that is rebuilt from the rows at start. A B-tree keyed by
/// the nonce hash would put every claim on a random page: one more 4 KiB page written (twice,
/// WAL then checkpoint) per request, the single largest cost of a claim. The price is memory:
/// about 52 bytes per kept nonce in a table that grows without copying (<see cref="Sha256Index"/>;
/// <c>OpenExec:NonceRetention</c> bounds it).
/// </para>
/// </summary>
internal sealed class SqliteClaimTable
{
    private readonly Sha256Index _byNonce = new();
    private readonly Sha256Index _byApproval = new();

    /// <summary>
    /// Undo entries kept allocated between transactions: a full batch of claims (two each, 57 KB,
    /// below the large-object threshold). A prune adds one or two per claim it deletes, millions
    /// on a large data dir, and the array that grew for them is let go rather than held for good.
    /// </summary>
    private const int UndoKept = 1024;

    /// <summary>How to take back this transaction's index changes if it does not commit.</summary>
    private readonly List<(Sha256Index Index, Sha256Key Key, long? Before)> _undo = [];

    /// <summary>Nonces the index holds (kept claims).</summary>
    public int Count => _byNonce.Count;

    /// <summary>Creates (or moves to) the append-only layout and loads the index. Writer connection.</summary>
    public void Open(SqliteConnection writer)
    {
        Exec(writer, """
            CREATE TABLE IF NOT EXISTS claim_log(
              id INTEGER PRIMARY KEY,
              nonce_sha256 TEXT NOT NULL,
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
            CREATE INDEX IF NOT EXISTS claim_log_by_time ON claim_log(created_ms);
            """);
        MoveEarlierLayout(writer);
        AddColumn(writer, "trace_id");
        AddColumn(writer, "approval_id");
        GuardAgainstEarlierBuilds(writer);

        using var cmd = writer.CreateCommand();
        cmd.CommandText = "SELECT id, nonce_sha256, approval_identity FROM claim_log";
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
        {
            var id = reader.GetInt64(0);
            _byNonce.Set(Sha256Key.Parse(reader.GetString(1)), id);
            if (!reader.IsDBNull(2))
            {
                _byApproval.Set(Sha256Key.Parse(reader.GetString(2)), id);
            }
        }
    }

    /// <summary>The transaction committed: its index changes stay.</summary>
    public void Committed() => ClearUndo();

    /// <summary>The transaction rolled back: its index changes are taken back, newest first.</summary>
    public void RolledBack()
    {
        for (var i = _undo.Count - 1; i >= 0; i--)
        {
            var (index, key, before) = _undo[i];
            if (before is { } id)
            {
                index.Set(key, id);
            }
            else
            {
                index.Remove(key);
            }
        }
        ClearUndo();
    }

    /// <summary>
    /// Deletes up to <paramref name="limit"/> finished claims (and so their consumed approvals)
    /// created before the cutoff. Unfinished claims are never deleted: they become
    /// outcome_unknown, never free. Returns the claims deleted: fewer than the limit when none
    /// older are left. The writer runs this inside a batch, so a limit keeps each batch short
    /// however much the retention has to forget at once.
    /// </summary>
    public int Prune(SqliteStatements statements, long cutoffMs, int limit = int.MaxValue)
    {
        var ids = new List<long>(Math.Min(limit, UndoKept));
        using (var rows = statements.For("SELECT id, nonce_sha256, approval_identity FROM claim_log WHERE created_ms < ?1 AND done = 1 LIMIT ?2").Bind(1, cutoffMs).Bind(2, limit).Query())
        {
            while (rows.Read())
            {
                var id = rows.Int64(0);
                ids.Add(id);
                Forget(_byNonce, Sha256Key.Parse(rows.Text(1)!), id);
                if (rows.Text(2) is { } approval)
                {
                    Forget(_byApproval, Sha256Key.Parse(approval), id);
                }
            }
        }
        foreach (var id in ids)
        {
            statements.For("DELETE FROM claim_log WHERE id = ?1").Bind(1, id).Run();
        }
        return ids.Count;
    }

    /// <summary>
    /// Step 6 (or, with <see cref="ClaimRequest.LookupOnly"/>, step 4 alone). With
    /// <paramref name="outcome"/> the claim is inserted already finished (an in-process action
    /// recorded in the same transaction).
    /// </summary>
    public ClaimResult Apply(SqliteStatements statements, ClaimRequest request, (string Decision, string Receipt)? outcome)
        => Apply(statements, request, request.Now, outcome);

    /// <summary>The same, the claim dated <paramref name="now"/> (its lease counted from it) in place of the request's own time.</summary>
    public ClaimResult Apply(SqliteStatements statements, ClaimRequest request, DateTimeOffset now, (string Decision, string Receipt)? outcome)
    {
        var nonce = Sha256Key.Of(request.Nonce);
        if (_byNonce.TryGetValue(nonce, out var existing))
        {
            return new ClaimResult(ClaimStatus.NonceTaken, ReadState(statements, existing));
        }
        if (request.LookupOnly)
        {
            return new ClaimResult(ClaimStatus.NotClaimed, NonceState.Free);
        }
        Sha256Key? approval = request.Approval is { } identity ? Sha256Key.Of(identity) : null;
        if (approval is { } a && _byApproval.ContainsKey(a))
        {
            return new ClaimResult(ClaimStatus.ApprovalReused, NonceState.Free);
        }

        statements.For("INSERT INTO claim_log(nonce_sha256, request_sha256, approval_identity, exec_id, action, tenant, done, decision, receipt, created_ms, lease_until_ms, trace_id, approval_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")
            .BindHex(1, request.Nonce)
            .BindHex(2, request.Request)
            .BindHex(3, request.Approval)
            .Bind(4, request.ExecId)
            .Bind(5, request.Action)
            .Bind(6, request.Tenant)
            .Bind(7, outcome is null ? 0 : 1)
            .Bind(8, outcome?.Decision)
            .Bind(9, outcome?.Receipt)
            .Bind(10, now.ToUnixTimeMilliseconds())
            .Bind(11, (now + request.Lease).ToUnixTimeMilliseconds())
            .BindHex(12, request.Trace)
            .Bind(13, request.ApprovalId)
            .Run();
        var id = statements.LastInsertRowId;
        Set(_byNonce, nonce, id);
        if (approval is { } consumed)
        {
            Set(_byApproval, consumed, id);
        }
        return new ClaimResult(ClaimStatus.Claimed, NonceState.Free);
    }

    /// <summary>Records a claim's outcome, or releases it (nothing reached the backend).</summary>
    public void ApplyUpdate(SqliteStatements statements, ClaimUpdate update, Core.Receipts.ReceiptDocument doc)
    {
        var nonce = Sha256Key.Of(update.Nonce);
        if (!_byNonce.TryGetValue(nonce, out var id))
        {
            return;
        }
        if (update.Release)
        {
            // Nothing reached the backend: the nonce and the approval may be used again.
            statements.For("DELETE FROM claim_log WHERE id = ?1").Bind(1, id).Run();
            Forget(_byNonce, nonce, id);
            if (update.Approval is { } identity)
            {
                Forget(_byApproval, Sha256Key.Of(identity), id);
            }
        }
        else
        {
            statements.For("UPDATE claim_log SET done = 1, decision = ?1, receipt = ?2 WHERE id = ?3")
                .Bind(1, doc.Body.Decision)
                .Bind(2, doc.Hash)
                .Bind(3, id)
                .Run();
        }
    }

    /// <summary>Every claim without an outcome.</summary>
    public static async Task<List<RecoveredClaim>> UnfinishedAsync(SqliteConnection conn, CancellationToken cancellationToken)
    {
        var orphans = new List<RecoveredClaim>();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT nonce_sha256, request_sha256, approval_identity, exec_id, action, tenant, created_ms, trace_id, approval_id FROM claim_log WHERE done = 0 ORDER BY id";
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            orphans.Add(new RecoveredClaim(reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)), reader.IsDBNull(7) ? null : reader.GetString(7), reader.IsDBNull(8) ? null : reader.GetString(8)));
        }
        return orphans;
    }

    private static NonceState ReadState(SqliteStatements statements, long id)
    {
        using var rows = statements.For("SELECT request_sha256, exec_id, done, decision, receipt FROM claim_log WHERE id = ?1").Bind(1, id).Query();
        if (!rows.Read())
        {
            throw new InvalidOperationException("The claim index names a claim that is not stored");
        }
        return new NonceState(
            rows.Int64(2) != 0 ? NonceStatus.Done : NonceStatus.InProgress,
            rows.Text(0)!,
            rows.Text(1)!,
            rows.Text(4),
            rows.Text(3));
    }

    /// <summary>
    /// Data dirs written before the append-only layout kept claims in <c>claims</c> (keyed by
    /// nonce) and <c>approvals</c>; their rows move over, in claim order, in one transaction.
    /// </summary>
    private static void MoveEarlierLayout(SqliteConnection writer)
    {
        using (var probe = writer.CreateCommand())
        {
            probe.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'claims'";
            if ((long)probe.ExecuteScalar()! == 0)
            {
                return;
            }
        }
        Exec(writer, """
            BEGIN IMMEDIATE;
            INSERT INTO claim_log(nonce_sha256, request_sha256, approval_identity, exec_id, action, tenant, done, decision, receipt, created_ms, lease_until_ms)
              SELECT nonce_sha256, request_sha256, approval_identity, exec_id, action, tenant, done, decision, receipt, created_ms, lease_until_ms FROM claims ORDER BY created_ms, rowid;
            DROP TABLE claims;
            DROP TABLE IF EXISTS approvals;
            COMMIT;
            """);
    }

    /// <summary>
    /// True when the ledger at <paramref name="path"/> holds receipts and has never had a claim
    /// table: versions before 2026-11-26 09:00 UTC made none when run with the Redis store (their
    /// claims were in Redis alone), and the embedded store always makes one. Such a data dir was
    /// run with Redis before the <c>store-redis</c> marker existed. False when unreadable: the
    /// store's own open names that.
    /// </summary>
    internal static bool ReceiptsWithoutClaimTable(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }
        try
        {
            using var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
            conn.Open();
            using var cmd = conn.CreateCommand();
            cmd.CommandText = """
                SELECT (SELECT count(*) FROM sqlite_master WHERE name IN ('claim_log', 'claims')),
                       (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'receipts')
                """;
            using (var reader = cmd.ExecuteReader())
            {
                if (!reader.Read() || reader.GetInt64(0) > 0 || reader.GetInt64(1) == 0)
                {
                    return false;
                }
            }
            cmd.CommandText = "SELECT EXISTS(SELECT 1 FROM receipts)";
            return (long)cmd.ExecuteScalar()! == 1;
        }
        catch (SqliteException)
        {
            return false;
        }
    }

    /// <summary>
    /// Builds of the earlier layout (see <see cref="MoveEarlierLayout"/>) create a <c>claims</c>
    /// table when there is none, and a gateway rolled back to one after an upgrade would find it
    /// empty and take every nonce ever used for free: requests already run would run again. A view
    /// of that name over <c>claim_log</c> stands in its place: such a build finds no table to
    /// create, sees the used nonces when it looks one up (replay refused), and cannot write a
    /// claim into a view, so it executes nothing. This layout never reads or writes it.
    /// </summary>
    private static void GuardAgainstEarlierBuilds(SqliteConnection writer) => Exec(writer, """
        CREATE VIEW IF NOT EXISTS claims AS
          SELECT nonce_sha256, request_sha256, approval_identity, exec_id, action, tenant, done, decision, receipt, created_ms, lease_until_ms FROM claim_log;
        """);

    /// <summary>
    /// What a claim's outcome_unknown receipt written after a crash needs to name, as any other
    /// receipt does: the request's trace (<c>trace_id</c>, SPEC section 7) and the verified
    /// artifact's <c>approval_id</c> (SPEC section 6). Added to claim tables made before them.
    /// </summary>
    private static void AddColumn(SqliteConnection writer, string column)
    {
        using (var probe = writer.CreateCommand())
        {
            probe.CommandText = "SELECT count(*) FROM pragma_table_info('claim_log') WHERE name = $name";
            probe.Parameters.AddWithValue("$name", column);
            if ((long)probe.ExecuteScalar()! > 0)
            {
                return;
            }
        }
        Exec(writer, $"ALTER TABLE claim_log ADD COLUMN {column} TEXT");
    }

    private void ClearUndo()
    {
        _undo.Clear();
        if (_undo.Capacity > UndoKept)
        {
            _undo.Capacity = UndoKept;
        }
    }

    private void Set(Sha256Index index, Sha256Key key, long id)
    {
        _undo.Add((index, key, index.TryGetValue(key, out var before) ? before : null));
        index.Set(key, id);
    }

    private void Forget(Sha256Index index, Sha256Key key, long id)
    {
        if (index.TryGetValue(key, out var current) && current == id)
        {
            _undo.Add((index, key, current));
            index.Remove(key);
        }
    }

    private static void Exec(SqliteConnection conn, string sql)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
