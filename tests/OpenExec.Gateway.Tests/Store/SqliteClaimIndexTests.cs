using Microsoft.Data.Sqlite;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>
/// The embedded store's claims are appended rows found through an index in memory: the index
/// follows the transactions (a rolled-back claim is not in it) and data dirs written in the
/// earlier layout (claims keyed by nonce) keep every used nonce and consumed approval.
/// </summary>
public sealed class SqliteClaimIndexTests : StoreTestBase
{
    internal override IExecutionStore OpenStore(GatewayIdentity identity) => SqliteExecutionStoreTests.Open(identity);

    [Fact]
    public void A_claim_whose_transaction_rolled_back_leaves_nonce_and_approval_free()
    {
        using var file = new ClaimTableFile();
        var (table, statements) = (file.Table, file.Statements);
        var claim = Claim(Hex64(), approval: Hex64());

        statements.Execute("BEGIN IMMEDIATE");
        Assert.Equal(ClaimStatus.Claimed, table.Apply(statements, claim, outcome: null).Status);
        statements.Execute("ROLLBACK");
        table.RolledBack();
        Assert.Equal(0, table.Count);

        statements.Execute("BEGIN IMMEDIATE");
        Assert.Equal(ClaimStatus.Claimed, table.Apply(statements, claim with { ExecId = NewExecId() }, outcome: null).Status);
        statements.Execute("COMMIT");
        table.Committed();

        statements.Execute("BEGIN IMMEDIATE");
        Assert.Equal(ClaimStatus.NonceTaken, table.Apply(statements, claim, outcome: null).Status);
        Assert.Equal(ClaimStatus.ApprovalReused, table.Apply(statements, Claim(Hex64(), approval: claim.ApprovalIdentity), outcome: null).Status);
        statements.Execute("ROLLBACK");
    }

    [Fact]
    public async Task A_malformed_key_fails_its_own_call_and_nothing_else()
    {
        var (store, _) = Open();
        var good = Claim(Hex64(), approval: Hex64());

        // A nonce hash and an approval identity are digests in a claim, never malformed there (a
        // malformed one is refused where its hex is read); a looked-up nonce is hex.
        Assert.Throws<FormatException>(() => Claim(Hex64(), approval: "ABC"));
        var lookup = store.LookupAsync("not-a-hash", default).AsTask();
        var claimed = store.ClaimAsync(good, default).AsTask();

        await Assert.ThrowsAsync<ArgumentException>(() => lookup);
        Assert.Equal(ClaimStatus.Claimed, (await claimed).Status);
        Assert.True(await store.PingAsync(default));
        Assert.Equal(NonceStatus.InProgress, (await store.LookupAsync(good.NonceSha256, default)).Status);
    }

