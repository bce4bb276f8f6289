using System.Security.Cryptography;
using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>
/// What every <see cref="IExecutionStore"/> guarantees, run against each implementation
/// (<see cref="SqliteExecutionStoreTests"/>, <see cref="RedisExecutionStoreContractTests"/>):
/// one winner per nonce, nonce and approval claimed together or not at all, outcomes recorded,
/// released claims free again, gap-free signed chains, and nothing forgotten on reopening.
/// </summary>
public abstract class ExecutionStoreContract : StoreTestBase
{
    internal abstract string ExpectedKind { get; }

    [Fact]
    public async Task An_unused_nonce_is_free()
    {
        var (store, _) = Open();
        Assert.Equal(NonceState.Free, await store.LookupAsync(Hex64(), default));
    }

    [Fact]
    public async Task A_claim_reads_as_in_progress_and_a_second_claim_loses()
    {
        var (store, _) = Open();
        var first = Claim(Hex64(), approval: Hex64());

        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(first, default)).Status);

        var state = await store.LookupAsync(first.NonceSha256, default);
        Assert.Equal(NonceStatus.InProgress, state.Status);
        Assert.Equal(first.RequestSha256, state.RequestSha256);
        Assert.Equal(first.ExecId, state.ExecId);
        Assert.Null(state.TakenOver);

        var second = await store.ClaimAsync(first with { ExecId = NewExecId() }, default);
        Assert.Equal(ClaimStatus.NonceTaken, second.Status);
        Assert.Equal(NonceStatus.InProgress, second.Existing.Status);
        Assert.Equal(first.ExecId, second.Existing.ExecId);
        Assert.Equal(first.RequestSha256, second.Existing.RequestSha256);
    }

    [Fact]
    public async Task A_lookup_only_claim_reports_a_used_nonce_and_writes_nothing()
    {
        var (store, _) = Open();
        var refused = Claim(Hex64(), approval: Hex64()) with { LookupOnly = true };

        Assert.Equal(ClaimStatus.NotClaimed, (await store.ClaimAsync(refused, default)).Status);
        Assert.Equal(NonceState.Free, await store.LookupAsync(refused.NonceSha256, default));
        // Neither the nonce nor the approval was consumed.
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(refused with { LookupOnly = false }, default)).Status);

        var again = await store.ClaimAsync(refused with { ExecId = NewExecId() }, default);
        Assert.Equal(ClaimStatus.NonceTaken, again.Status);
        Assert.Equal(NonceStatus.InProgress, again.Existing.Status);
    }

    [Fact]
    public async Task Exactly_one_of_many_concurrent_claims_wins()
    {
        var (store, _) = Open();
        var nonce = Hex64();
        var request = Hex64();

        var results = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ =>
            Task.Run(async () => await store.ClaimAsync(Claim(nonce, request: request), default))));

        Assert.Single(results, r => r.Status == ClaimStatus.Claimed);
        Assert.All(results.Where(r => r.Status != ClaimStatus.Claimed), r =>
        {
            Assert.Equal(ClaimStatus.NonceTaken, r.Status);
            Assert.Equal(request, r.Existing.RequestSha256);
        });
    }

    [Fact]
    public async Task The_outcome_is_recorded_with_its_receipt()
    {
        var (store, _) = Open();
        var claim = Claim(Hex64(), approval: Hex64());
        await store.ClaimAsync(claim, default);

        var doc = await store.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "executed"), new ClaimUpdate(claim.NonceSha256, claim.ApprovalIdentity, Release: false), default);

        var state = await store.LookupAsync(claim.NonceSha256, default);
        Assert.Equal(NonceStatus.Done, state.Status);
        Assert.Equal("executed", state.Decision);
        Assert.Equal(doc.Hash, state.Receipt);
        Assert.Equal(claim.ExecId, state.ExecId);

        var replay = await store.ClaimAsync(claim with { ExecId = NewExecId() }, default);
        Assert.Equal(ClaimStatus.NonceTaken, replay.Status);
        Assert.Equal(NonceStatus.Done, replay.Existing.Status);
        Assert.Equal(doc.Hash, replay.Existing.Receipt);
    }

    [Fact]
    public async Task An_approval_runs_once_and_a_refused_claim_consumes_nothing()
    {
        var (store, _) = Open();
        var approval = Hex64();
        await store.ClaimAsync(Claim(Hex64(), approval: approval), default);

        var other = Claim(Hex64(), approval: approval);
        var reused = await store.ClaimAsync(other, default);

        Assert.Equal(ClaimStatus.ApprovalReused, reused.Status);
        Assert.Equal(NonceState.Free, await store.LookupAsync(other.NonceSha256, default));
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(other with { Approval = OpenExec.Core.Crypto.Sha256Digest.ParseHex(Hex64()) }, default)).Status);
    }

    [Fact]
    public async Task A_released_claim_frees_nonce_and_approval()
    {
        var (store, _) = Open();
        var claim = Claim(Hex64(), approval: Hex64());
        await store.ClaimAsync(claim, default);

        await store.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "upstream_failed"), new ClaimUpdate(claim.NonceSha256, claim.ApprovalIdentity, Release: true), default);

        Assert.Equal(NonceState.Free, await store.LookupAsync(claim.NonceSha256, default));
        var retry = claim with { ExecId = NewExecId() };
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(retry, default)).Status);
        Assert.Equal(retry.ExecId, (await store.LookupAsync(claim.NonceSha256, default)).ExecId);
    }

    [Fact]
    public async Task A_draft_becomes_its_receipt_in_place_and_a_receipt_handed_out_never_changes()
    {
        var (store, identity) = Open();
        var draft = Draft(NewExecId(), Hex64(), "rejected");
        var first = await store.AppendReceiptAsync(draft, null, default);

        // One object per receipt: the draft is chained, not copied for its three chain fields.
        Assert.Same(draft, first.Body);
        var claim = Claim(Hex64());
        var executed = Draft(claim.ExecId, claim.NonceSha256, "executed");
        var (_, recorded) = await store.ClaimAndRecordAsync(claim, executed, default);
        Assert.Same(executed, recorded!.Body);

        // The same body given again (as a retried write gives it) is a new receipt; the one
        // already handed out keeps its place and hash.
        var (seq, prev, hash) = (first.Body.Seq, first.Body.Prev, first.Hash);
        var again = await store.AppendReceiptAsync(draft, null, default);
        Assert.Equal((seq, prev, hash), (first.Body.Seq, first.Body.Prev, first.Hash));
        Assert.Equal(hash, ReceiptHash.Compute(first.Body));
        Assert.Equal(seq + 2, again.Body.Seq);
        Assert.Equal(recorded.Hash, again.Body.Prev);
        Assert.Equal(identity.GatewayId, again.Body.Gateway);
        Assert.Equal(hash, (await store.ListReceiptsAsync(identity.GatewayId, seq - 1, 1, default)).Single().Hash);
    }

    [Fact]
    public async Task Receipts_form_a_signed_gap_free_chain_that_can_be_read_back()
    {
        var (store, identity) = Open();
        var docs = new List<ReceiptDocument>();
        foreach (var i in Enumerable.Range(0, 5))
        {
            docs.Add(await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default));
        }

        for (var i = 0; i < docs.Count; i++)
        {
            Assert.Equal(identity.GatewayId, docs[i].Body.Gateway);
            Assert.Equal(i + 1, docs[i].Body.Seq);
            Assert.Equal(i == 0 ? ReceiptBody.GenesisPrev : docs[i - 1].Hash, docs[i].Body.Prev);
            Assert.Equal(identity.SigningKey.Kid, docs[i].Kid);
        }

        var fetched = await store.GetReceiptAsync(docs[2].Body.ExecId, default);
        Assert.NotNull(fetched);
        Assert.Equal(docs[2].Hash, fetched.Hash);
        Assert.Equal(docs[2].ToJson(), fetched.ToJson());
        Assert.Null(await store.GetReceiptAsync(NewExecId(), default));

        var page = await store.ListReceiptsAsync(identity.GatewayId, 2, 2, default);
        Assert.Equal([3L, 4L], page.Select(d => d.Body.Seq));
        Assert.Equal(5, (await store.ListReceiptsAsync(identity.GatewayId, 0, 100, default)).Count);

        var head = await store.GetHeadAsync(identity.GatewayId, default);
        Assert.Equal(new ChainHead(identity.GatewayId, 5, docs[4].Hash), head);
        Assert.Contains(new ChainHead(identity.GatewayId, 5, docs[4].Hash), await store.ListGatewaysAsync(default));
        Assert.Null(await store.GetHeadAsync("gw-nobody", default));

        var keys = await store.ListKeysAsync(default);
        var key = Assert.Single(keys, k => k.Kid == identity.SigningKey.Kid);
        Assert.Equal(Base64Url.Encode(identity.SigningKey.PublicKeyRaw), key.X);
        Assert.Equal([identity.GatewayId], key.Gateways!);
    }

    [Fact]
    public async Task Reopening_forgets_no_claim_and_continues_the_chain()
    {
        var (store, identity) = Open();
        var claim = Claim(Hex64(), approval: Hex64());
        await store.ClaimAsync(claim, default);
        var done = await store.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "executed"), new ClaimUpdate(claim.NonceSha256, claim.ApprovalIdentity, Release: false), default);
        // A released claim (nothing was sent) and a recorded in-process one, before the restart.
        var released = Claim(Hex64(), approval: Hex64());
        await store.ClaimAsync(released, default);
        await store.AppendReceiptAsync(Draft(released.ExecId, released.NonceSha256, "upstream_failed"), new ClaimUpdate(released.NonceSha256, released.ApprovalIdentity, Release: true), default);
        var inProcess = Claim(Hex64(), approval: Hex64());
        var (_, recorded) = await store.ClaimAndRecordAsync(inProcess, Draft(inProcess.ExecId, inProcess.NonceSha256, "executed"), default);
        ((IDisposable)store).Dispose();

        var reopened = OpenStore(identity);
        Own(reopened);

        Assert.Equal(NonceState.Free, await reopened.LookupAsync(released.NonceSha256, default));
        var inProcessState = await reopened.LookupAsync(inProcess.NonceSha256, default);
        Assert.Equal(NonceStatus.Done, inProcessState.Status);
        Assert.Equal(recorded!.Hash, inProcessState.Receipt);
        Assert.Equal(ClaimStatus.ApprovalReused, (await reopened.ClaimAsync(Claim(Hex64(), approval: inProcess.ApprovalIdentity), default)).Status);
        Assert.Equal(ClaimStatus.Claimed, (await reopened.ClaimAsync(Claim(Hex64(), approval: released.ApprovalIdentity), default)).Status);

        var replay = await reopened.ClaimAsync(claim with { ExecId = NewExecId() }, default);
        Assert.Equal(ClaimStatus.NonceTaken, replay.Status);
        Assert.Equal(done.Hash, replay.Existing.Receipt);
        Assert.Equal(ClaimStatus.ApprovalReused, (await reopened.ClaimAsync(Claim(Hex64(), approval: claim.ApprovalIdentity), default)).Status);
        var next = await reopened.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);
        Assert.Equal(recorded.Body.Seq + 1, next.Body.Seq);
        Assert.Equal(recorded.Hash, next.Body.Prev);
    }

    [Fact]
    public async Task Claim_and_record_stores_the_claim_finished_with_its_receipt_and_a_loser_writes_nothing()
    {
        var (store, identity) = Open();
        var claim = Claim(Hex64(), approval: Hex64());
        var executed = Draft(claim.ExecId, claim.NonceSha256, "executed") with { RequestSha256 = claim.RequestSha256, ApprovalSha256 = claim.ApprovalIdentity };

        var (won, receipt) = await store.ClaimAndRecordAsync(claim, executed, default);

        Assert.Equal(ClaimStatus.Claimed, won.Status);
        Assert.NotNull(receipt);
        Assert.Equal(claim.ExecId, receipt.Body.ExecId);
        Assert.Equal(1, receipt.Body.Seq);
        Assert.True(ReceiptVerifier.Verify(receipt, kid => kid == identity.SigningKey.Kid ? identity.SigningKey.PublicKey : null).Valid);
        var state = await store.LookupAsync(claim.NonceSha256, default);
        Assert.Equal(NonceStatus.Done, state.Status);
        Assert.Equal("executed", state.Decision);
        Assert.Equal(receipt.Hash, state.Receipt);

        // The same nonce again, and another nonce with the same approval: refused, nothing chained.
        var (replay, none) = await store.ClaimAndRecordAsync(claim with { ExecId = NewExecId() }, executed with { ExecId = NewExecId() }, default);
        Assert.Equal(ClaimStatus.NonceTaken, replay.Status);
        Assert.Equal(receipt.Hash, replay.Existing.Receipt);
        Assert.Null(none);
        var reused = Claim(Hex64(), approval: claim.ApprovalIdentity);
        var (approvalReused, none2) = await store.ClaimAndRecordAsync(reused, Draft(reused.ExecId, reused.NonceSha256, "executed"), default);
        Assert.Equal(ClaimStatus.ApprovalReused, approvalReused.Status);
        Assert.Null(none2);
        Assert.Equal(NonceState.Free, await store.LookupAsync(reused.NonceSha256, default));
        var next = await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);
        Assert.Equal(2, next.Body.Seq);
        Assert.Equal(receipt.Hash, next.Body.Prev);
    }

    [Fact]
    public async Task Of_many_concurrent_claim_and_records_of_one_nonce_exactly_one_is_chained()
    {
        var (store, identity) = Open();
        var nonce = Hex64();
        var request = Hex64();

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => Task.Run(async () =>
        {
            var claim = Claim(nonce, request: request);
            return await store.ClaimAndRecordAsync(claim, Draft(claim.ExecId, nonce, "executed"), default);
        })));

        var winner = Assert.Single(results, r => r.Claim.Status == ClaimStatus.Claimed);
        Assert.All(results.Where(r => r.Claim.Status != ClaimStatus.Claimed), r =>
        {
            Assert.Equal(ClaimStatus.NonceTaken, r.Claim.Status);
            Assert.Null(r.Receipt);
        });
        var chain = await store.ListReceiptsAsync(identity.GatewayId, 0, 100, default);
        Assert.Equal(winner.Receipt!.Hash, Assert.Single(chain).Hash);
    }

    [Fact]
    public async Task Many_concurrent_writes_each_get_their_own_result_again_and_again()
    {
        // Writes reuse their pending-result objects: every caller must still get its own answer,
        // of whichever kind, over several waves that reuse them.
        var (store, _) = Open();
        for (var wave = 0; wave < 3; wave++)
        {
            var results = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => Task.Run(async () =>
            {
                var claim = Claim(Hex64(), approval: Hex64());
                switch (i % 4)
                {
                    case 0:
                        var (won, recorded) = await store.ClaimAndRecordAsync(claim, Draft(claim.ExecId, claim.NonceSha256, "executed"), default);
                        return won.Status == ClaimStatus.Claimed && recorded!.Body.ExecId == claim.ExecId && recorded.Body.NonceSha256 == claim.NonceSha256;
                    case 1:
                        var claimed = await store.ClaimAsync(claim, default);
                        var outcome = await store.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "executed"), new ClaimUpdate(claim.NonceSha256, claim.ApprovalIdentity, Release: false), default);
                        return claimed.Status == ClaimStatus.Claimed && outcome.Body.ExecId == claim.ExecId
                            && (await store.LookupAsync(claim.NonceSha256, default)).ExecId == claim.ExecId;
                    case 2:
                        var denied = Draft(NewExecId(), claim.NonceSha256, "rejected");
                        return (await store.AppendReceiptAsync(denied, null, default)).Body.ExecId == denied.ExecId;
                    default:
                        var replay = await store.ClaimAsync(claim, default);
                        var again = await store.ClaimAsync(claim with { ExecId = NewExecId() }, default);
                        return replay.Status == ClaimStatus.Claimed && again.Status == ClaimStatus.NonceTaken && again.Existing.ExecId == claim.ExecId;
                }
            })));
            Assert.All(results, Assert.True);
        }
    }

    [Fact]
    public async Task It_names_its_kind_and_answers_ping()
    {
        var (store, _) = Open();
        Assert.Equal(ExpectedKind, store.Kind);
        Assert.True(await store.PingAsync(default));
    }

}

