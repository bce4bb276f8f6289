using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Http;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Infrastructure;
using StackExchange.Redis;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>One redis-server for a test class.</summary>
public sealed class RedisServerFixture : IDisposable
{
    public RedisServer Server { get; } = RedisServer.Start();

    public void Dispose() => Server.Dispose();
}

/// <summary>The store contract against the Redis store and a real redis-server.</summary>
public sealed class RedisExecutionStoreContractTests(RedisServerFixture redis) : ExecutionStoreContract, IClassFixture<RedisServerFixture>
{
    internal override string ExpectedKind => "redis";

    internal override IExecutionStore OpenStore(GatewayIdentity identity) => RedisStores.Open(redis.Server, identity);
}

internal static class RedisStores
{
    /// <param name="link">When given, the store reaches the server through it (a link the test can cut), not directly.</param>
    public static RedisExecutionStore Open(RedisServer server, GatewayIdentity identity, HealthWarnings? warnings = null, TimeSpan? retention = null, int recentCapacity = RedisReceiptReplicator.DefaultRecentCapacity, TimeProvider? time = null, string options = "", RedisLink? link = null)
        => new(identity, ConnectionMultiplexer.Connect(RedisExecutionStore.ParseConfiguration((link?.Configuration ?? server.Configuration) + options)), retention ?? RedisExecutionStore.DefaultRetention, time ?? TimeProvider.System, warnings, NullLoggerFactory.Instance, recentCapacity);

    /// <summary>Waits until <paramref name="condition"/> holds (Redis reconnects, copies land), failing after <paramref name="seconds"/>.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (StoreUnavailableException) when (DateTime.UtcNow < deadline)
            {
            }
            if (DateTime.UtcNow >= deadline)
            {
                Assert.Fail($"Timed out after {seconds} s waiting for: {what}");
            }
            await Task.Delay(100);
        }
    }
}

/// <summary>What only the Redis store does: leases that expire into outcome_unknown, copies of each chain, failing closed.</summary>
public sealed class RedisExecutionStoreTests : StoreTestBase
{
    private readonly RedisServer _redis = RedisServer.Start();

    internal override IExecutionStore OpenStore(GatewayIdentity identity) => RedisStores.Open(_redis, identity);

