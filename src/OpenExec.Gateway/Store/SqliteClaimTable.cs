using Microsoft.Data.Sqlite;

namespace OpenExec.Gateway.Store;

/// <summary>
/// The embedded store's nonce claims and consumed approvals. Writes run on the ledger's writer
/// thread inside its group-commit transaction (<see cref="SqliteReceiptLedger"/>), so a claim and
/// the receipt that records its outcome are ordered by one writer; reads use any connection.
/// </summary>
internal sealed class SqliteClaimTable
{
    public void CreateSchema(SqliteConnection writer)
    {
        using var cmd = writer.CreateCommand();
        cmd.CommandText = """
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
            """;
        cmd.ExecuteNonQuery();
    }

    /// <summary>
    /// Deletes finished claims and consumed approvals older than the cutoff. Unfinished claims
    /// are never deleted: they become outcome_unknown, never free. Returns the claims deleted.
    /// </summary>
    public int Prune(SqliteTransaction tx, long cutoffMs)
    {
        using var cmd = tx.Connection!.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "DELETE FROM claims WHERE done = 1 AND created_ms < $c; SELECT changes(); ";
        cmd.Parameters.AddWithValue("$c", cutoffMs);
        var deleted = Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        using var approvals = tx.Connection!.CreateCommand();
        approvals.Transaction = tx;
        approvals.CommandText = "DELETE FROM approvals WHERE created_ms < $c AND nonce_sha256 NOT IN (SELECT nonce_sha256 FROM claims)";
        approvals.Parameters.AddWithValue("$c", cutoffMs);
        approvals.ExecuteNonQuery();
        return deleted;
    }

    /// <summary>
    /// Step 6. With <paramref name="outcome"/> the claim is inserted already finished (an
    /// in-process action recorded in the same transaction).
    /// </summary>
    public ClaimResult Apply(SqliteStatements statements, SqliteTransaction tx, ClaimRequest request, (string Decision, string Receipt)? outcome)
    {
        {
            var cmd = statements.For(tx, "SELECT request_sha256, exec_id, done, decision, receipt FROM claims WHERE nonce_sha256 = $n");
            cmd.Parameters.AddWithValue("$n", request.NonceSha256);
            using var reader = cmd.ExecuteReader();
            if (reader.Read())
            {
                return new ClaimResult(ClaimStatus.NonceTaken, ReadState(reader));
            }
        }
        if (request.LookupOnly)
        {
            return new ClaimResult(ClaimStatus.NotClaimed, NonceState.Free);
        }
        if (request.ApprovalIdentity is { } identity)
        {
            var cmd = statements.For(tx, "INSERT OR IGNORE INTO approvals(identity, nonce_sha256, created_ms) VALUES($i, $n, $t)");
            cmd.Parameters.AddWithValue("$i", identity);
            cmd.Parameters.AddWithValue("$n", request.NonceSha256);
            cmd.Parameters.AddWithValue("$t", request.Now.ToUnixTimeMilliseconds());
            if (cmd.ExecuteNonQuery() == 0)
            {
                return new ClaimResult(ClaimStatus.ApprovalReused, NonceState.Free);
            }
        }
        {
            var cmd = statements.For(tx, "INSERT INTO claims(nonce_sha256, request_sha256, approval_identity, exec_id, action, tenant, done, decision, receipt, created_ms, lease_until_ms) VALUES($n, $r, $i, $e, $a, $tn, $done, $d, $h, $t, $l)");
            cmd.Parameters.AddWithValue("$n", request.NonceSha256);
            cmd.Parameters.AddWithValue("$r", request.RequestSha256);
            cmd.Parameters.AddWithValue("$i", (object?)request.ApprovalIdentity ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$e", request.ExecId);
            cmd.Parameters.AddWithValue("$a", request.Action);
            cmd.Parameters.AddWithValue("$tn", request.Tenant);
            cmd.Parameters.AddWithValue("$t", request.Now.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$l", request.LeaseUntil.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$done", outcome is null ? 0 : 1);
            cmd.Parameters.AddWithValue("$d", (object?)outcome?.Decision ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$h", (object?)outcome?.Receipt ?? DBNull.Value);
            cmd.ExecuteNonQuery();
        }
        return new ClaimResult(ClaimStatus.Claimed, NonceState.Free);
    }

    public void ApplyUpdate(SqliteStatements statements, SqliteTransaction tx, ClaimUpdate update, Core.Receipts.ReceiptDocument doc)
    {
        SqliteCommand cmd;
        if (update.Release)
        {
            // Nothing reached the backend: the nonce and the approval may be used again.
            cmd = statements.For(tx, "DELETE FROM claims WHERE nonce_sha256 = $n; DELETE FROM approvals WHERE nonce_sha256 = $n");
            cmd.Parameters.AddWithValue("$n", update.NonceSha256);
        }
        else
        {
            cmd = statements.For(tx, "UPDATE claims SET done = 1, decision = $d, receipt = $h WHERE nonce_sha256 = $n");
            cmd.Parameters.AddWithValue("$n", update.NonceSha256);
            cmd.Parameters.AddWithValue("$d", doc.Body.Decision);
            cmd.Parameters.AddWithValue("$h", doc.Hash);
        }
        cmd.ExecuteNonQuery();
    }

    public static async Task<NonceState> LookupAsync(SqliteConnection conn, string nonceSha256, CancellationToken cancellationToken)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT request_sha256, exec_id, done, decision, receipt FROM claims WHERE nonce_sha256 = $n";
        cmd.Parameters.AddWithValue("$n", nonceSha256);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadState(reader) : NonceState.Free;
    }

    /// <summary>Every claim without an outcome.</summary>
    public static async Task<List<RecoveredClaim>> UnfinishedAsync(SqliteConnection conn, CancellationToken cancellationToken)
    {
        var orphans = new List<RecoveredClaim>();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT nonce_sha256, request_sha256, approval_identity, exec_id, action, tenant, created_ms FROM claims WHERE done = 0";
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            orphans.Add(new RecoveredClaim(reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6))));
        }
        return orphans;
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
}