/// <summary>Stores opened for one test, each with its own identity and data dir, and closed after it.</summary>
public abstract class StoreTestBase : IDisposable
{
    private readonly List<IDisposable> _owned = [];

    /// <summary>Opens the store under test for this gateway identity (a second call reopens it).</summary>
    internal abstract IExecutionStore OpenStore(GatewayIdentity identity);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            _owned[i].Dispose();
        }
        _owned.Clear();
    }

    internal (IExecutionStore Store, GatewayIdentity Identity) Open()
    {
        var identity = NewIdentity();
        var store = OpenStore(identity);
        Own(store);
        return (store, identity);
    }

    /// <summary>A gateway identity in a data dir of its own, both gone when the test ends.</summary>
    internal GatewayIdentity NewIdentity()
    {
        var dir = TempDir.Create();
        var identity = GatewayIdentity.Open(dir, null);
        _owned.Add(new Cleanup(() => TempDir.Delete(dir)));
        _owned.Add(identity);
        return identity;
    }

    internal void Own(IExecutionStore store) => _owned.Add((IDisposable)store);

    /// <summary>Runs <paramref name="action"/> when the test ends, after whatever is owned later.</summary>
    internal void OnDispose(Action action) => _owned.Add(new Cleanup(action));

    internal static ClaimRequest Claim(string nonce, string? approval = null, string? request = null, TimeSpan? lease = null)
    {
        var now = DateTimeOffset.UtcNow;
        return new ClaimRequest(nonce, request ?? Hex64(), approval, NewExecId(), "echo", "default", now, lease ?? TimeSpan.FromMinutes(1));
    }

    internal static ReceiptBody Draft(string execId, string nonceSha, string decision) => new()
    {
        ExecId = execId,
        Gateway = "",
        Seq = 0,
        Prev = "",
        Tenant = "default",
        Action = "echo",
        Mode = "demo",
        NonceSha256 = nonceSha,
        RequestSha256 = Hex64(),
        Decision = decision,
        StartedAt = ReceiptTime.Format(DateTimeOffset.UtcNow),
        FinishedAt = ReceiptTime.Format(DateTimeOffset.UtcNow),
    };

    internal static string Hex64() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    internal static string NewExecId() => Guid.NewGuid().ToString("N");

    private sealed class Cleanup(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}