    [Fact]
    public async Task A_claim_taken_over_keeps_its_requests_trace_and_approval_id()
    {
        var (store, _) = Open();
        var (other, _) = Open();
        var trace = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        var approvalId = Guid.NewGuid().ToString();
        var stranded = Claim(Hex64(), approval: Hex64(), lease: TimeSpan.FromSeconds(-1)) with { TraceId = trace, ApprovalId = approvalId };
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(stranded, default)).Status);

        var found = await other.LookupAsync(stranded.NonceSha256, default);

        Assert.Equal((stranded.ExecId, trace, approvalId), (found.TakenOver?.ExecId, found.TakenOver?.TraceId, found.TakenOver?.ApprovalId));

        // A demo-mode claim (no approval) has none.
        var demo = Claim(Hex64(), lease: TimeSpan.FromSeconds(-1));
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(demo, default)).Status);
        Assert.Null((await other.LookupAsync(demo.NonceSha256, default)).TakenOver?.ApprovalId);
    }

    [Fact]
    public async Task A_claim_answered_too_late_to_start_its_call_within_its_lease_is_given_up_on()
    {
        // A holder paused (or its Redis reply held up) past its lease still sent its call once it
        // got the answer, after another instance had taken the claim over as outcome_unknown and
        // an agent had acted on that: the action ran twice.
        var (store, _) = Open();
        var late = Claim(Hex64(), approval: Hex64()) with { SendWithin = TimeSpan.FromMilliseconds(300) };
        Task<ClaimResult> pending;
        _redis.Pause();
        try
        {
            pending = store.ClaimAsync(late, default).AsTask();
            await Task.Delay(TimeSpan.FromMilliseconds(900));
        }
        finally
        {
            _redis.Resume();
        }

        await Assert.ThrowsAsync<StoreUnavailableException>(() => pending);
        // Given up on: nothing held, so the agent's retry of the 503 may run it.
        await RedisStores.EventuallyAsync(async () => (await store.LookupAsync(late.NonceSha256, default)).Status == NonceStatus.Free, "late claim freed");
        var retry = Claim(late.NonceSha256, approval: late.ApprovalIdentity);
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(retry, default)).Status);
    }

    [Fact]
    public async Task An_expired_lease_reads_as_outcome_unknown_and_is_taken_over_exactly_once()
    {
        var (store, _) = Open();
        var (other, _) = Open();
        var claim = Claim(Hex64(), approval: Hex64(), lease: TimeSpan.FromSeconds(-1));
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(claim, default)).Status);

        var states = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(async () =>
            i % 2 == 0 ? await store.LookupAsync(claim.NonceSha256, default) : (await other.ClaimAsync(claim with { ExecId = NewExecId() }, default)).Existing)));

        Assert.All(states, s =>
        {
            Assert.Equal(NonceStatus.Done, s.Status);
            Assert.Equal("outcome_unknown", s.Decision);
            Assert.Equal(claim.ExecId, s.ExecId);
        });
        var taker = Assert.Single(states, s => s.TakenOver is not null).TakenOver!;
        Assert.Equal(claim.ExecId, taker.ExecId);
        Assert.Equal(claim.RequestSha256, taker.RequestSha256);
        Assert.Equal(claim.ApprovalIdentity, taker.ApprovalIdentity);
        Assert.Equal("echo", taker.Action);
        Assert.Equal("default", taker.Tenant);

        var doc = await store.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "outcome_unknown"), new ClaimUpdate(claim.NonceSha256, claim.ApprovalIdentity, Release: false), default);
        var after = await other.LookupAsync(claim.NonceSha256, default);
        Assert.Equal(doc.Hash, after.Receipt);
        Assert.Null(after.TakenOver);
        Assert.Equal(ClaimStatus.ApprovalReused, (await other.ClaimAsync(Claim(Hex64(), approval: claim.ApprovalIdentity), default)).Status);
    }

    [Fact]
    public async Task A_taker_that_died_before_its_receipt_is_succeeded_by_one_other_after_the_takeover_lease()
    {
        var (holder, _) = Open();
        var claim = Claim(Hex64(), approval: Hex64(), lease: TimeSpan.FromSeconds(-1));
        Assert.Equal(ClaimStatus.Claimed, (await holder.ClaimAsync(claim, default)).Status);
        // The first instance to find the expired claim takes it over, then dies before its
        // outcome_unknown receipt is written.
        var (taker, _) = Open();
        Assert.NotNull((await taker.LookupAsync(claim.NonceSha256, default)).TakenOver);
        ((IDisposable)taker).Dispose();

        // Within the taker's lease nobody else takes it: it may still be writing.
        var (other, _) = Open();
        var within = await other.LookupAsync(claim.NonceSha256, default);
        Assert.Equal((NonceStatus.Done, "outcome_unknown", (string?)null, (RecoveredClaim?)null), (within.Status, within.Decision, within.Receipt, within.TakenOver));

        // The taker's lease is the takeover lease on Redis's clock; the test ends it rather than wait.
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var db = admin.GetDatabase();
        var redisNow = (long)(await db.ExecuteAsync("TIME"))[0] * 1000;
        Assert.InRange((long)await db.HashGetAsync(RedisScripts.Nonce(claim.NonceSha256), "lease") - redisNow, RedisScripts.TakeoverLease.TotalMilliseconds - 5000, RedisScripts.TakeoverLease.TotalMilliseconds + 1000);
        await db.HashSetAsync(RedisScripts.Nonce(claim.NonceSha256), "lease", redisNow - 1);

        // After it, exactly one instance takes it over again and its receipt becomes the outcome.
        var (late1, _) = Open();
        var (late2, _) = Open();
        var states = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(async () =>
            await (i % 2 == 0 ? late1 : late2).LookupAsync(claim.NonceSha256, default))));
        var successor = Assert.Single(states, s => s.TakenOver is not null).TakenOver!;
        Assert.Equal((claim.ExecId, claim.RequestSha256, claim.ApprovalIdentity), (successor.ExecId, successor.RequestSha256, successor.ApprovalIdentity));
        Assert.All(states, s => Assert.Equal((NonceStatus.Done, "outcome_unknown"), (s.Status, s.Decision)));

        var doc = await late1.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "outcome_unknown"), new ClaimUpdate(claim.NonceSha256, claim.ApprovalIdentity, Release: false), default);
        var after = await late2.LookupAsync(claim.NonceSha256, default);
        Assert.Equal(doc.Hash, after.Receipt);
        Assert.Null(after.TakenOver);
    }

    [Fact]
    public async Task Receipt_copies_leave_redis_after_the_retention_and_the_own_ledger_still_serves_them()
    {
        var identity = NewIdentity();
        var retention = TimeSpan.FromSeconds(5);
        var store = RedisStores.Open(_redis, identity, retention: retention);
        Own(store);
        var (reader, _) = Open();
        using var client = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var db = client.GetDatabase();
        var chain = RedisScripts.Chain(identity.GatewayId);

        var old = new List<OpenExec.Core.Receipts.ReceiptDocument>();
        for (var i = 0; i < 3; i++)
        {
            old.Add(await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default));
        }
        await RedisStores.EventuallyAsync(async () => await db.SortedSetLengthAsync(chain) == 3, "three copies");
        var ttl = await db.KeyTimeToLiveAsync(RedisScripts.Receipt(old[0].Body.ExecId));
        Assert.InRange(ttl!.Value, TimeSpan.FromMilliseconds(1), retention);

        await Task.Delay(retention + TimeSpan.FromMilliseconds(500));
        var fresh = await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);

        // The chain copy keeps what is within the retention; the old receipts' keys have expired.
        await RedisStores.EventuallyAsync(async () => await db.SortedSetLengthAsync(chain) == 1, "old copies trimmed");
        Assert.Equal(fresh.ToJson(), (await reader.ListReceiptsAsync(identity.GatewayId, 0, 10, default)).Single().ToJson());
        Assert.False(await db.KeyExistsAsync(RedisScripts.Receipt(old[0].Body.ExecId)));
        Assert.Null(await reader.GetReceiptAsync(old[0].Body.ExecId, default));
        // The instance that wrote them still has its whole chain.
        Assert.Equal(old[0].Hash, (await store.GetReceiptAsync(old[0].Body.ExecId, default))!.Hash);
        Assert.Equal(4, (await store.ListReceiptsAsync(identity.GatewayId, 0, 10, default)).Count);
    }

    [Fact]
    public async Task A_gateway_whose_clock_jumps_past_the_retention_trims_no_copy_the_other_instances_answer_for()
    {
        // Copies were scored and trimmed by the copying gateway's clock: one copy made while it
        // ran 31 days ahead (past the 30-day retention) took every earlier copy of its chain out of
        // Redis for good, and the other instances answered 410 / 404 for receipts minutes old.
        var identity = NewIdentity();
        var clock = new SteppedClock();
        var store = RedisStores.Open(_redis, identity, time: clock);
        Own(store);
        var (reader, _) = Open();
        using var client = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var db = client.GetDatabase();
        var chain = RedisScripts.Chain(identity.GatewayId);
        var earlier = new List<ReceiptDocument>();
        for (var i = 0; i < 10; i++)
        {
            earlier.Add(await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default));
        }
        await RedisStores.EventuallyAsync(async () => await db.SortedSetLengthAsync(chain) == 10, "ten copies");

        clock.Offset = TimeSpan.FromDays(31);
        var late = await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);
        await RedisStores.EventuallyAsync(async () => (await reader.GetHeadAsync(identity.GatewayId, default))?.Seq == late.Body.Seq, "the late copy");
        clock.Offset = TimeSpan.Zero;

        Assert.Equal(11, await db.SortedSetLengthAsync(chain));
        Assert.Equal(earlier.Append(late).Select(d => d.Hash), (await reader.ListReceiptsAsync(identity.GatewayId, 0, 100, default)).Select(d => d.Hash));
        foreach (var doc in earlier)
        {
            Assert.Equal(doc.Hash, (await reader.GetReceiptAsync(doc.Body.ExecId, default))?.Hash);
        }
    }

    [Fact]
    public async Task A_claim_redis_lost_is_restored_even_by_a_gateway_whose_clock_jumped_past_the_retention()
    {
        // How long a lost claim is restored for was counted from its receipt's started_at to the
        // copying gateway's clock: 31 days ahead, nothing was left of the retention and the claim
        // was not restored, so its nonce and approval read as free.
        using var forgetful = RedisServer.Start("--appendonly", "no");
        var clock = new SteppedClock();
        using var store = RedisStores.Open(forgetful, NewIdentity(), time: clock);
        var ran = Claim(Hex64(), approval: Hex64());
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(ran, default)).Status);
        var executed = await store.AppendReceiptAsync(Draft(ran.ExecId, ran.NonceSha256, "executed") with { RequestSha256 = ran.RequestSha256, ApprovalSha256 = ran.ApprovalIdentity },
            new ClaimUpdate(ran.NonceSha256, ran.ApprovalIdentity, Release: false), default);

        clock.Offset = TimeSpan.FromDays(31);
        forgetful.Restart();

        await RedisStores.EventuallyAsync(async () => (await store.LookupAsync(ran.NonceSha256, default)).Receipt == executed.Hash, "the executed claim restored");
        Assert.Equal(ClaimStatus.ApprovalReused, (await store.ClaimAsync(Claim(Hex64(), approval: ran.ApprovalIdentity), default)).Status);
        // For what is left of the retention on Redis's clock: about all of it.
        using var client = await ConnectionMultiplexer.ConnectAsync(forgetful.Configuration);
        Assert.InRange((await client.GetDatabase().KeyTimeToLiveAsync(RedisScripts.Nonce(ran.NonceSha256)))!.Value, RedisExecutionStore.DefaultRetention - TimeSpan.FromMinutes(5), RedisExecutionStore.DefaultRetention);
    }

    [Theory]
    [InlineData(-3)]
    [InlineData(-15)]
    public async Task A_claim_redis_lost_is_restored_for_its_whole_retention_by_a_gateway_whose_clock_is_behind(int minutes)
    {
        // Its receipt's started_at (the gateway's clock) was compared with Redis's clock alone: a
        // gateway 15 minutes behind, with a 10-minute retention, restored nothing, and the same
        // nonce and approval ran again.
        using var forgetful = RedisServer.Start("--appendonly", "no");
        var clock = new SteppedClock { Offset = TimeSpan.FromMinutes(minutes) };
        var retention = TimeSpan.FromMinutes(10);
        using var store = RedisStores.Open(forgetful, NewIdentity(), retention: retention, time: clock);
        var ran = Claim(Hex64(), approval: Hex64()) with { Now = clock.GetUtcNow() };
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(ran, default)).Status);
        var at = ReceiptTime.Format(clock.GetUtcNow());
        var executed = await store.AppendReceiptAsync(Draft(ran.ExecId, ran.NonceSha256, "executed") with { RequestSha256 = ran.RequestSha256, ApprovalSha256 = ran.ApprovalIdentity, StartedAt = at, FinishedAt = at },
            new ClaimUpdate(ran.NonceSha256, ran.ApprovalIdentity, Release: false), default);

        forgetful.Restart();

        await RedisStores.EventuallyAsync(async () => (await store.LookupAsync(ran.NonceSha256, default)).Receipt == executed.Hash, "the executed claim restored");
        Assert.Equal(ClaimStatus.NonceTaken, (await store.ClaimAsync(ran with { ExecId = NewExecId(), Now = clock.GetUtcNow() }, default)).Status);
        using var client = await ConnectionMultiplexer.ConnectAsync(forgetful.Configuration);
        Assert.InRange((await client.GetDatabase().KeyTimeToLiveAsync(RedisScripts.Nonce(ran.NonceSha256)))!.Value, retention - TimeSpan.FromMinutes(1), retention);
    }

    [Fact]
    public async Task A_copied_document_is_kept_once_and_found_by_its_exec_id_also_in_the_earlier_layout()
    {
        var (writer, writerId) = Open();
        var (reader, _) = Open();
        using var client = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var db = client.GetDatabase();
        var doc = await writer.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);
        await RedisStores.EventuallyAsync(async () => await db.KeyExistsAsync(RedisScripts.Receipt(doc.Body.ExecId)), "copied");

        // The exec id's key says where the document stands; the chain copy holds it.
        Assert.Equal($"{writerId.GatewayId} {doc.Body.Seq}", (string?)await db.StringGetAsync(RedisScripts.Receipt(doc.Body.ExecId)));
        Assert.Equal(doc.ToJson(), (await reader.GetReceiptAsync(doc.Body.ExecId, default))!.ToJson());

        // A key written before that layout holds the document itself, and still reads.
        var earlier = await writer.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);
        await RedisStores.EventuallyAsync(async () => await db.KeyExistsAsync(RedisScripts.Receipt(earlier.Body.ExecId)), "copied");
        await db.StringSetAsync(RedisScripts.Receipt(earlier.Body.ExecId), earlier.ToJson());
        await db.SortedSetRemoveRangeByScoreAsync(RedisScripts.Chain(writerId.GatewayId), earlier.Body.Seq, earlier.Body.Seq);
        Assert.Equal(earlier.ToJson(), (await reader.GetReceiptAsync(earlier.Body.ExecId, default))!.ToJson());

        // A key whose document has left the chain reads as none.
        await db.SortedSetRemoveRangeByScoreAsync(RedisScripts.Chain(writerId.GatewayId), doc.Body.Seq, doc.Body.Seq);
        Assert.Null(await reader.GetReceiptAsync(doc.Body.ExecId, default));
    }

    [Fact]
    public async Task A_full_redis_refuses_new_claims_as_unavailable_and_still_answers_for_the_old_ones()
    {
        using var small = RedisServer.Start("--maxmemory", "2mb", "--maxmemory-policy", "noeviction");
        var identity = NewIdentity();
        using var store = RedisStores.Open(small, identity);
        var first = Claim(Hex64());
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(first, default)).Status);

        StoreUnavailableException? refused = null;
        for (var i = 0; i < 100_000 && refused is null; i++)
        {
            try
            {
                await store.ClaimAsync(Claim(Hex64(), approval: Hex64()), default);
            }
            catch (StoreUnavailableException ex)
            {
                refused = ex;
            }
        }

        // Fail closed: the claim that did not fit is refused (503 store_unavailable), not taken
        // as free; a nonce already used still reads as used.
        Assert.NotNull(refused);
        Assert.Contains("OOM", refused!.InnerException!.Message, StringComparison.Ordinal);
        Assert.Equal(ClaimStatus.NonceTaken, (await store.ClaimAsync(first with { ExecId = NewExecId() }, default)).Status);
    }

    [Fact]
    public async Task A_gateway_clock_stepped_past_a_live_claims_lease_neither_takes_it_over_nor_sweeps_it()
    {
        // Leases were times on the claiming gateway's clock, compared with the reading gateway's:
        // a clock stepped 150 s ahead while a call with a 120 s lease ran took its own live claim
        // for a dead holder's (409 replay_denied outcome_unknown, an outcome_unknown receipt).
        var identity = NewIdentity();
        var clock = new SteppedClock();
        var store = RedisStores.Open(_redis, identity, time: clock);
        Own(store);
        await store.RecoverAsync(o => Draft(o.ExecId, o.NonceSha256, "outcome_unknown") with { RequestSha256 = o.RequestSha256 }, default);
        var other = RedisStores.Open(_redis, NewIdentity(), time: clock);
        Own(other);
        var running = Claim(Hex64(), approval: Hex64(), lease: TimeSpan.FromSeconds(120));
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(running, default)).Status);

        clock.Offset = TimeSpan.FromSeconds(150);
        var looked = await store.LookupAsync(running.NonceSha256, default);
        var again = await other.ClaimAsync(running with { ExecId = NewExecId() }, default);
        await store.SweepAsync(default);
        clock.Offset = TimeSpan.Zero;

        Assert.Equal((NonceStatus.InProgress, running.ExecId, (RecoveredClaim?)null), (looked.Status, looked.ExecId, looked.TakenOver));
        Assert.Equal((ClaimStatus.NonceTaken, NonceStatus.InProgress, (RecoveredClaim?)null), (again.Status, again.Existing.Status, again.Existing.TakenOver));
        Assert.Empty(await store.ListReceiptsAsync(identity.GatewayId, 0, 10, default));
        // Its holder's outcome is its outcome, as ever.
        var doc = await store.AppendReceiptAsync(Draft(running.ExecId, running.NonceSha256, "executed"), new ClaimUpdate(running.NonceSha256, running.ApprovalIdentity, Release: false), default);
        var done = await other.LookupAsync(running.NonceSha256, default);
        Assert.Equal((NonceStatus.Done, "executed", doc.Hash), (done.Status, done.Decision, done.Receipt));
    }

    [Fact]
    public async Task A_claim_within_its_lease_stays_in_progress()
    {
        var (store, _) = Open();
        var claim = Claim(Hex64(), lease: TimeSpan.FromMinutes(5));
        await store.ClaimAsync(claim, default);

        var state = await store.LookupAsync(claim.NonceSha256, default);

        Assert.Equal(NonceStatus.InProgress, state.Status);
        Assert.Null(state.TakenOver);
    }

    [Fact]
    public async Task Every_instance_reads_every_chain_and_key()
    {
        var (a, idA) = Open();
        var (b, idB) = Open();
        var docs = new List<OpenExec.Core.Receipts.ReceiptDocument>();
        for (var i = 0; i < 3; i++)
        {
            docs.Add(await a.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default));
        }

        await RedisStores.EventuallyAsync(async () => (await b.GetReceiptAsync(docs[2].Body.ExecId, default))?.Hash == docs[2].Hash, "B reads A's receipt");
        Assert.Equal(docs.Select(d => d.ToJson()), (await b.ListReceiptsAsync(idA.GatewayId, 0, 10, default)).Select(d => d.ToJson()));
        Assert.Equal([2L, 3L], (await b.ListReceiptsAsync(idA.GatewayId, 1, 10, default)).Select(d => d.Body.Seq));
        Assert.Equal(new ChainHead(idA.GatewayId, 3, docs[2].Hash), await b.GetHeadAsync(idA.GatewayId, default));
        Assert.Contains(new ChainHead(idA.GatewayId, 3, docs[2].Hash), await b.ListGatewaysAsync(default));
        var keys = await b.ListKeysAsync(default);
        Assert.Contains(keys, k => k.Kid == idA.SigningKey.Kid && k.X == Base64Url.Encode(idA.SigningKey.PublicKeyRaw));
        Assert.Contains(keys, k => k.Kid == idB.SigningKey.Kid);
    }

    [Fact]
    public async Task A_data_dir_that_replaced_its_key_before_moving_to_redis_publishes_its_earlier_key_to_every_instance()
    {
        var dir = TempDir.Create();
        OnDispose(() => TempDir.Delete(dir));
        string oldKid;
        ReceiptDocument signedWithOldKey;
        using (var first = GatewayIdentity.Open(dir, null))
        using (var embedded = SqliteExecutionStoreTests.Open(first))
        {
            oldKid = first.SigningKey.Kid;
            signedWithOldKey = await embedded.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);
        }
        var keyPath = Path.Combine(dir, "replacement-key.pem");
        using (var replacement = ReceiptSigningKey.Generate())
        {
            await File.WriteAllTextAsync(keyPath, replacement.ExportPrivatePem());
        }
        var rotated = GatewayIdentity.Open(dir, keyPath);
        OnDispose(rotated.Dispose);
        Assert.NotEqual(oldKid, rotated.SigningKey.Kid);
        Own(RedisStores.Open(_redis, rotated));

        // Another instance serves the receipt signed with the earlier key, so it must publish that key.
        var (other, _) = Open();
        await RedisStores.EventuallyAsync(async () => (await other.GetReceiptAsync(signedWithOldKey.Body.ExecId, default))?.Hash == signedWithOldKey.Hash, "the other instance reads the copied receipt");
        var keys = await other.ListKeysAsync(default);
        Assert.Contains(keys, k => k.Kid == rotated.SigningKey.Kid);
        Assert.Contains(keys, k => k.Kid == oldKid);
    }

    [Fact]
    public async Task Claims_expire_after_the_retention_and_never_name_the_raw_nonce()
    {
        var dir = TempDir.Create();
        using var identity = GatewayIdentity.Open(dir, null);
        using var store = RedisStores.Open(_redis, identity, retention: TimeSpan.FromDays(2));
        var claim = Claim(Hex64(), approval: Hex64());
        await store.ClaimAsync(claim, default);

        using var client = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var db = client.GetDatabase();
        var nonceTtl = await db.KeyTimeToLiveAsync($"openexec:nonce:{claim.NonceSha256}");
        var approvalTtl = await db.KeyTimeToLiveAsync($"openexec:approval:{claim.ApprovalIdentity}");
        // The retention counts from the end of the claim's lease (a minute here).
        var expected = TimeSpan.FromDays(2) + TimeSpan.FromMinutes(1);
        Assert.InRange(nonceTtl!.Value, expected - TimeSpan.FromSeconds(30), expected);
        Assert.InRange(approvalTtl!.Value, expected - TimeSpan.FromSeconds(30), expected);
        TempDir.Delete(dir);
    }

    [Fact]
    public void Retention_is_never_shorter_than_an_approval_can_be_used()
    {
        Assert.Equal(TimeSpan.FromDays(30), RedisExecutionStore.RetentionFor(null, TimeSpan.FromHours(24), TimeSpan.FromSeconds(30)));
        Assert.Equal(TimeSpan.FromDays(3), RedisExecutionStore.RetentionFor(TimeSpan.FromDays(3), TimeSpan.FromHours(24), TimeSpan.FromSeconds(30)));
        Assert.Equal(TimeSpan.FromDays(40) + TimeSpan.FromSeconds(60), RedisExecutionStore.RetentionFor(null, TimeSpan.FromDays(40), TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Without_redis_it_fails_closed_and_recovers_without_reopening()
    {
        var (store, identity) = Open();
        var (reader, _) = Open();
        var used = Claim(Hex64(), approval: Hex64());
        await store.ClaimAsync(used, default);
        var pending = Claim(Hex64());
        await store.ClaimAsync(pending, default);

        _redis.Kill();

        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.LookupAsync(Hex64(), default));
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.ClaimAsync(Claim(Hex64()), default));
        Assert.False(await store.PingAsync(default));
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.ListKeysAsync(default));
        // The receipt of an attempt that ran before the outage is still written, locally.
        var executed = await store.AppendReceiptAsync(Draft(pending.ExecId, pending.NonceSha256, "executed"), new ClaimUpdate(pending.NonceSha256, null, Release: false), default);
        Assert.Equal(executed.Hash, (await store.GetReceiptAsync(pending.ExecId, default))!.Hash);

        _redis.Restart();

        await RedisStores.EventuallyAsync(() => store.PingAsync(default).AsTask(), "ping after restart");
        Assert.Equal(ClaimStatus.NonceTaken, (await store.ClaimAsync(used with { ExecId = NewExecId() }, default)).Status);
        // The copy of the receipt records the outcome Redis missed, and every instance sees it.
        await RedisStores.EventuallyAsync(async () => (await reader.LookupAsync(pending.NonceSha256, default)).Receipt == executed.Hash, "outcome recorded by the copy");
        Assert.Equal("executed", (await reader.LookupAsync(pending.NonceSha256, default)).Decision);
        await RedisStores.EventuallyAsync(async () => (await reader.GetReceiptAsync(pending.ExecId, default))?.Hash == executed.Hash, "receipt copied after restart");
        Assert.Contains(new ChainHead(identity.GatewayId, executed.Body.Seq, executed.Hash), await reader.ListGatewaysAsync(default));
    }

    [Fact]
    public async Task Receipts_beyond_what_is_held_in_memory_are_copied_from_the_ledger_in_order()
    {
        // Three receipts held in memory for the copy; Redis away while 70 are committed, so most
        // are only in the local ledger (and go back in several script calls of up to
        // RedisScripts.CopyGroup); then two more after Redis is back.
        var dir = TempDir.Create();
        using var identity = GatewayIdentity.Open(dir, null);
        using var store = RedisStores.Open(_redis, identity, recentCapacity: 3);
        var (reader, _) = Open();
        _redis.Kill();
        var written = new List<OpenExec.Core.Receipts.ReceiptDocument>();
        for (var i = 0; i < 70; i++)
        {
            written.Add(await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default));
        }
        _redis.Restart();
        await RedisStores.EventuallyAsync(() => store.PingAsync(default).AsTask(), "ping after restart");
        for (var i = 0; i < 2; i++)
        {
            written.Add(await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default));
        }

        await RedisStores.EventuallyAsync(async () => (await reader.ListReceiptsAsync(identity.GatewayId, 0, 100, default)).Count == written.Count, "every receipt copied");
        var copied = await reader.ListReceiptsAsync(identity.GatewayId, 0, 100, default);
        Assert.Equal(written.Select(d => (d.Body.Seq, d.Hash)), copied.Select(d => (d.Body.Seq, d.Hash)));
        foreach (var doc in written)
        {
            Assert.Equal(doc.Hash, (await reader.GetReceiptAsync(doc.Body.ExecId, default))?.Hash);
        }
        Assert.Contains(new ChainHead(identity.GatewayId, written[^1].Body.Seq, written[^1].Hash), await reader.ListGatewaysAsync(default));
        TempDir.Delete(dir);
    }

    [Fact]
    public async Task A_renewed_lease_keeps_a_running_claim_in_progress_and_only_its_holder_can_renew_it()
    {
        var (store, _) = Open();
        var (other, _) = Open();
        var running = Claim(Hex64(), lease: TimeSpan.FromSeconds(1));
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(running, default)).Status);

        // Another exec id cannot renew it; a shorter lease never shortens it; its holder can.
        await other.RenewLeaseAsync(running.NonceSha256, NewExecId(), TimeSpan.FromMinutes(5), default);
        await store.RenewLeaseAsync(running.NonceSha256, running.ExecId, TimeSpan.FromSeconds(-30), default);
        await store.RenewLeaseAsync(running.NonceSha256, running.ExecId, TimeSpan.FromMinutes(1), default);
        await Task.Delay(1500);
        Assert.Equal(NonceStatus.InProgress, (await other.LookupAsync(running.NonceSha256, default)).Status);

        // Without renewal the same lease runs out into outcome_unknown.
        var stranded = Claim(Hex64(), lease: TimeSpan.FromSeconds(1));
        await store.ClaimAsync(stranded, default);
        await other.RenewLeaseAsync(stranded.NonceSha256, NewExecId(), TimeSpan.FromMinutes(5), default);
        await Task.Delay(1500);
        var found = await other.LookupAsync(stranded.NonceSha256, default);
        Assert.Equal((NonceStatus.Done, "outcome_unknown"), (found.Status, found.Decision));

        // A finished claim's renewal changes nothing.
        var doc = await store.AppendReceiptAsync(Draft(running.ExecId, running.NonceSha256, "executed"), new ClaimUpdate(running.NonceSha256, null, Release: false), default);
        await store.RenewLeaseAsync(running.NonceSha256, running.ExecId, TimeSpan.FromMinutes(10), default);
        var done = await other.LookupAsync(running.NonceSha256, default);
        Assert.Equal((NonceStatus.Done, "executed", doc.Hash), (done.Status, done.Decision, done.Receipt));
    }

    [Fact]
    public async Task A_claim_a_dead_embedded_process_left_unfinished_is_recovered_when_the_data_dir_moves_to_redis()
    {
        var identity = NewIdentity();
        var running = Claim(Hex64(), approval: Hex64());
        using (var embedded = SqliteExecutionStoreTests.Open(identity))
        {
            Assert.Equal(ClaimStatus.Claimed, (await embedded.ClaimAsync(running, default)).Status);
        } // the process died while the backend ran the action

        var redisStore = RedisStores.Open(_redis, identity);
        Own(redisStore);
        await redisStore.RecoverAsync(o => Draft(o.ExecId, o.NonceSha256, "outcome_unknown") with { RequestSha256 = o.RequestSha256, ApprovalSha256 = o.ApprovalIdentity }, default);

        // Before serving, Redis has it: never free, and its approval stays consumed.
        var state = await redisStore.LookupAsync(running.NonceSha256, default);
        Assert.Equal((NonceStatus.Done, "outcome_unknown", running.ExecId), (state.Status, state.Decision, state.ExecId));
        Assert.Equal(ClaimStatus.ApprovalReused, (await redisStore.ClaimAsync(Claim(Hex64(), approval: running.ApprovalIdentity), default)).Status);

        // Recovered once: a second start finds nothing left to recover.
        await redisStore.RecoverAsync(_ => throw new InvalidOperationException("recovered twice"), default);
    }

    [Fact]
    public async Task One_sweep_takes_over_every_claim_the_previous_process_left_not_only_the_first_thousand()
    {
        // Every claim enters its gateway's swept set: a sweep that looked at a fixed number of
        // them would fall behind a busy gateway for good.
        var identity = NewIdentity();
        var dead = RedisStores.Open(_redis, identity);
        Own(dead);
        // Leases that ended longer ago than the sweep's grace.
        var claims = Enumerable.Range(0, 1300).Select(_ => Claim(Hex64(), lease: TimeSpan.FromSeconds(-20))).ToList();
        foreach (var chunk in claims.Chunk(100))
        {
            await Task.WhenAll(chunk.Select(async c => Assert.Equal(ClaimStatus.Claimed, (await dead.ClaimAsync(c, default)).Status)));
        }
        dead.Dispose(); // the process died; the next one runs with its data dir

        var sweeper = RedisStores.Open(_redis, identity);
        Own(sweeper);
        await sweeper.RecoverAsync(o => Draft(o.ExecId, o.NonceSha256, "outcome_unknown") with { RequestSha256 = o.RequestSha256 }, default);
        await sweeper.SweepAsync(default);

        foreach (var claim in claims)
        {
            var state = await sweeper.LookupAsync(claim.NonceSha256, default);
            Assert.Equal((NonceStatus.Done, "outcome_unknown", claim.ExecId), (state.Status, state.Decision, state.ExecId));
            Assert.NotNull(state.Receipt);
        }
        Assert.Equal(claims.Select(c => c.ExecId).Order(StringComparer.Ordinal), (await sweeper.ListReceiptsAsync(sweeper.Identity.GatewayId, 0, 2000, default)).Select(d => d.Body.ExecId).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task No_claim_is_swept_while_redis_lacks_receipts_of_the_ledger()
    {
        // After an outage the ledger may hold a call's receipt that Redis has not been given yet:
        // its copy finishes the claim. A sweep before it took such a claim over and signed a
        // second, outcome_unknown receipt for an attempt that had answered 200.
        var identity = NewIdentity();
        var store = RedisStores.Open(_redis, identity);
        Own(store);
        await store.RecoverAsync(o => Draft(o.ExecId, o.NonceSha256, "outcome_unknown") with { RequestSha256 = o.RequestSha256 }, default);
        // A receipt whose copy cannot land (a key of the wrong type in its way): the copier stays behind.
        using var conn = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var blocked = Hex64();
        await conn.GetDatabase().StringSetAsync(RedisScripts.Nonce(blocked), "in the way");
        await store.AppendReceiptAsync(Draft(NewExecId(), blocked, "executed"), null, default);
        var expired = Claim(Hex64(), lease: TimeSpan.FromSeconds(-20));
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(expired, default)).Status);

        await Task.Delay(TimeSpan.FromSeconds(7)); // longer than the sweep interval
        Assert.Equal("0", (string?)await conn.GetDatabase().HashGetAsync(RedisScripts.Nonce(expired.NonceSha256), "done"));

        await conn.GetDatabase().KeyDeleteAsync(RedisScripts.Nonce(blocked));
        await RedisStores.EventuallyAsync(async () => (string?)await conn.GetDatabase().HashGetAsync(RedisScripts.Nonce(expired.NonceSha256), "decision") == "outcome_unknown", "swept once caught up");
    }

    [Fact]
    public async Task A_claim_that_timed_out_consumes_nothing_even_when_redis_applies_it_late()
    {
        // A paused Redis takes the claim script and runs it after the client gave up (503,
        // "nothing consumed"): the gateway then frees what that claim holds.
        var (store, _) = Open();
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration + ",allowAdmin=true");
        var claim = Claim(Hex64(), approval: Hex64());
        // Well past the 2 s timeout: StackExchange.Redis notices a timed-out command only on its
        // once-a-second heartbeat, later still on a loaded machine, and a pause that ends before
        // that lets the claim be answered in time.
        await admin.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", "7000", "WRITE");

        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.ClaimAsync(claim, default));

        await RedisStores.EventuallyAsync(async () => await store.LookupAsync(claim.NonceSha256, default) == NonceState.Free && !await admin.GetDatabase().KeyExistsAsync(RedisScripts.Approval(claim.ApprovalIdentity!)), "nonce and approval free again");
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(Claim(Hex64(), approval: claim.ApprovalIdentity), default)).Status);
    }

    [Fact]
    public async Task Receipts_still_queued_when_the_store_shuts_down_are_copied_to_redis_before_it_closes()
    {
        // A graceful stop: the ledger commits what is still queued (calls that ended as the
        // gateway stopped), and those receipts, the last of the chain, reach Redis before the
        // store closes, so the other instances need not wait for this one's restart to read them.
        var (store, identity) = Open();
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        async Task<long> RedisHeadAsync()
        {
            var head = await admin.GetDatabase().HashGetAsync(RedisScripts.Gateways, identity.GatewayId);
            return head.HasValue ? long.Parse(head.ToString().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) : 0;
        }
        await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);
        await RedisStores.EventuallyAsync(async () => await RedisHeadAsync() == 1, "the first receipt copied");

        var queued = Enumerable.Range(0, 300).Select(_ => store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default).AsTask()).ToList();
        ((IDisposable)store).Dispose();

        var written = await Task.WhenAll(queued);
        Assert.Equal(301, written.Max(d => d.Body.Seq));
        Assert.Equal(301, await RedisHeadAsync());
    }

    [Fact]
    public void A_batch_committed_while_the_copier_shuts_down_does_not_throw_on_the_writer_thread_and_holds_nobody()
    {
        // The ledger's writer thread calls the copier for every committed batch; an exception
        // there would end the process. A write held for a copy that will never come would never
        // answer its caller.
        var (store, _) = Open();
        var copier = new RedisReceiptReplicator((RedisExecutionStore)store, Microsoft.Extensions.Logging.Abstractions.NullLogger<RedisReceiptReplicator>.Instance);
        copier.Dispose();
        var write = new CountedCompletion();

        copier.Signal();
        copier.Committed([], [], [new HeldWrite(1, write)]);

        Assert.Equal(1, write.Completions);
        Assert.Equal(0, copier.HeldWrites);
    }

    [Fact]
    public async Task An_outcome_is_in_redis_when_its_receipt_is_written_and_takes_no_script_of_its_own()
    {
        // The outcome of a call reaches Redis with its receipt's copy (one script for the receipts
        // of many calls), which the call waits for: another instance reads it at once, and Redis
        // runs no separate script per call to record it.
        var (store, _) = Open();
        var (other, _) = Open();
        // Both copiers running (their first rounds register keys and sweep).
        var warm = Claim(Hex64());
        await store.ClaimAndRecordAsync(warm, Draft(warm.ExecId, warm.NonceSha256, "executed"), default);
        await other.LookupAsync(warm.NonceSha256, default);
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration + ",allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        await server.ExecuteAsync("CONFIG", "RESETSTAT");

        const int Calls = 20;
        for (var i = 0; i < Calls; i++)
        {
            var claim = Claim(Hex64(), approval: Hex64());
            var (claimed, doc) = await store.ClaimAndRecordAsync(claim, Draft(claim.ExecId, claim.NonceSha256, "executed") with { ApprovalSha256 = claim.ApprovalIdentity }, default);
            Assert.Equal(ClaimStatus.Claimed, claimed.Status);
            var seen = await other.LookupAsync(claim.NonceSha256, default);
            Assert.Equal((NonceStatus.Done, "executed", doc!.Hash), (seen.Status, seen.Decision, seen.Receipt));
        }

        // Per call: its claim, the other instance's look-up and its receipt's copy (a separate
        // script recording the outcome made it four); a few more for the copiers' own rounds.
        var scripts = (await server.InfoAsync("commandstats")).SelectMany(g => g)
            .Where(kv => kv.Key is "cmdstat_evalsha" or "cmdstat_eval")
            .Sum(kv => long.Parse(kv.Value.Split(',')[0]["calls=".Length..], System.Globalization.CultureInfo.InvariantCulture));
        Assert.InRange(scripts, 3 * Calls, (3 * Calls) + 6);
    }

    [Fact]
    public async Task Scripts_redis_does_not_have_are_loaded_and_each_call_runs_once()
    {
        // The per-request scripts go by their SHA-1 alone (EVALSHA): a Redis that has never seen
        // them, or has lost them (SCRIPT FLUSH, a restart, a failover), answers NOSCRIPT, and the
        // call is made again with the script's text. The refused attempt ran nothing.
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration + ",allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        var (store, _) = Open();
        var first = Claim(Hex64());
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(first, default)).Status);

        // Once Redis has them, each call is one EVALSHA (a sweep of the copier's may add one).
        await server.ExecuteAsync("CONFIG", "RESETSTAT");
        const int Calls = 10;
        for (var i = 0; i < Calls; i++)
        {
            Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(Claim(Hex64()), default)).Status);
        }
        var stats = (await server.InfoAsync("commandstats")).SelectMany(g => g).ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.False(stats.ContainsKey("cmdstat_eval"), "a script was sent as text");
        Assert.False(stats.ContainsKey("cmdstat_script|load"), "a script was loaded");
        Assert.InRange(long.Parse(stats["cmdstat_evalsha"].Split(',')[0]["calls=".Length..], System.Globalization.CultureInfo.InvariantCulture), Calls, Calls + 2);

        for (var round = 0; round < 2; round++)
        {
            await server.ScriptFlushAsync();
            var claim = Claim(Hex64(), approval: Hex64());
            Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(claim, default)).Status);
            var state = await store.LookupAsync(claim.NonceSha256, default);
            Assert.Equal((NonceStatus.InProgress, claim.ExecId), (state.Status, state.ExecId));
            await server.ScriptFlushAsync();
            await store.RenewLeaseAsync(claim.NonceSha256, claim.ExecId, TimeSpan.FromMinutes(1), default);
            Assert.Equal(ClaimStatus.NonceTaken, (await store.ClaimAsync(claim with { ExecId = NewExecId() }, default)).Status);
            Assert.True(await server.ScriptExistsAsync(RedisScripts.ClaimScript.Sha1) && await server.ScriptExistsAsync(RedisScripts.RenewScript.Sha1));
        }
    }

    [Fact]
    public async Task A_receipt_waiting_for_its_copy_is_answered_when_redis_hangs_and_its_copy_records_the_outcome_later()
    {
        // A command timeout far longer than the wait: the copier's round hangs all that time, and
        // the caller is answered when its wait is up all the same.
        var store = RedisStores.Open(_redis, NewIdentity(), options: ",asyncTimeout=60000");
        Own(store);
        var (other, _) = Open();
        var claim = Claim(Hex64());
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(claim, default)).Status);
        Task<ReceiptDocument> appended;
        _redis.Pause();
        try
        {
            appended = store.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "executed"), new ClaimUpdate(claim.NonceSha256, claim.ApprovalIdentity, Release: false), default).AsTask();
            // The copy cannot land; the caller is answered once its wait is up, not when Redis
            // comes back nor when the copier's command times out.
            await appended.WaitAsync(RedisReceiptReplicator.HoldAtMost + TimeSpan.FromSeconds(15));
        }
        finally
        {
            _redis.Resume();
        }

        var doc = await appended;
        await RedisStores.EventuallyAsync(async () => (await other.LookupAsync(claim.NonceSha256, default)).Receipt == doc.Hash, "the outcome recorded by the copy");
    }

    private sealed class CountedCompletion : IHeldCompletion
    {
        public int Completions;

        public void Complete() => Interlocked.Increment(ref Completions);
    }

    [Fact]
    public async Task Nothing_is_claimed_nor_ready_before_redis_holds_the_receipts_the_ledger_had_at_start()
    {
        // A data dir from the embedded store: its used nonces reach Redis only through their
        // receipts' copies. Until those are in, a claim could find a used nonce free.
        var identity = NewIdentity();
        var used = Claim(Hex64(), approval: Hex64());
        using (var embedded = SqliteExecutionStoreTests.Open(identity))
        {
            var (claimed, _) = await embedded.ClaimAndRecordAsync(used, Draft(used.ExecId, used.NonceSha256, "executed") with { RequestSha256 = used.RequestSha256, ApprovalSha256 = used.ApprovalIdentity }, default);
            Assert.Equal(ClaimStatus.Claimed, claimed.Status);
        }
        // The copy of that receipt cannot land yet (a key of the wrong type in its way).
        using var conn = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        await conn.GetDatabase().StringSetAsync(RedisScripts.Nonce(used.NonceSha256), "in the way");

        var redisStore = RedisStores.Open(_redis, identity);
        Own(redisStore);
        await redisStore.RecoverAsync(_ => throw new InvalidOperationException("nothing to recover"), default);

        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await redisStore.ClaimAsync(Claim(Hex64()), default));
        // Redis answers, but /ready must not send traffic to a store that refuses every claim.
        Assert.False(await redisStore.PingAsync(default));

        await conn.GetDatabase().KeyDeleteAsync(RedisScripts.Nonce(used.NonceSha256));
        await RedisStores.EventuallyAsync(() => redisStore.PingAsync(default).AsTask(), "ready once the receipts are in");
        Assert.Equal(ClaimStatus.Claimed, (await redisStore.ClaimAsync(Claim(Hex64()), default)).Status);
        Assert.Equal(ClaimStatus.NonceTaken, (await redisStore.ClaimAsync(used with { ExecId = NewExecId() }, default)).Status);

        // Open once, open for good: a later loss (here a flush, and a copy that cannot land
        // again) is repaired while claims go on, not by refusing every claim meanwhile.
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration + ",allowAdmin=true");
        await admin.GetServers().Single().FlushAllDatabasesAsync();
        await conn.GetDatabase().StringSetAsync(RedisScripts.Nonce(used.NonceSha256), "in the way");
        await redisStore.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);
        await Task.Delay(1500);
        Assert.Equal(ClaimStatus.Claimed, (await redisStore.ClaimAsync(Claim(Hex64()), default)).Status);
    }

    [Fact]
    public async Task A_flushed_redis_gets_its_claims_back_from_the_ledger_without_a_reconnect()
    {
        var (store, identity) = Open();
        var ran = Claim(Hex64(), approval: Hex64());
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(ran, default)).Status);
        await store.AppendReceiptAsync(Draft(ran.ExecId, ran.NonceSha256, "executed") with { RequestSha256 = ran.RequestSha256, ApprovalSha256 = ran.ApprovalIdentity },
            new ClaimUpdate(ran.NonceSha256, ran.ApprovalIdentity, Release: false), default);
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration + ",allowAdmin=true");
        await RedisStores.EventuallyAsync(async () => (await admin.GetDatabase().HashGetAsync(RedisScripts.Gateways, identity.GatewayId)).HasValue, "the receipt copied");

        // FLUSHALL keeps the connection: nothing tells the gateway, yet every claim is gone.
        await admin.GetServers().Single().FlushAllDatabasesAsync();

        // With no new receipts at all (the copier notices the head is gone)...
        await RedisStores.EventuallyAsync(async () => (await store.LookupAsync(ran.NonceSha256, default)).Status == NonceStatus.Done, "the claim restored", seconds: 15);
        Assert.Equal(ClaimStatus.ApprovalReused, (await store.ClaimAsync(Claim(Hex64(), approval: ran.ApprovalIdentity), default)).Status);

        // ...and with new ones (the next copy does not continue the chain Redis has).
        await admin.GetServers().Single().FlushAllDatabasesAsync();
        await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);
        await RedisStores.EventuallyAsync(async () => (await store.LookupAsync(ran.NonceSha256, default)).Status == NonceStatus.Done, "the claim restored again", seconds: 15);
    }

    [Fact]
    public async Task A_chain_copied_again_into_a_redis_that_lost_it_begins_at_its_first_receipt_inside_the_retention()
    {
        // Copied again from seq 1: a ledger of months went back into Redis whole (each copy kept
        // for a further retention), and the latest claims, copied last, were missing meanwhile.
        var identity = NewIdentity();
        var store = RedisStores.Open(_redis, identity, retention: TimeSpan.FromMinutes(10));
        Own(store);
        var longAgo = ReceiptTime.Format(DateTimeOffset.UtcNow.AddHours(-3));
        for (var i = 0; i < 40; i++)
        {
            await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected") with { StartedAt = longAgo, FinishedAt = longAgo }, null, default);
        }
        var ran = Claim(Hex64(), approval: Hex64());
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(ran, default)).Status);
        await store.AppendReceiptAsync(Draft(ran.ExecId, ran.NonceSha256, "executed") with { RequestSha256 = ran.RequestSha256, ApprovalSha256 = ran.ApprovalIdentity },
            new ClaimUpdate(ran.NonceSha256, ran.ApprovalIdentity, Release: false), default);
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration + ",allowAdmin=true");
        var db = admin.GetDatabase();
        await RedisStores.EventuallyAsync(async () => ((string?)await db.HashGetAsync(RedisScripts.Gateways, identity.GatewayId))?.StartsWith("41 ", StringComparison.Ordinal) == true, "the chain copied");

        await admin.GetServers().Single().FlushAllDatabasesAsync();

        await RedisStores.EventuallyAsync(async () => (await store.LookupAsync(ran.NonceSha256, default)).Status == NonceStatus.Done, "the claim restored", seconds: 15);
        Assert.StartsWith("41 ", (string?)await db.HashGetAsync(RedisScripts.Gateways, identity.GatewayId), StringComparison.Ordinal);
        Assert.Equal(1, await db.SortedSetLengthAsync(RedisScripts.Chain(identity.GatewayId)));
        Assert.Equal(ClaimStatus.ApprovalReused, (await store.ClaimAsync(Claim(Hex64(), approval: ran.ApprovalIdentity), default)).Status);

        // The chain goes on from there as before.
        await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);
        await RedisStores.EventuallyAsync(async () => ((string?)await db.HashGetAsync(RedisScripts.Gateways, identity.GatewayId))?.StartsWith("42 ", StringComparison.Ordinal) == true, "the next receipt copied");
        Assert.Equal(2, await db.SortedSetLengthAsync(RedisScripts.Chain(identity.GatewayId)));
    }

    [Fact]
    public async Task A_chain_begun_past_seq_1_is_not_taken_for_a_loss_before_its_first_copy_lands()
    {
        // The head check saw Redis's head (none) below the seq before the chain's start and
        // warned that Redis had lost data, then began the chain a second time.
        var identity = NewIdentity();
        var longAgo = ReceiptTime.Format(DateTimeOffset.UtcNow.AddHours(-3));
        var first = RedisStores.Open(_redis, identity, retention: TimeSpan.FromMinutes(10));
        for (var i = 0; i < 5; i++)
        {
            await first.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected") with { StartedAt = longAgo, FinishedAt = longAgo }, null, default);
        }
        await first.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);
        first.Dispose();
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration + ",allowAdmin=true");
        await admin.GetServers().Single().FlushAllDatabasesAsync();

        var logs = new LogCapture();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
        using var store = new RedisExecutionStore(identity, ConnectionMultiplexer.Connect(RedisExecutionStore.ParseConfiguration(_redis.Configuration)), TimeSpan.FromMinutes(10), TimeProvider.System, null, loggers);
        await RedisStores.EventuallyAsync(async () => ((string?)await admin.GetDatabase().HashGetAsync(RedisScripts.Gateways, identity.GatewayId))?.StartsWith("6 ", StringComparison.Ordinal) == true, "the chain copied");
        await Task.Delay(500);

        Assert.DoesNotContain(logs.Lines, l => l.Contains("no longer has this gateway's chain", StringComparison.Ordinal));
        Assert.Single(logs.Lines, l => l.Contains("resumed after seq 5", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_copy_group_that_failed_is_copied_again_even_after_a_later_group_succeeded()
    {
        var (store, identity) = Open();
        var (reader, _) = Open();
        using var conn = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var db = conn.GetDatabase();
        // A key of the wrong type makes one receipt's script fail (as a script refused by a
        // nearly full Redis would); the groups after it are pipelined behind it.
        var bad = Hex64();
        await db.StringSetAsync(RedisScripts.Nonce(bad), "not a claim");
        _redis.Kill();
        var written = new List<ReceiptDocument>();
        for (var i = 0; i < 40; i++)
        {
            written.Add(await store.AppendReceiptAsync(Draft(NewExecId(), i == 4 ? bad : Hex64(), "executed"), null, default));
        }
        _redis.Restart();
        // The first group stops at the fifth receipt (the four before it are written), the later
        // group does not continue the chain, and neither moves the head.
        await RedisStores.EventuallyAsync(async () => await db.SortedSetLengthAsync(RedisScripts.Chain(identity.GatewayId)) >= 4, "copies resumed");
        await Task.Delay(500);
        Assert.False((await db.HashGetAsync(RedisScripts.Gateways, identity.GatewayId)).HasValue);

        // The cause goes away: every receipt ends up copied, none skipped.
        await db.KeyDeleteAsync(RedisScripts.Nonce(bad));
        await RedisStores.EventuallyAsync(async () => (await reader.ListReceiptsAsync(identity.GatewayId, 0, 100, default)).Count == written.Count, "every receipt copied");
        Assert.Equal(written.Select(d => d.Hash), (await reader.ListReceiptsAsync(identity.GatewayId, 0, 100, default)).Select(d => d.Hash));
    }

    /// <summary>
    /// A claim whose script timed out was answered 503 (nothing consumed), yet Redis may apply it
    /// later, before or after the gateway's release: after, when the release went out on a new
    /// connection and the claim still waited on the old one (Redis paused past the client's
    /// reconnect). That late claim was held, and read as outcome_unknown after its lease, for an
    /// attempt that never ran. Either order now ends with nothing held.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_claim_given_up_on_holds_nothing_whichever_reaches_redis_first(bool claimArrivesLate)
    {
        using var conn = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var db = conn.GetDatabase();
        var (nonce, approval, exec) = (Hex64(), Hex64(), NewExecId());
        RedisKey nonceKey = RedisScripts.Nonce(nonce), approvalKey = RedisScripts.Approval(approval), abandoned = RedisScripts.Abandoned(exec);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        RedisValue[] claimArgs = ["gw_a", Hex64(), exec, "echo", "default", 60_000, 3_600_000, approval, now, "", ""];
        RedisValue[] abandonArgs = [exec, "1", 3_600_000];

        if (claimArrivesLate)
        {
            await db.ScriptEvaluateAsync(RedisScripts.Abandon, [nonceKey, approvalKey, abandoned], abandonArgs);
            var late = (RedisResult[])(await db.ScriptEvaluateAsync(RedisScripts.Claim, [nonceKey, approvalKey, abandoned, RedisScripts.Held("gw_a")], claimArgs))!;
            Assert.Equal("abandoned", (string?)late[0]);
        }
        else
        {
            var early = (RedisResult[])(await db.ScriptEvaluateAsync(RedisScripts.Claim, [nonceKey, approvalKey, abandoned, RedisScripts.Held("gw_a")], claimArgs))!;
            Assert.Equal("claimed", (string?)early[0]);
            await db.ScriptEvaluateAsync(RedisScripts.Abandon, [nonceKey, approvalKey, abandoned], abandonArgs);
        }

        Assert.False(await db.KeyExistsAsync(nonceKey));
        Assert.False(await db.KeyExistsAsync(approvalKey));
        var (store, _) = Open();
        Assert.Equal(NonceState.Free, await store.LookupAsync(nonce, default));
    }

    /// <summary>Redis stalls under a claim: 503, and once it answers again the nonce is free.</summary>
    [Fact]
    public async Task A_claim_that_timed_out_on_a_stalled_redis_leaves_its_nonce_free()
    {
        using var store = RedisStores.Open(_redis, NewIdentity(), options: ",asyncTimeout=500,syncTimeout=500");
        var claim = Claim(Hex64(), approval: Hex64(), lease: TimeSpan.FromSeconds(1));
        Assert.Equal(NonceState.Free, await store.LookupAsync(claim.NonceSha256, default));

        _redis.Pause();
        try
        {
            await Assert.ThrowsAsync<StoreUnavailableException>(() => store.ClaimAsync(claim, default).AsTask());
            await Task.Delay(TimeSpan.FromSeconds(2)); // past the claim's lease
        }
        finally
        {
            _redis.Resume();
        }

        var (other, _) = Open();
        await RedisStores.EventuallyAsync(async () => await other.LookupAsync(claim.NonceSha256, default) == NonceState.Free, "the nonce freed");
        Assert.Equal(ClaimStatus.Claimed, (await other.ClaimAsync(Claim(claim.NonceSha256, approval: claim.ApprovalIdentity), default)).Status);
    }

    [Fact]
    public async Task A_released_claims_copy_frees_its_approval_even_when_its_nonce_is_no_longer_held()
    {
        // The direct release and the receipt's copy share one definition: each key is freed while
        // this exec id holds it, each on its own.
        using var conn = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var db = conn.GetDatabase();
        var (nonce, approval, exec) = (Hex64(), Hex64(), NewExecId());
        RedisKey nonceKey = RedisScripts.Nonce(nonce), approvalKey = RedisScripts.Approval(approval);
        await db.HashSetAsync(nonceKey, [new("exec", "ex_someone_else"), new("done", "0")]);
        await db.StringSetAsync(approvalKey, exec);

        var gateway = "gw_" + Guid.NewGuid().ToString("N");
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        await db.ScriptEvaluateAsync(RedisScripts.Copy,
            [RedisScripts.Chain(gateway), RedisScripts.Gateways, RedisScripts.CopyTimes(gateway), RedisScripts.Receipt(exec), nonceKey, approvalKey],
            [gateway, "60000", "1", "{}", Hex64(), exec, "upstream_failed", Hex64(), approval, "echo", "default", now, "0", "release"]);

        Assert.False(await db.KeyExistsAsync(approvalKey));
        Assert.Equal("ex_someone_else", (string?)await db.HashGetAsync(nonceKey, "exec"));

        // And the direct release: the nonce held by this exec id is freed, another's is not.
        await db.StringSetAsync(approvalKey, exec);
        Assert.Equal(0, (int)await db.ScriptEvaluateAsync(RedisScripts.Release, [nonceKey, approvalKey], [exec, "1"]));
        Assert.False(await db.KeyExistsAsync(approvalKey));
        Assert.True(await db.KeyExistsAsync(nonceKey));
        await db.HashSetAsync(nonceKey, "exec", exec);
        Assert.Equal(1, (int)await db.ScriptEvaluateAsync(RedisScripts.Release, [nonceKey, nonceKey], [exec, "0"]));
        Assert.False(await db.KeyExistsAsync(nonceKey));
    }

    [Fact]
    public async Task A_claim_restored_from_a_takeovers_receipt_is_not_freed_by_its_holders_late_release()
    {
        // A holder cut off from Redis sent nothing; another instance took its claim over and copied
        // its outcome_unknown; Redis then lost the claim (a flush, a failover) and the taker's copy
        // restored it. The holder's release copy, arriving last, freed nonce and approval: the
        // takeover may already have told an agent the attempt may have run.
        using var conn = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var db = conn.GetDatabase();
        var (nonce, approval, exec) = (Hex64(), Hex64(), NewExecId());
        RedisKey nonceKey = RedisScripts.Nonce(nonce), approvalKey = RedisScripts.Approval(approval);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        async Task CopyAsync(string gateway, string decision, string restore, string effect) => await db.ScriptEvaluateAsync(RedisScripts.Copy,
            [RedisScripts.Chain(gateway), RedisScripts.Gateways, RedisScripts.CopyTimes(gateway), RedisScripts.Receipt(exec), nonceKey, approvalKey],
            [gateway, "600000", "1", "{}", Hex64(), exec, decision, Hex64(), approval, "echo", "default", now, restore, effect]);

        await CopyAsync("gw_taker_" + Guid.NewGuid().ToString("N"), "outcome_unknown", "1", "outcome");
        Assert.Equal("outcome_unknown", (string?)await db.HashGetAsync(nonceKey, "decision"));
        await CopyAsync("gw_holder_" + Guid.NewGuid().ToString("N"), "upstream_failed", "0", "release");

        Assert.True(await db.KeyExistsAsync(nonceKey), "the nonce was freed");
        Assert.True(await db.KeyExistsAsync(approvalKey), "the approval was freed");
        Assert.Equal("outcome_unknown", (string?)await db.HashGetAsync(nonceKey, "decision"));
    }

    [Fact]
    public async Task Claims_that_redis_lost_are_restored_from_the_receipts()
    {
        // No persistence at all: a restart forgets everything, as the tail of an everysec AOF would.
        using var forgetful = RedisServer.Start("--appendonly", "no");
        var dir = TempDir.Create();
        using var identity = GatewayIdentity.Open(dir, null);
        using var store = RedisStores.Open(forgetful, identity);
        var ran = Claim(Hex64(), approval: Hex64());
        await store.ClaimAsync(ran, default);
        var executed = await store.AppendReceiptAsync(Draft(ran.ExecId, ran.NonceSha256, "executed") with { RequestSha256 = ran.RequestSha256, ApprovalSha256 = ran.ApprovalIdentity },
            new ClaimUpdate(ran.NonceSha256, ran.ApprovalIdentity, Release: false), default);
        var released = Claim(Hex64(), approval: Hex64());
        await store.ClaimAsync(released, default);
        await store.AppendReceiptAsync(Draft(released.ExecId, released.NonceSha256, "upstream_failed") with { RequestSha256 = released.RequestSha256, ApprovalSha256 = released.ApprovalIdentity },
            new ClaimUpdate(released.NonceSha256, released.ApprovalIdentity, Release: true), default);
        var refused = await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);

        forgetful.Restart();

        await RedisStores.EventuallyAsync(async () => (await store.LookupAsync(ran.NonceSha256, default)).Receipt == executed.Hash, "the executed claim restored");
        var restored = await store.LookupAsync(ran.NonceSha256, default);
        Assert.Equal(NonceStatus.Done, restored.Status);
        Assert.Equal("executed", restored.Decision);
        Assert.Equal(ran.ExecId, restored.ExecId);
        Assert.Equal(ran.RequestSha256, restored.RequestSha256);
        Assert.Equal(ClaimStatus.ApprovalReused, (await store.ClaimAsync(Claim(Hex64(), approval: ran.ApprovalIdentity), default)).Status);
        Assert.Equal(NonceState.Free, await store.LookupAsync(released.NonceSha256, default));
        Assert.Equal(NonceState.Free, await store.LookupAsync(refused.Body.NonceSha256, default));
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(Claim(Hex64(), approval: released.ApprovalIdentity), default)).Status);
        TempDir.Delete(dir);
    }

    [Fact]
    public async Task Health_warns_when_redis_can_forget_nonces()
    {
        using var weak = RedisServer.Start("--appendonly", "no", "--maxmemory-policy", "allkeys-lru");
        var dir = TempDir.Create();
        using var identity = GatewayIdentity.Open(dir, null);
        var warnings = new HealthWarnings();
        using (var store = RedisStores.Open(weak, identity, warnings))
        {
            await store.CheckSettingsAsync();
            Assert.Contains(warnings.Current, w => w.Contains("appendonly yes", StringComparison.Ordinal));
            Assert.Contains(warnings.Current, w => w.Contains("allkeys-lru", StringComparison.Ordinal));

            // Fixed in Redis while the gateway runs: the next check clears the warnings.
            using var admin = await ConnectionMultiplexer.ConnectAsync(weak.Configuration + ",allowAdmin=true");
            var server = admin.GetServers().Single();
            await server.ConfigSetAsync("appendonly", "yes");
            await server.ConfigSetAsync("maxmemory-policy", "noeviction");
            // Turning AOF on starts a rewrite; INFO reports it enabled once that is under way.
            await RedisStores.EventuallyAsync(async () => (await server.InfoAsync("persistence")).SelectMany(g => g).FirstOrDefault(kv => kv.Key == "aof_enabled").Value == "1", "AOF enabled");
            await store.CheckSettingsAsync();
            Assert.Empty(warnings.Current);
        }

        var sound = new HealthWarnings();
        var dir2 = TempDir.Create();
        using var identity2 = GatewayIdentity.Open(dir2, null);
        using (var store = RedisStores.Open(_redis, identity2, sound))
        {
            await store.CheckSettingsAsync();
        }
        Assert.Empty(sound.Current);
        TempDir.Delete(dir);
        TempDir.Delete(dir2);
    }

    [Fact]
    public async Task Health_warns_when_redis_does_not_show_its_settings()
    {
        // INFO disabled (some managed services refuse it, and the configuration then leaves it out
        // of the command map: $INFO=): the check failed, a log line said so, and /health showed
        // nothing to worry about.
        var dir = TempDir.Create();
        using var identity = GatewayIdentity.Open(dir, null);
        var warnings = new HealthWarnings();
        using (var store = RedisStores.Open(_redis, identity, warnings, options: ",$INFO="))
        {
            await store.CheckSettingsAsync();
        }
        Assert.Contains(warnings.Current, w => w.Contains("does not show its persistence and memory policy", StringComparison.Ordinal));
        TempDir.Delete(dir);
    }

    [Fact]
    public async Task Health_says_why_claims_fail_on_a_redis_cluster_and_none_runs()
    {
        using var cluster = RedisServer.Start("--cluster-enabled", "yes", "--appendonly", "yes");
        var dir = TempDir.Create();
        using var identity = GatewayIdentity.Open(dir, null);
        var warnings = new HealthWarnings();
        using (var store = RedisStores.Open(cluster, identity, warnings))
        {
            await store.CheckSettingsAsync();
            Assert.Contains(warnings.Current, w => w.Contains("cluster mode", StringComparison.Ordinal));
            await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.ClaimAsync(Claim(Hex64()), default));
        }
        TempDir.Delete(dir);
    }

    [Fact]
    public async Task Claims_refused_while_redis_is_unreachable_leave_nothing_to_undo_and_no_marks_behind()
    {
        // Every refusal during an outage started its own retry loop, kept until Redis came back
        // (tens of thousands of timers, exceptions and gigabytes over an hour's outage), and then
        // wrote one abandoned mark per refusal into Redis: for claims the client never sent.
        using var link = RedisLink.To(_redis);
        var store = RedisStores.Open(_redis, NewIdentity(), link: link);
        Own(store);
        link.Cut();
        await RedisStores.EventuallyAsync(async () =>
        {
            try
            {
                await store.ClaimAsync(Claim(Hex64()), default);
                return false;
            }
            catch (StoreUnavailableException ex)
            {
                return RedisExecutionStore.NeverSent(ex);
            }
        }, "the client failing fast with no connection");

        // A probe in flight as the link was cut may have been sent: that one is given up on.
        var inFlight = store.PendingAbandons;
        Assert.InRange(inFlight, 0, 2);
        for (var i = 0; i < 200; i++)
        {
            await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.ClaimAsync(Claim(Hex64(), approval: Hex64()), default));
        }
        Assert.Equal(inFlight, store.PendingAbandons);

        link.Restore();
        await RedisStores.EventuallyAsync(async () => await store.PingAsync(default) && store.PendingAbandons == 0, "Redis reached again, give-ups sent");
        await Task.Delay(1500);
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var marks = admin.GetServer(admin.GetEndPoints()[0]).Keys(pattern: RedisScripts.Abandoned("*").ToString()).Count();
        Assert.Equal(inFlight, marks);
    }

    [Fact]
    public async Task A_claim_that_timed_out_and_is_applied_later_is_freed_by_its_abandon()
    {
        // Redis paused past the client's timeout: the claim is sent, refused as 503, and applied
        // when Redis resumes; its abandon frees it, so the agent's retry (told nothing was
        // consumed) is not refused as in progress or outcome_unknown.
        var store = RedisStores.Open(_redis, NewIdentity(), options: ",syncTimeout=500,asyncTimeout=500");
        Own(store);
        var claim = Claim(Hex64(), approval: Hex64());
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration + ",allowAdmin=true");
        // Well past the 0.5 s timeout (noticed on a once-a-second heartbeat; see above).
        await admin.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", "7000", "WRITE");

        var refused = await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.ClaimAsync(claim, default));
        Assert.False(RedisExecutionStore.NeverSent(refused));

        await RedisStores.EventuallyAsync(async () => store.PendingAbandons == 0 && (await store.LookupAsync(claim.NonceSha256, default)).Status == NonceStatus.Free, "the late claim freed");
        Assert.True(await admin.GetDatabase().KeyExistsAsync(RedisScripts.Abandoned(claim.ExecId)));
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(claim with { ExecId = NewExecId() }, default)).Status);
    }

    /// <summary>
    /// A holder cut off from Redis (a partition) after its claim, whose lease then passes: another
    /// instance takes the claim over and writes outcome_unknown; the holder's own receipt reaches
    /// Redis only once its link is back.
    /// </summary>
    private async Task<(IExecutionStore Holder, RedisLink Link, IExecutionStore Taker, ClaimRequest Claim, RecoveredClaim Orphan)> TakenOverWhileCutOffAsync(string? approval = null, RedisLink? takerLink = null)
    {
        var link = RedisLink.To(_redis);
        OnDispose(link.Dispose);
        var holder = RedisStores.Open(_redis, NewIdentity(), link: link);
        Own(holder);
        var taker = RedisStores.Open(_redis, NewIdentity(), link: takerLink);
        Own(taker);
        var claim = Claim(Hex64(), approval: approval, lease: TimeSpan.FromSeconds(-1));
        Assert.Equal(ClaimStatus.Claimed, (await holder.ClaimAsync(claim, default)).Status);
        link.Cut();
        var orphan = (await taker.LookupAsync(claim.NonceSha256, default)).TakenOver;
        Assert.NotNull(orphan);
        return (holder, link, taker, claim, orphan);
    }

    [Fact]
    public async Task A_holders_executed_receipt_copied_after_a_takeover_replaces_its_outcome_unknown_and_an_outcome_unknown_copied_again_never_takes_it_back()
    {
        // The takeover's outcome_unknown reached Redis first: the first receipt won for good, and
        // a call known to have run read as outcome_unknown everywhere, its receipt as not valid.
        var (holder, link, taker, claim, orphan) = await TakenOverWhileCutOffAsync();
        var executed = await holder.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "executed"), new ClaimUpdate(claim.NonceSha256, null, Release: false), default);
        var unknown = await taker.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "outcome_unknown"), orphan.Outcome, default);
        await RedisStores.EventuallyAsync(async () => (await taker.GetReceiptAsync(claim.ExecId, default))?.Hash == unknown.Hash, "the takeover's receipt copied");
        Assert.Equal(("outcome_unknown", unknown.Hash), ((await taker.LookupAsync(claim.NonceSha256, default)).Decision, (await taker.LookupAsync(claim.NonceSha256, default)).Receipt));

        link.Restore();

        await RedisStores.EventuallyAsync(async () => (await taker.GetReceiptAsync(claim.ExecId, default))?.Hash == executed.Hash, "the holder's receipt named for its exec id", seconds: 30);
        var state = await taker.LookupAsync(claim.NonceSha256, default);
        Assert.Equal((NonceStatus.Done, "executed", executed.Hash, claim.ExecId), (state.Status, state.Decision, state.Receipt, state.ExecId));
        Assert.Equal(executed.Hash, (await holder.GetReceiptAsync(claim.ExecId, default))?.Hash);
        // The takeover's receipt stays in its chain: the taker did not know at the time.
        var takerChain = await taker.ListReceiptsAsync(unknown.Body.Gateway, 0, 100, default);
        Assert.Contains(takerChain, r => r.Hash == unknown.Hash);

        // The taker's chain copied again (Redis lost its head, as after a failover): its
        // outcome_unknown meets the holder's receipt and changes nothing.
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        await admin.GetDatabase().HashDeleteAsync(RedisScripts.Gateways, unknown.Body.Gateway);
        await RedisStores.EventuallyAsync(async () => (await admin.GetDatabase().HashGetAsync(RedisScripts.Gateways, unknown.Body.Gateway)).HasValue, "the taker's chain copied again", seconds: 30);
        Assert.Equal(executed.Hash, (await taker.GetReceiptAsync(claim.ExecId, default))?.Hash);
        Assert.Equal("executed", (await taker.LookupAsync(claim.NonceSha256, default)).Decision);
    }

    [Fact]
    public async Task A_takeovers_outcome_unknown_copied_after_the_holders_receipt_never_replaces_it()
    {
        // The taker cut off too, right after its takeover: its receipt waits on its link, and the
        // holder's, copied once the holder's link is back, reaches Redis first.
        var takerLink = RedisLink.To(_redis);
        OnDispose(takerLink.Dispose);
        var (holder, holderLink, taker, claim, orphan) = await TakenOverWhileCutOffAsync(takerLink: takerLink);
        takerLink.Cut();
        var executed = await holder.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "executed"), new ClaimUpdate(claim.NonceSha256, null, Release: false), default);
        var unknown = await taker.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "outcome_unknown"), orphan.Outcome, default);
        var (reader, _) = Open();
        holderLink.Restore();
        await RedisStores.EventuallyAsync(async () => (await reader.GetReceiptAsync(claim.ExecId, default))?.Hash == executed.Hash, "the holder's receipt copied", seconds: 30);

        takerLink.Restore();
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        await RedisStores.EventuallyAsync(async () => (string?)await admin.GetDatabase().HashGetAsync(RedisScripts.Gateways, unknown.Body.Gateway) is { } head && head.StartsWith(unknown.Body.Seq + " ", StringComparison.Ordinal), "the takeover's receipt copied", seconds: 30);

        Assert.Equal(executed.Hash, (await reader.GetReceiptAsync(claim.ExecId, default))?.Hash);
        var state = await reader.LookupAsync(claim.NonceSha256, default);
        Assert.Equal(("executed", executed.Hash), (state.Decision, state.Receipt));
    }

    [Fact]
    public async Task A_holders_release_copied_after_a_takeover_keeps_nonce_and_approval_spent_and_records_that_nothing_was_sent()
    {
        // The copy freed both: a nonce another instance had declared outcome_unknown (an agent
        // may have been told "it may have run") was open again.
        var (holder, link, taker, claim, orphan) = await TakenOverWhileCutOffAsync(approval: Hex64());
        var released = await holder.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "upstream_failed") with { ApprovalSha256 = claim.ApprovalIdentity }, new ClaimUpdate(claim.NonceSha256, claim.ApprovalIdentity, Release: true), default);
        var unknown = await taker.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "outcome_unknown"), orphan.Outcome, default);
        await RedisStores.EventuallyAsync(async () => (await taker.GetReceiptAsync(claim.ExecId, default))?.Hash == unknown.Hash, "the takeover's receipt copied");

        link.Restore();

        await RedisStores.EventuallyAsync(async () => (await taker.GetReceiptAsync(claim.ExecId, default))?.Hash == released.Hash, "the holder's release named for its exec id", seconds: 30);
        var state = await taker.LookupAsync(claim.NonceSha256, default);
        Assert.Equal((NonceStatus.Done, "upstream_failed", released.Hash), (state.Status, state.Decision, state.Receipt));
        Assert.Equal(ClaimStatus.ApprovalReused, (await taker.ClaimAsync(Claim(Hex64(), approval: claim.ApprovalIdentity), default)).Status);
        // The direct release, arriving late, frees nothing either.
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        Assert.Equal(0, (int)await admin.GetDatabase().ScriptEvaluateAsync(RedisScripts.Release, [RedisScripts.Nonce(claim.NonceSha256), RedisScripts.Approval(claim.ApprovalIdentity!)], [claim.ExecId, "1"]));
        Assert.Equal(NonceStatus.Done, (await taker.LookupAsync(claim.NonceSha256, default)).Status);
    }

    [Fact]
    public async Task A_receipt_for_the_exec_id_from_a_gateway_that_did_not_hold_the_claim_never_replaces_the_takeovers()
    {
        var (_, _, taker, claim, orphan) = await TakenOverWhileCutOffAsync();
        var unknown = await taker.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "outcome_unknown"), orphan.Outcome, default);
        await RedisStores.EventuallyAsync(async () => (await taker.GetReceiptAsync(claim.ExecId, default))?.Hash == unknown.Hash, "the takeover's receipt copied");

        // A third instance (neither holder nor taker) writes a definitive receipt under that exec id.
        var (stranger, _) = Open();
        var foreign = await stranger.AppendReceiptAsync(Draft(claim.ExecId, claim.NonceSha256, "executed"), new ClaimUpdate(claim.NonceSha256, null, Release: false), default);
        using var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        await RedisStores.EventuallyAsync(async () => (string?)await admin.GetDatabase().HashGetAsync(RedisScripts.Gateways, foreign.Body.Gateway) is not null, "the stranger's receipt copied");

        Assert.Equal(unknown.Hash, (await taker.GetReceiptAsync(claim.ExecId, default))?.Hash);
        Assert.Equal(("outcome_unknown", unknown.Hash), ((await taker.LookupAsync(claim.NonceSha256, default)).Decision, (await taker.LookupAsync(claim.NonceSha256, default)).Receipt));
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        _redis.Dispose();
    }
}