    [Fact]
    public async Task Claims_of_the_earlier_layout_are_moved_and_stay_used()
    {
        var dir = TempDir.Create();
        var identity = GatewayIdentity.Open(dir, null);
        var done = Claim(Hex64(), approval: Hex64());
        var running = Claim(Hex64());
        using (var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(identity.DataDir, "openexec.db"), Pooling = false }.ToString()))
        {
            conn.Open();
            using var cmd = conn.CreateCommand();
            cmd.CommandText = $"""
                CREATE TABLE claims(nonce_sha256 TEXT PRIMARY KEY, request_sha256 TEXT NOT NULL, approval_identity TEXT, exec_id TEXT NOT NULL,
                  action TEXT NOT NULL, tenant TEXT NOT NULL, done INTEGER NOT NULL, decision TEXT, receipt TEXT, created_ms INTEGER NOT NULL, lease_until_ms INTEGER NOT NULL);
                CREATE TABLE approvals(identity TEXT PRIMARY KEY, nonce_sha256 TEXT NOT NULL, created_ms INTEGER NOT NULL);
                INSERT INTO claims VALUES('{done.NonceSha256}', '{done.RequestSha256}', '{done.ApprovalIdentity}', '{done.ExecId}', 'echo', 'default', 1, 'executed', '{new string('e', 64)}', 1, 2);
                INSERT INTO approvals VALUES('{done.ApprovalIdentity}', '{done.NonceSha256}', 1);
                INSERT INTO claims VALUES('{running.NonceSha256}', '{running.RequestSha256}', NULL, '{running.ExecId}', 'echo', 'default', 0, NULL, NULL, 3, 4);
                """;
            cmd.ExecuteNonQuery();
        }
        SqliteConnection.ClearAllPools();

        OnDispose(() =>
        {
            identity.Dispose();
            TempDir.Delete(dir);
        });
        var store = OpenStore(identity);
        Own(store);

        var state = await store.LookupAsync(done.NonceSha256, default);
        Assert.Equal(NonceStatus.Done, state.Status);
        Assert.Equal(new string('e', 64), state.Receipt);
        Assert.Equal(done.ExecId, state.ExecId);
        Assert.Equal(NonceStatus.InProgress, (await store.LookupAsync(running.NonceSha256, default)).Status);
        Assert.Equal(ClaimStatus.ApprovalReused, (await store.ClaimAsync(Claim(Hex64(), approval: done.ApprovalIdentity), default)).Status);
        Assert.Equal(ClaimStatus.NonceTaken, (await store.ClaimAsync(done with { ExecId = NewExecId() }, default)).Status);
        AssertEarlierBuildSeesAndClaimsNothing(identity, done);
    }

    [Fact]
    public async Task A_build_of_the_earlier_layout_rolled_back_to_sees_every_used_nonce_and_can_claim_none()
    {
        // A rollback after an upgrade: a build of the earlier layout created an empty claims table
        // beside claim_log and took every used nonce for free (requests already run ran again).
        var (store, identity) = Open();
        var used = Claim(Hex64(), approval: Hex64());
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAndRecordAsync(used, Draft(used.ExecId, used.NonceSha256, "executed"), default)).Claim.Status);

        AssertEarlierBuildSeesAndClaimsNothing(identity, used);

        // This layout goes on as before, with the earlier build's approvals table beside it.
        Assert.Equal(NonceStatus.Done, (await store.LookupAsync(used.NonceSha256, default)).Status);
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(Claim(Hex64(), approval: Hex64()), default)).Status);
    }

    /// <summary>The statements a build of the earlier layout runs: its schema, a look-up and a claim.</summary>
    private static void AssertEarlierBuildSeesAndClaimsNothing(GatewayIdentity identity, ClaimRequest used)
    {
        using var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(identity.DataDir, "openexec.db"), Pooling = false }.ToString());
        conn.Open();
        using (var schema = conn.CreateCommand())
        {
            schema.CommandText = """
                CREATE TABLE IF NOT EXISTS claims(nonce_sha256 TEXT PRIMARY KEY, request_sha256 TEXT NOT NULL, approval_identity TEXT, exec_id TEXT NOT NULL,
                  action TEXT NOT NULL, tenant TEXT NOT NULL, done INTEGER NOT NULL, decision TEXT, receipt TEXT, created_ms INTEGER NOT NULL, lease_until_ms INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS approvals(identity TEXT PRIMARY KEY, nonce_sha256 TEXT NOT NULL, created_ms INTEGER NOT NULL);
                """;
            schema.ExecuteNonQuery();
        }
        using (var lookup = conn.CreateCommand())
        {
            lookup.CommandText = "SELECT exec_id FROM claims WHERE nonce_sha256 = $n";
            lookup.Parameters.AddWithValue("$n", used.NonceSha256);
            Assert.Equal(used.ExecId, lookup.ExecuteScalar());
        }
        using var claim = conn.CreateCommand();
        claim.CommandText = "INSERT INTO claims(nonce_sha256, request_sha256, approval_identity, exec_id, action, tenant, done, decision, receipt, created_ms, lease_until_ms) VALUES($n, $r, NULL, 'ex', 'echo', 'default', 0, NULL, NULL, 1, 2)";
        claim.Parameters.AddWithValue("$n", Hex64());
        claim.Parameters.AddWithValue("$r", Hex64());
        Assert.Throws<SqliteException>(() => claim.ExecuteNonQuery());
    }

    [Fact]
    public async Task A_batch_that_fails_writes_nothing_and_the_store_goes_on()
    {
        var (store, identity) = Open();
        var earlier = Claim(Hex64(), approval: Hex64());
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(earlier, default)).Status);

        // A row in the place of the next receipt (seq 1) makes that receipt's insert fail.
        var path = Path.Combine(identity.DataDir, "openexec.db");
        void Exec(string sql)
        {
            using var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
            conn.Open();
            using var cmd = conn.CreateCommand();
            cmd.CommandText = sql;
            cmd.ExecuteNonQuery();
        }
        Exec($"INSERT INTO receipts(gateway, seq, exec_id, hash, document) VALUES('{identity.GatewayId}', 1, 'x', 'x', '{{}}')");

        var claim = Claim(Hex64(), approval: Hex64());
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.ClaimAndRecordAsync(claim, Draft(claim.ExecId, claim.NonceSha256, "executed"), default));

        // The claim made in the failed transaction is gone from the rows and from the index.
        Assert.Equal(NonceStatus.Free, (await store.LookupAsync(claim.NonceSha256, default)).Status);
        Assert.Equal(NonceStatus.InProgress, (await store.LookupAsync(earlier.NonceSha256, default)).Status);

        Exec("DELETE FROM receipts WHERE exec_id = 'x'");
        var (won, receipt) = await store.ClaimAndRecordAsync(claim, Draft(claim.ExecId, claim.NonceSha256, "executed"), default);
        Assert.Equal(ClaimStatus.Claimed, won.Status);
        Assert.Equal(1, receipt!.Body.Seq);
        Assert.Equal(ClaimStatus.ApprovalReused, (await store.ClaimAsync(Claim(Hex64(), approval: claim.ApprovalIdentity), default)).Status);
        Assert.True(await store.PingAsync(default));
    }

    [Fact]
    public async Task A_write_waits_for_a_lock_held_by_another_connection_instead_of_failing()
    {
        var (store, identity) = Open();
        using var other = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(identity.DataDir, "openexec.db"), Pooling = false }.ToString());
        other.Open();
        using (var begin = other.CreateCommand())
        {
            begin.CommandText = "BEGIN IMMEDIATE";
            begin.ExecuteNonQuery();
        }

        var claim = Claim(Hex64(), approval: Hex64());
        var pending = store.ClaimAndRecordAsync(claim, Draft(claim.ExecId, claim.NonceSha256, "executed"), default).AsTask();
        await Task.Delay(300);
        Assert.False(pending.IsCompleted);
        using (var commit = other.CreateCommand())
        {
            commit.CommandText = "COMMIT";
            commit.ExecuteNonQuery();
        }

        var (won, receipt) = await pending;
        Assert.Equal(ClaimStatus.Claimed, won.Status);
        Assert.Equal(claim.ExecId, receipt!.Body.ExecId);
    }
}