/// <summary>The contract against the embedded store.</summary>
public sealed class SqliteExecutionStoreTests : ExecutionStoreContract
{
    internal override string ExpectedKind => "sqlite";

    [Fact]
    public async Task Callers_resume_on_the_thread_pool_never_on_the_writer_thread()
    {
        // Each finished write is handed to the pool as its own work item: a caller's code never
        // runs on the writer thread (which would hold up every other write).
        var (store, _) = Open();
        // Off the test framework's context: each await resumes where its write completed it.
        var threads = await Task.Run(async () =>
        {
            var seen = new List<bool>();
            for (var i = 0; i < 20; i++)
            {
                await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);
                seen.Add(Thread.CurrentThread.IsThreadPoolThread);
                var claim = Claim(Hex64(), approval: Hex64());
                Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(claim, default)).Status);
                seen.Add(Thread.CurrentThread.IsThreadPoolThread);
            }
            return seen;
        });
        Assert.All(threads, Assert.True);
    }

    [Fact]
    public async Task A_claim_recovered_after_a_crash_keeps_its_requests_trace_and_approval_id()
    {
        // The approval_id of the verified artifact: the receipt of a call cut off by a crash
        // named only the approval's hash (SPEC section 6: approval_id once the signature verified).
        var identity = NewIdentity();
        var trace = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var approvalId = Guid.NewGuid().ToString();
        var running = Claim(Hex64(), approval: Hex64()) with { TraceId = trace, ApprovalId = approvalId };
        using (var store = Open(identity))
        {
            Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(running, default)).Status);
        } // the process died while the action ran

        using var reopened = Open(identity);
        RecoveredClaim? recovered = null;
        await reopened.RecoverAsync(o => { recovered = o; return Draft(o.ExecId, o.NonceSha256, "outcome_unknown"); }, default);

        Assert.Equal((running.ExecId, trace, running.ApprovalIdentity, approvalId), (recovered?.ExecId, recovered?.TraceId, recovered?.ApprovalIdentity, recovered?.ApprovalId));
    }

    [Fact]
    public async Task Chain_heads_are_found_through_the_index_not_by_reading_every_receipt()
    {
        var identity = NewIdentity();
        var written = new List<ReceiptDocument>();
        using (var store = Open(identity))
        {
            for (var i = 0; i < 3; i++)
            {
                written.Add(await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default));
            }
        }
        // Two more chains in the same ledger (as a data dir that changed its gateway id holds),
        // one of them long.
        var path = Path.Combine(identity.DataDir, "openexec.db");
        using (var conn = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
        {
            conn.Open();
            using var tx = conn.BeginTransaction();
            using var insert = conn.CreateCommand();
            insert.CommandText = "INSERT INTO receipts(gateway, seq, exec_id, hash, document) VALUES($g, $s, $e, $h, '{}')";
            foreach (var (gateway, count) in new[] { ("gw_long", 5000), ("gw_short", 2) })
            {
                for (var seq = 1; seq <= count; seq++)
                {
                    insert.Parameters.Clear();
                    insert.Parameters.AddWithValue("$g", gateway);
                    insert.Parameters.AddWithValue("$s", seq);
                    insert.Parameters.AddWithValue("$e", NewExecId());
                    insert.Parameters.AddWithValue("$h", gateway + seq);
                    insert.ExecuteNonQuery();
                }
            }
            tx.Commit();

            // How many rows the heads query steps through in a full scan: none grows with the chains.
            SQLitePCL.raw.sqlite3_prepare_v2(conn.Handle, SqliteReceiptLedger.HeadsSql, out var statement);
            using (statement)
            {
                while (SQLitePCL.raw.sqlite3_step(statement) == SQLitePCL.raw.SQLITE_ROW)
                {
                }
                Assert.True(SQLitePCL.raw.sqlite3_stmt_status(statement, SQLitePCL.raw.SQLITE_STMTSTATUS_FULLSCAN_STEP, 0) < 20, "the heads query scans the receipts");
            }
        }

        using var reopened = Open(identity);
        var heads = await reopened.ListGatewaysAsync(default);
        Assert.Equal(
            new[] { new ChainHead(identity.GatewayId, 3, written[2].Hash), new ChainHead("gw_long", 5000, "gw_long5000"), new ChainHead("gw_short", 2, "gw_short2") }.OrderBy(h => h.Gateway, StringComparer.Ordinal),
            heads);
    }

    internal override IExecutionStore OpenStore(GatewayIdentity identity) => Open(identity);

    /// <summary>An embedded store with the default settings.</summary>
    internal static SqliteExecutionStore Open(GatewayIdentity identity)
        => new(identity, OpenExec.Gateway.Configuration.GatewaySettings.Create(new OpenExec.Gateway.Configuration.OpenExecOptions(), ["http://127.0.0.1:0"], out _), TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<SqliteExecutionStore>.Instance);
}
