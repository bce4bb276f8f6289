using System.Net;
using System.Text.Json;
using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;
using OpenExec.Gateway.Tests.Pipeline;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>
/// Several real gateways, each with its own data dir, sharing one real redis-server: one
/// exactly-once guarantee across all of them, every receipt readable from any of them, and
/// fail-closed while Redis is away.
/// </summary>
public sealed class RedisGatewayTests : IDisposable
{
    private const string Payload = """{"msg":"hello"}""";
    private readonly RedisServer _redis = RedisServer.Start();

    [Fact]
    public async Task One_nonce_sent_200_times_to_two_instances_executes_once()
    {
        await using var a = await StartAsync();
        await using var b = await StartAsync();
        var body = Governance.Body("echo", Payload, "shared-nonce", approvalJson: null);

        var answers = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
        {
            var response = await (i % 2 == 0 ? a : b).PostJsonAsync("/execute", body);
            return (response.StatusCode, Json: await Json.ReadAsync(response), Gateway: i % 2 == 0 ? a : b);
        })));

        var winner = Assert.Single(answers, x => x.StatusCode == HttpStatusCode.OK);
        Assert.All(answers.Where(x => x.StatusCode != HttpStatusCode.OK), x =>
        {
            Assert.Equal(HttpStatusCode.Conflict, x.StatusCode);
            Assert.Contains(x.Json.Str("code"), new[] { "in_progress", "replay_denied" });
        });
        var receipts = (await a.ReceiptsAsync()).Concat(await b.ReceiptsAsync()).ToList();
        Assert.Equal(200, receipts.Count);
        var executed = Assert.Single(receipts, r => r.GetProperty("body").Str("decision") == "executed");
        Assert.Equal(winner.Json.Str("id"), executed.GetProperty("body").Str("exec_id"));

        // The other instance answers for the winner's receipt and knows its signing key.
        var other = winner.Gateway == a ? b : a;
        var id = winner.Json.Str("id");
        await RedisStores.EventuallyAsync(async () => (await other.Client.GetAsync($"/receipts/{id}")).StatusCode == HttpStatusCode.OK, "receipt copied");
        var copy = await Json.ReadAsync(await other.Client.GetAsync($"/receipts/{id}"));
        Assert.Equal(winner.Json.Str("receipt"), copy.Str("hash"));
        var verify = await Json.ReadAsync(await other.PostJsonAsync("/receipts/verify", JsonSerializer.Serialize(new { receipt_document = copy })));
        Assert.True(verify.GetProperty("valid").GetBoolean(), verify.GetRawText());
        var gateways = await Json.ReadAsync(await other.Client.GetAsync("/receipts/gateways"));
        Assert.Equal(2, gateways.GetProperty("gateways").GetArrayLength());

        // A replay on either instance names the one execution.
        var replay = await Json.ReadAsync(await other.PostJsonAsync("/execute", body));
        Assert.Equal("replay_denied", replay.Str("code"));
        Assert.Equal(id, replay.GetProperty("original").Str("id"));
        Assert.Equal("executed", replay.GetProperty("original").Str("decision"));

        var health = await Json.ReadAsync(await a.Client.GetAsync("/health"));
        Assert.Equal("redis", health.Str("store"));
        Assert.DoesNotContain(health.GetProperty("warnings").EnumerateArray(), w => w.GetString()!.Contains("Redis", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Every_instance_lists_every_gateway_with_a_checkpoint_that_gateway_signed()
    {
        // SPEC: /receipts/gateways lists every gateway id sharing the store with its checkpoint.
        // Another instance's entry had checkpoint null: an auditor had to find and ask each.
        await using var a = await StartAsync();
        await using var b = await StartAsync();
        await GatewayAssert.ExecutedAsync(await a.ExecuteAsync("echo", new { n = 1 }, "ck-1"));
        await GatewayAssert.ExecutedAsync(await a.ExecuteAsync("echo", new { n = 2 }, "ck-2"));
        var head = await Json.ReadAsync(await a.Client.GetAsync("/receipts/head"));
        var aId = head.Str("gateway");

        JsonElement entry = default;
        await RedisStores.EventuallyAsync(async () =>
        {
            var listed = await Json.ReadAsync(await b.Client.GetAsync("/receipts/gateways"));
            entry = listed.GetProperty("gateways").EnumerateArray().Single(g => g.Str("gateway") == aId);
            return entry.GetProperty("checkpoint").ValueKind == JsonValueKind.Object
                && entry.GetProperty("checkpoint").GetProperty("seq").GetInt64() == 2;
        }, "a's checkpoint of its two receipts listed by b");

        var checkpoint = Checkpoint.Parse(OpenExec.Core.Json.StrictJson.Parse(entry.GetProperty("checkpoint").GetRawText()));
        Assert.Equal(aId, checkpoint.Gateway);
        Assert.Equal(head.Str("hash"), checkpoint.Hash);
        Assert.Equal(head.Str("kid"), checkpoint.Kid);
        Assert.True(checkpoint.Verify(await Receipts.ReceiptEndpointTests.PublishedKeysAsync(b)), "the listed checkpoint verifies with a's published key");
    }

    [Fact]
    public async Task Without_redis_nothing_executes_and_service_resumes_when_it_returns()
    {
        await using var a = await StartAsync();
        await using var b = await StartAsync();
        var before = await a.ExecuteAsync("echo", new { msg = "hello" }, "before-kill");
        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        var beforeId = (await Json.ReadAsync(before)).Str("id");

        // Kill Redis while requests are in flight: each answer is an execution or a 503, never a lie.
        var inFlight = Enumerable.Range(0, 100).Select(i => Task.Run(async () =>
        {
            await Task.Delay(i);
            return await (i % 2 == 0 ? a : b).ExecuteAsync("echo", new { msg = "hello" }, $"mid-run-{i}");
        })).ToList();
        await Task.Delay(30);
        _redis.Kill();
        var midRun = await Task.WhenAll(inFlight);
        Assert.All(midRun, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.ServiceUnavailable }));
        var executedCount = 1 + midRun.Count(r => r.StatusCode == HttpStatusCode.OK);

        foreach (var gateway in new[] { a, b })
        {
            var refused = await gateway.ExecuteAsync("echo", new { msg = "hello" }, $"during-outage-{gateway.BaseAddress.Port}");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            var refusal = await Json.ReadAsync(refused);
            Assert.Equal("store_unavailable", refusal.Str("code"));
            Assert.Contains("nothing was executed", refusal.Str("detail"), StringComparison.Ordinal);
            // An auditor's read is told what could not be read, not that nothing was executed.
            foreach (var read in new[] { "/.well-known/openexec-keys", "/receipts/gateways" })
            {
                var unread = await gateway.Client.GetAsync(read);
                Assert.Equal(HttpStatusCode.ServiceUnavailable, unread.StatusCode);
                var problem = await Json.ReadAsync(unread);
                Assert.Equal(("store_unavailable", "The store is unavailable: receipts and keys cannot be read now. Retry later."), (problem.Str("code"), problem.Str("detail")));
            }
            var ready = await gateway.Client.GetAsync("/ready");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.False((await Json.ReadAsync(ready)).GetProperty("ready").GetBoolean());
        }
        Assert.Equal(executedCount, await ExecutedCountAsync(a, b));

        _redis.Restart();

        var attempt = 0;
        await RedisStores.EventuallyAsync(async () => (await b.ExecuteAsync("echo", new { msg = "hello" }, $"after-restart-{attempt++}")).StatusCode == HttpStatusCode.OK, "an execution after the restart");
        // Each instance reconnects on its own, without a restart.
        await RedisStores.EventuallyAsync(async () => (await a.Client.GetAsync("/ready")).StatusCode == HttpStatusCode.OK, "instance A ready again");
        var replay = await b.ExecuteAsync("echo", new { msg = "hello" }, "before-kill");
        Assert.Equal(HttpStatusCode.Conflict, replay.StatusCode);
        var denied = await Json.ReadAsync(replay);
        Assert.Equal("replay_denied", denied.Str("code"));
        Assert.Equal(beforeId, denied.GetProperty("original").Str("id"));
        // Executions that won their claim just before the kill are not re-opened either.
        foreach (var (response, i) in midRun.Select((r, i) => (r, i)).Where(x => x.r.StatusCode == HttpStatusCode.OK))
        {
            var again = await (i % 2 == 0 ? b : a).ExecuteAsync("echo", new { msg = "hello" }, $"mid-run-{i}");
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        }
        Assert.Equal(executedCount + 1, await ExecutedCountAsync(a, b));
    }

    [Fact]
    public async Task A_claim_whose_holder_died_reads_as_outcome_unknown_and_gets_one_receipt()
    {
        await using var a = await StartAsync();
        await using var b = await StartAsync();
        var store = a.Services.GetRequiredService<IExecutionStore>();
        var now = DateTimeOffset.UtcNow;
        var execId = Guid.NewGuid().ToString("N");
        // A holder that claimed, then died: its lease ran out without an outcome.
        var claim = new ClaimRequest(NonceHash.Compute("default", "orphan-1"), Governance.Hash("echo", Payload), null, execId, "echo", "default", now.AddMinutes(-2), TimeSpan.FromSeconds(-1));
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(claim, default)).Status);

        var first = await b.PostJsonAsync("/execute", Governance.Body("echo", Payload, "orphan-1", approvalJson: null));
        Assert.Equal(HttpStatusCode.Conflict, first.StatusCode);
        var original = (await Json.ReadAsync(first)).GetProperty("original");
        Assert.Equal(execId, original.Str("id"));
        Assert.Equal("outcome_unknown", original.Str("decision"));
        var receipt = original.Str("receipt");

        var second = await a.PostJsonAsync("/execute", Governance.Body("echo", Payload, "orphan-1", approvalJson: null));
        var again = (await Json.ReadAsync(second)).GetProperty("original");
        Assert.Equal("outcome_unknown", again.Str("decision"));
        Assert.Equal(receipt, again.Str("receipt"));

        var written = (await a.ReceiptsAsync()).Concat(await b.ReceiptsAsync())
            .Where(r => r.GetProperty("body").Str("exec_id") == execId).ToList();
        var only = Assert.Single(written);
        Assert.Equal("outcome_unknown", only.GetProperty("body").Str("decision"));
        Assert.Equal(receipt, only.Str("hash"));
        // The gateway that found it first wrote it, in its own chain.
        Assert.Contains(await b.ReceiptsAsync(), r => r.GetProperty("body").Str("exec_id") == execId);
        await RedisStores.EventuallyAsync(async () => (await a.Client.GetAsync($"/receipts/{execId}")).StatusCode == HttpStatusCode.OK, "the taker's receipt read from the other instance");
    }

    [Fact]
    public async Task A_claim_whose_holder_died_gets_its_receipt_even_if_its_nonce_never_comes_again()
    {
        // Only a look-up of the nonce took such a claim over: an attempt that ran (or may have)
        // under a killed instance had no receipt at all unless someone sent its nonce again.
        await using var a = await StartAsync();
        await using var b = await StartAsync();
        var store = a.Services.GetRequiredService<IExecutionStore>();
        var now = DateTimeOffset.UtcNow;
        var expired = Guid.NewGuid().ToString("N");
        var running = Guid.NewGuid().ToString("N");
        // Claimed by this gateway's previous process, whose lease ended longer ago than the sweep's grace.
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(new ClaimRequest(NonceHash.Compute("default", "swept-1"), Governance.Hash("echo", Payload), null, expired, "echo", "default", now.AddMinutes(-2), TimeSpan.FromSeconds(-20)), default)).Status);
        // One whose lease still runs is left to its holder.
        Assert.Equal(ClaimStatus.Claimed, (await store.ClaimAsync(new ClaimRequest(NonceHash.Compute("default", "swept-2"), Governance.Hash("echo", Payload), null, running, "echo", "default", now, TimeSpan.FromMinutes(10)), default)).Status);

        await RedisStores.EventuallyAsync(async () => (await a.Client.GetAsync($"/receipts/{expired}")).StatusCode == HttpStatusCode.OK, "the swept claim's receipt");

        var written = (await a.ReceiptsAsync()).Concat(await b.ReceiptsAsync()).Where(r => r.GetProperty("body").Str("exec_id") == expired).ToList();
        Assert.Equal("outcome_unknown", Assert.Single(written).GetProperty("body").Str("decision"));
        Assert.DoesNotContain((await a.ReceiptsAsync()).Concat(await b.ReceiptsAsync()), r => r.GetProperty("body").Str("exec_id") == running);
        // The nonce stays used, and reads as that receipt (once its outcome reached the claim).
        await RedisStores.EventuallyAsync(async () =>
        {
            var replay = await Json.ReadAsync(await b.PostJsonAsync("/execute", Governance.Body("echo", Payload, "swept-1", approvalJson: null)));
            Assert.Equal("outcome_unknown", replay.GetProperty("original").Str("decision"));
            return replay.GetProperty("original").GetProperty("receipt").ValueKind == System.Text.Json.JsonValueKind.String
                && replay.GetProperty("original").Str("receipt") == written[0].Str("hash");
        }, "the replay naming the swept receipt");
    }

    [Fact]
    public async Task A_gateway_started_while_redis_is_down_refuses_then_serves_when_it_comes_up()
    {
        _redis.Kill();
        await using var gateway = await StartAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await gateway.Client.GetAsync("/ready")).StatusCode);
        var refused = await gateway.ExecuteAsync("echo", new { msg = "hello" }, "cold-start");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("store_unavailable", (await Json.ReadAsync(refused)).Str("code"));

        _redis.Restart();

        await RedisStores.EventuallyAsync(async () => (await gateway.Client.GetAsync("/ready")).StatusCode == HttpStatusCode.OK, "ready once Redis is up");
        Assert.Equal(HttpStatusCode.OK, (await gateway.ExecuteAsync("echo", new { msg = "hello" }, "cold-start")).StatusCode);
    }

    [Fact]
    public async Task The_set_of_claims_a_gateway_holds_expires_with_its_newest_claim()
    {
        // Only the gateway's own sweep empties it: one that never runs again (its data dir gone)
        // left it in Redis forever, ~190 B per claim of its last minute or so.
        string gateway;
        await using (var a = await StartAsync())
        {
            var executed = await Json.ReadAsync(await a.PostJsonAsync("/execute", Governance.Body("echo", Payload, "held-ttl", approvalJson: null)));
            gateway = executed.GetProperty("receipt_document").GetProperty("body").Str("gateway");
        }
        using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var ttl = await redis.GetDatabase().KeyTimeToLiveAsync(RedisScripts.Held(gateway));
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, TimeSpan.FromDays(29), RedisExecutionStore.DefaultRetention + TimeSpan.FromHours(1));
    }

    [Fact]
    public async Task A_call_running_longer_than_the_nonce_retention_keeps_its_nonce_until_it_ends()
    {
        // The claim expired with the retention counted from the claim: a second call with the same
        // key, sent while the first still ran, found the nonce free and ran again.
        await using var backend = await SlowBackend.StartAsync(TimeSpan.FromSeconds(10));
        var settings = ProxyConfig.Route("slow", "slow_op", "v1", backend.Address.ToString());
        settings["ConnectionStrings:Redis"] = _redis.Configuration;
        settings["OpenExec:NonceRetention"] = "00:00:02";
        settings["OpenExec:MaxApprovalLifetime"] = "00:00:01";
        settings["OpenExec:ClockSkew"] = "00:00:00";
        await using var gateway = await GatewayServer.StartAsync(settings);
        HttpRequestMessage Call() => new(HttpMethod.Post, "/v1/op") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json"), Headers = { { "Idempotency-Key", "long-call" } } };

        var first = gateway.Client.SendAsync(Call());
        await backend.FirstCall.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(TimeSpan.FromSeconds(3.5));
        var second = await gateway.Client.SendAsync(Call());

        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Equal("in_progress", (await Json.ReadAsync(second)).Str("code"));
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        Assert.Equal(1, backend.Calls);
    }

    [Fact]
    public async Task A_malformed_redis_configuration_stops_start_up_naming_the_setting()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => GatewayServer.StartAsync(settings: new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = $"{_redis.Configuration},notAnOption=1" }));
        Assert.Contains("ConnectionStrings:Redis (OPENEXEC_REDIS)", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("redis://{0}")]
    [InlineData("rediss://:secret-pass@{0}/0")]
    public async Task A_redis_url_stops_start_up_saying_what_to_give_instead_and_never_its_text(string url)
    {
        // redis://host:6379 was read as the host "redis://host": start-up went on, /ready and
        // every request answered 503 for as long as it ran, and the log named the URL each retry.
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => GatewayServer.StartAsync(settings: new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = string.Format(System.Globalization.CultureInfo.InvariantCulture, url, _redis.Configuration) }));

        Assert.Contains("ConnectionStrings:Redis (OPENEXEC_REDIS)", error.Message, StringComparison.Ordinal);
        Assert.Contains("is a URL", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-pass", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_receipt_whose_predecessor_left_redis_with_the_retention_verifies_with_its_chain_unchecked()
    {
        await using var a = await StartAsync();
        await using var b = await StartAsync();
        await a.PostJsonAsync("/execute", Governance.Body("echo", Payload, "chain-first", approvalJson: null));
        var second = await Json.ReadAsync(await a.PostJsonAsync("/execute", Governance.Body("echo", Payload, "chain-second", approvalJson: null)));
        var id = second.Str("id");
        await RedisStores.EventuallyAsync(async () => (await b.Client.GetAsync($"/receipts/{id}")).StatusCode == HttpStatusCode.OK, "receipt copied");
        var triple = JsonSerializer.Serialize(new { exec_id = id, result = second.GetProperty("result").GetRawText(), receipt = second.Str("receipt") });

        var linked = await Json.ReadAsync(await b.PostJsonAsync("/receipts/verify", triple));
        Assert.True(linked.GetProperty("checks").GetProperty("chain").GetBoolean(), linked.GetRawText());

        // The retention takes the oldest copies out of their chain in Redis: the one before goes.
        var body = second.GetProperty("receipt_document").GetProperty("body");
        var seq = body.GetProperty("seq").GetInt64();
        using (var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Configuration))
        {
            Assert.Equal(1, await redis.GetDatabase().SortedSetRemoveRangeByScoreAsync(RedisScripts.Chain(body.Str("gateway")), seq - 1, seq - 1));
        }

        // Authentic all the same: the link cannot be checked here any more, which is not a break.
        var unlinked = await Json.ReadAsync(await b.PostJsonAsync("/receipts/verify", triple));
        Assert.True(unlinked.GetProperty("valid").GetBoolean(), unlinked.GetRawText());
        Assert.Equal(JsonValueKind.Null, unlinked.GetProperty("checks").GetProperty("chain").ValueKind);
    }

    [Fact]
    public async Task A_receipt_whose_predecessors_copy_was_altered_in_redis_does_not_verify_its_chain()
    {
        // The chain check compared prev with the hash the predecessor's copy states, not with the
        // hash of what that copy says: a copy altered in Redis with its stated hash kept linked.
        await using var a = await StartAsync();
        await using var b = await StartAsync();
        await a.PostJsonAsync("/execute", Governance.Body("echo", Payload, "altered-first", approvalJson: null));
        var second = await Json.ReadAsync(await a.PostJsonAsync("/execute", Governance.Body("echo", Payload, "altered-second", approvalJson: null)));
        var id = second.Str("id");
        await RedisStores.EventuallyAsync(async () => (await b.Client.GetAsync($"/receipts/{id}")).StatusCode == HttpStatusCode.OK, "receipt copied");
        var triple = JsonSerializer.Serialize(new { exec_id = id, result = second.GetProperty("result").GetRawText(), receipt = second.Str("receipt") });
        var body = second.GetProperty("receipt_document").GetProperty("body");
        var seq = body.GetProperty("seq").GetInt64();
        var chain = RedisScripts.Chain(body.Str("gateway"));
        using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var db = redis.GetDatabase();
        var before = Assert.Single(await db.SortedSetRangeByScoreAsync(chain, seq - 1, seq - 1)).ToString();
        var altered = before.Replace("\"decision\":\"executed\"", "\"decision\":\"rejected\"", StringComparison.Ordinal);
        Assert.NotEqual(before, altered);
        await db.SortedSetRemoveRangeByScoreAsync(chain, seq - 1, seq - 1);
        await db.SortedSetAddAsync(chain, altered, seq - 1);

        var verified = await Json.ReadAsync(await b.PostJsonAsync("/receipts/verify", triple));
        Assert.False(verified.GetProperty("checks").GetProperty("chain").GetBoolean(), verified.GetRawText());
        Assert.False(verified.GetProperty("valid").GetBoolean(), verified.GetRawText());
    }

    [Fact]
    public async Task A_gateway_whose_data_dir_lost_receipts_that_Redis_holds_signs_no_checkpoint_and_lists_its_chain_whole()
    {
        var dataDir = TempDir.Create();
        try
        {
            var settings = new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = _redis.Configuration };
            string gateway;
            await using (var first = await GatewayServer.StartAsync(settings, dataDir: dataDir))
            {
                for (var i = 0; i < 5; i++)
                {
                    Assert.Equal(HttpStatusCode.OK, (await first.ExecuteAsync("echo", new { i }, $"before-{i}")).StatusCode);
                }
                gateway = (await Json.ReadAsync(await first.Client.GetAsync("/receipts/head"))).Str("gateway");
                await RedisStores.EventuallyAsync(async () =>
                {
                    using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
                    return await redis.GetDatabase().SortedSetLengthAsync(RedisScripts.Chain(gateway)) == 5;
                }, "copied");
            }
            // The data dir goes back to a state with two receipts (an earlier backup restored).
            using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, "openexec.db")};Pooling=False"))
            {
                c.Open();
                using var cmd = c.CreateCommand();
                cmd.CommandText = "DELETE FROM receipts WHERE seq > 2";
                cmd.ExecuteNonQuery();
            }

            await using var restored = await GatewayServer.StartAsync(settings, dataDir: dataDir);

            // A checkpoint at seq 2 would certify the cut tail that checkpoints exist to reveal.
            var head = await restored.Client.GetAsync("/receipts/head");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, head.StatusCode);
            Assert.Equal("store_unavailable", (await Json.ReadAsync(head)).Str("code"));
            var entry = Assert.Single((await Json.ReadAsync(await restored.Client.GetAsync("/receipts/gateways"))).GetProperty("gateways").EnumerateArray());
            Assert.Equal(5, entry.GetProperty("seq").GetInt64());
            Assert.Equal(JsonValueKind.Null, entry.GetProperty("checkpoint").ValueKind);
            // Its chain is listed whole: what the ledger kept, then Redis's copy beyond it (Redis's
            // copies expire: here those of seqs 1 and 2 have).
            using (var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Configuration))
            {
                Assert.Equal(2, await redis.GetDatabase().SortedSetRemoveRangeByScoreAsync(RedisScripts.Chain(gateway), 1, 2));
            }
            Assert.Equal(new long[] { 1, 2, 3, 4, 5 }, (await restored.ReceiptsAsync()).Select(r => r.GetProperty("body").GetProperty("seq").GetInt64()));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await restored.ExecuteAsync("echo", new { i = 9 }, "after")).StatusCode);
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    [Fact]
    public async Task A_stopped_instance_releases_its_data_dir_at_once()
    {
        var dataDir = TempDir.Create();
        try
        {
            var settings = new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = _redis.Configuration };
            await using (var first = await GatewayServer.StartAsync(settings, dataDir: dataDir))
            {
                Assert.Equal(HttpStatusCode.OK, (await first.ExecuteAsync("echo", new { i = 1 }, "release-1")).StatusCode);
            }
            await using var second = await GatewayServer.StartAsync(settings, dataDir: dataDir);
            Assert.Equal(HttpStatusCode.OK, (await second.ExecuteAsync("echo", new { i = 2 }, "release-2")).StatusCode);
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    [Fact]
    public async Task A_copy_of_a_data_dir_running_beside_it_stops_at_the_first_receipt_that_forks_the_chain()
    {
        // Two processes with one gateway id (a data dir copied while stopped) each sign their own
        // receipt at the same seq; Redis took both, and an exec id's receipt could read as another's.
        var dataDir = TempDir.Create();
        var copy = TempDir.Create();
        try
        {
            var settings = new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = _redis.Configuration };
            await using (var earlier = await GatewayServer.StartAsync(settings, dataDir: dataDir))
            {
                Assert.Equal(HttpStatusCode.OK, (await earlier.ExecuteAsync("echo", new { i = 0 }, "fork-before")).StatusCode);
                var id = (await Json.ReadAsync(await earlier.Client.GetAsync("/receipts/head"))).Str("gateway");
                await RedisStores.EventuallyAsync(async () =>
                {
                    using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
                    return await redis.GetDatabase().SortedSetLengthAsync(RedisScripts.Chain(id)) == 1;
                }, "copied");
            }
            foreach (var file in Directory.GetFiles(dataDir).Where(f => Path.GetFileName(f) != "gateway.lock"))
            {
                File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
            }
            await using var original = await GatewayServer.StartAsync(settings, dataDir: dataDir);
            await using var twin = await GatewayServer.StartAsync(settings, dataDir: copy);
            var gateway = (await Json.ReadAsync(await original.Client.GetAsync("/receipts/head"))).Str("gateway");
            Assert.Equal(gateway, (await Json.ReadAsync(await twin.Client.GetAsync("/receipts/head"))).Str("gateway"));

            var first = await Json.ReadAsync(await original.ExecuteAsync("echo", new { i = 1 }, "fork-original"));
            await RedisStores.EventuallyAsync(async () =>
            {
                using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
                return await redis.GetDatabase().SortedSetLengthAsync(RedisScripts.Chain(gateway)) == 2;
            }, "the original's seq 2 copied");
            var second = await Json.ReadAsync(await twin.ExecuteAsync("echo", new { i = 2 }, "fork-twin"));
            Assert.Equal(first.GetProperty("receipt_document").GetProperty("body").GetProperty("seq").GetInt64(), second.GetProperty("receipt_document").GetProperty("body").GetProperty("seq").GetInt64());

            // The twin's copy of its seq 2 meets the original's: it signs and claims nothing more, and says why.
            await RedisStores.EventuallyAsync(async () => (await twin.ExecuteAsync("echo", new { i = 3 }, $"fork-after-{Guid.NewGuid():N}")).StatusCode == HttpStatusCode.ServiceUnavailable, "the twin stopped");
            var health = await Json.ReadAsync(await twin.Client.GetAsync("/health"));
            Assert.Contains(health.GetProperty("warnings").EnumerateArray(), w => w.GetString()!.Contains("a second process signs it", StringComparison.Ordinal));
            using (var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Configuration))
            {
                Assert.Equal(2, await redis.GetDatabase().SortedSetLengthAsync(RedisScripts.Chain(gateway)));
            }
            // Each exec id still reads as its own receipt, from either process; the original goes on.
            var read = await Json.ReadAsync(await twin.Client.GetAsync($"/receipts/{first.Str("id")}"));
            Assert.Equal(first.Str("id"), read.GetProperty("body").Str("exec_id"));
            Assert.Equal(HttpStatusCode.OK, (await original.ExecuteAsync("echo", new { i = 4 }, "fork-goes-on")).StatusCode);
        }
        finally
        {
            TempDir.Delete(dataDir);
            TempDir.Delete(copy);
        }
    }

    [Fact]
    public async Task Another_gateways_receipts_whose_copies_expired_are_refused_as_gone_not_listed_as_a_shorter_chain()
    {
        await using var a = await StartAsync();
        await using var b = await StartAsync();
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await a.ExecuteAsync("echo", new { i }, $"expiring-{i}")).StatusCode);
        }
        var gateway = (await Json.ReadAsync(await a.Client.GetAsync("/receipts/head"))).Str("gateway");
        using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        await RedisStores.EventuallyAsync(async () => await redis.GetDatabase().SortedSetLengthAsync(RedisScripts.Chain(gateway)) == 3, "copied");
        var whole = await b.Client.GetAsync($"/receipts?gateway={gateway}");
        Assert.Equal(3, (await whole.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        // The retention takes the oldest copies out of the chain in Redis: seqs 1 and 2 go. An
        // auditor asking b for the chain from its start gets no chain that begins at seq 3.
        Assert.Equal(2, await redis.GetDatabase().SortedSetRemoveRangeByScoreAsync(RedisScripts.Chain(gateway), 1, 2));
        var gone = await GatewayAssert.ProblemAsync(await b.Client.GetAsync($"/receipts?gateway={gateway}"), HttpStatusCode.Gone, "receipts_expired");
        Assert.Contains("the first kept is seq 3 (ask with after=2)", gone.Str("detail"), StringComparison.Ordinal);
        await GatewayAssert.ProblemAsync(await b.Client.GetAsync($"/receipts?gateway={gateway}&after=1"), HttpStatusCode.Gone, "receipts_expired");
        var rest = await b.Client.GetAsync($"/receipts?gateway={gateway}&after=2");
        Assert.Equal(HttpStatusCode.OK, rest.StatusCode);
        Assert.Single((await rest.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries));

        // The whole copy gone, its head still listed: not an empty chain either.
        Assert.Equal(1, await redis.GetDatabase().SortedSetRemoveRangeByScoreAsync(RedisScripts.Chain(gateway), 3, 3));
        await GatewayAssert.ProblemAsync(await b.Client.GetAsync($"/receipts?gateway={gateway}"), HttpStatusCode.Gone, "receipts_expired");
        // Past its head there is nothing to keep: an empty page, as for any chain's end.
        var end = await b.Client.GetAsync($"/receipts?gateway={gateway}&after=3");
        Assert.Equal(HttpStatusCode.OK, end.StatusCode);
        Assert.Equal("", await end.Content.ReadAsStringAsync());
        // The gateway itself still lists its whole chain from its ledger.
        Assert.Equal(3, (await a.ReceiptsAsync()).Count);
    }

    [Fact]
    public async Task A_receipt_signed_with_one_instances_key_that_names_another_instance_does_not_verify_anywhere()
    {
        await using var a = await StartAsync();
        await using var b = await StartAsync();
        var fromA = await Json.ReadAsync(await a.ExecuteAsync("echo", new { i = 1 }, "bound-a"));
        var fromB = await Json.ReadAsync(await b.ExecuteAsync("echo", new { i = 2 }, "bound-b"));
        var documentA = ReceiptDocument.Parse(OpenExec.Core.Json.StrictJson.Parse(System.Text.Encoding.UTF8.GetBytes(fromA.GetProperty("receipt_document").GetRawText())));
        var gatewayB = fromB.GetProperty("receipt_document").GetProperty("body").Str("gateway");
        // Each instance registers its keys before it copies its first receipt.
        await RedisStores.EventuallyAsync(async () => (await b.Client.GetAsync($"/receipts/{documentA.Body.ExecId}")).StatusCode == HttpStatusCode.OK, "copied");
        await RedisStores.EventuallyAsync(async () => (await a.Client.GetAsync($"/receipts/{fromB.Str("id")}")).StatusCode == HttpStatusCode.OK, "copied");

        // Each instance's key is listed with the gateway that signs with it, by every instance.
        foreach (var at in new[] { a, b })
        {
            var keys = (await Json.ReadAsync(await at.Client.GetAsync("/.well-known/openexec-keys"))).GetProperty("keys").EnumerateArray()
                .ToDictionary(k => k.Str("kid"), k => k.GetProperty("gateways").EnumerateArray().Select(g => g.GetString()).ToList());
            Assert.Equal([documentA.Body.Gateway], keys[documentA.Kid]);
            Assert.Equal([gatewayB], keys[fromB.GetProperty("receipt_document").Str("kid")]);
        }

        // a's key (stolen) signs a receipt that names b's chain: neither instance verifies it.
        using var keyA = ReceiptSigningKey.FromPem(File.ReadAllText(Path.Combine(a.DataDir, "receipt-signing-key.pem")));
        var forged = ReceiptBatchSigner.Sign(keyA, [documentA.Body with { Gateway = gatewayB, ExecId = "exec-forged" }])[0];
        var request = "{\"receipt_document\":" + forged.ToJson() + "}";
        foreach (var at in new[] { a, b })
        {
            var checks = (await Json.ReadAsync(await at.PostJsonAsync("/receipts/verify", request))).GetProperty("checks");
            Assert.True(checks.GetProperty("hash").GetBoolean());
            Assert.False(checks.GetProperty("signature").GetBoolean());
        }
    }

    [Fact]
    public async Task A_key_listed_before_keys_were_bound_stays_any_gateways_when_another_instance_shares_its_file()
    {
        await using var a = await StartAsync();
        var fromA = await Json.ReadAsync(await a.ExecuteAsync("echo", new { i = 1 }, "legacy-a"));
        using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        await RedisStores.EventuallyAsync(async () => await redis.GetDatabase().HashLengthAsync(RedisScripts.Keys) > 0 && await redis.GetDatabase().KeyExistsAsync(RedisScripts.Receipt(fromA.Str("id"))), "copied");
        // As a gateway from before keys were bound left it: the key listed, no gateway with it.
        await redis.GetDatabase().KeyDeleteAsync(RedisScripts.Signers);

        // Another instance given the same key file registers it: it must not take the key for its
        // own alone, or every receipt the first signed would fail for good once it is retired.
        await using var b = await GatewayServer.StartAsync(settings: new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = _redis.Configuration,
            ["OpenExec:ReceiptKeyPath"] = Path.Combine(a.DataDir, "receipt-signing-key.pem"),
        });
        var fromB = await Json.ReadAsync(await b.ExecuteAsync("echo", new { i = 2 }, "legacy-b"));
        await RedisStores.EventuallyAsync(async () => (await a.Client.GetAsync($"/receipts/{fromB.Str("id")}")).StatusCode == HttpStatusCode.OK, "copied");

        var key = Assert.Single((await Json.ReadAsync(await b.Client.GetAsync("/.well-known/openexec-keys"))).GetProperty("keys").EnumerateArray());
        Assert.False(key.TryGetProperty("gateways", out _), key.GetRawText());
        var request = "{\"receipt_document\":" + fromA.GetProperty("receipt_document").GetRawText() + "}";
        var verified = await Json.ReadAsync(await b.PostJsonAsync("/receipts/verify", request));
        Assert.True(verified.GetProperty("valid").GetBoolean(), verified.GetRawText());
    }

    [Fact]
    public async Task A_key_written_into_redis_that_no_gateway_could_sign_with_is_not_listed()
    {
        // Whoever reaches Redis could list the identity point as a key (under its own kid): the
        // README's OpenSSL verifier then took R = identity, S = 0 as a valid signature of any
        // receipt. Listed too was a key under another key's fingerprint.
        await using var gateway = await StartAsync();
        await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { i = 1 }, "weak-1"));
        using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        var identity = new byte[32];
        identity[0] = 1;
        var db = redis.GetDatabase();
        await db.HashSetAsync(RedisScripts.Keys, KeyId.ForRaw(identity), Base64Url.Encode(identity));
        using var other = ReceiptSigningKey.Generate();
        await db.HashSetAsync(RedisScripts.Keys, "0123456789abcdef", Base64Url.Encode(other.PublicKeyRaw));
        using var honest = ReceiptSigningKey.Generate();
        await db.HashSetAsync(RedisScripts.Keys, honest.Kid, Base64Url.Encode(honest.PublicKeyRaw));

        var kids = (await Json.ReadAsync(await gateway.Client.GetAsync("/.well-known/openexec-keys"))).GetProperty("keys").EnumerateArray().Select(k => k.Str("kid")).ToList();
        Assert.DoesNotContain(KeyId.ForRaw(identity), kids);
        Assert.DoesNotContain("0123456789abcdef", kids);
        Assert.Contains(honest.Kid, kids);
    }

    [Fact]
    public async Task An_exec_ids_receipt_pointed_at_another_attempts_copy_in_redis_is_not_served_as_its_own()
    {
        // Whoever reaches Redis could point one exec id's receipt entry at another attempt's copy:
        // GET /receipts/{A} served B's document, and the triple {A, B's result, B's hash} verified.
        await using var a = await StartAsync();
        await using var b = await StartAsync();
        var first = await Json.ReadAsync(await b.ExecuteAsync("echo", new { i = 1 }, "misfiled-1"));
        var second = await Json.ReadAsync(await b.ExecuteAsync("echo", new { i = 2 }, "misfiled-2"));
        var secondDoc = second.GetProperty("receipt_document");
        var body = secondDoc.GetProperty("body");
        var firstId = first.Str("id");
        await RedisStores.EventuallyAsync(async () => (await a.Client.GetAsync($"/receipts/{second.Str("id")}")).StatusCode == HttpStatusCode.OK, "receipt copied");
        using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        await redis.GetDatabase().StringSetAsync(RedisScripts.Receipt(firstId), $"{body.Str("gateway")} {body.GetProperty("seq").GetInt64()}");

        // Through another instance (its ledger does not hold the first receipt): not found.
        var served = await a.Client.GetAsync($"/receipts/{firstId}");
        Assert.Equal(HttpStatusCode.NotFound, served.StatusCode);
        var triple = JsonSerializer.Serialize(new { exec_id = firstId, result = second.GetProperty("result").GetRawText(), receipt = second.Str("receipt") });
        var verified = await Json.ReadAsync(await a.PostJsonAsync("/receipts/verify", triple));
        Assert.False(verified.GetProperty("valid").GetBoolean(), verified.GetRawText());
        // Through the instance that wrote it: its own receipt, from its ledger.
        var own = await Json.ReadAsync(await b.Client.GetAsync($"/receipts/{firstId}"));
        Assert.Equal(firstId, own.GetProperty("body").Str("exec_id"));
        Assert.Equal(first.Str("receipt"), own.Str("hash"));
    }

    [Fact]
    public async Task A_call_still_running_reads_in_progress_after_its_gateways_clock_steps_past_its_lease()
    {
        // The lease (backend timeout + 30 s) was a time on the gateway's clock: stepped 150 s
        // ahead 2 s into a call with a 120 s lease, the same process answered the same nonce with
        // 409 replay_denied, original outcome_unknown, and wrote an outcome_unknown receipt for a
        // call it was still running. Leases run on Redis's clock now.
        await using var backend = await SlowBackend.StartAsync(TimeSpan.FromSeconds(4));
        var clock = new SteppedClock();
        var settings = ProxyConfig.Route("slow", "slow_op", "slow", backend.Address.ToString(), executePath: "/run");
        settings["OpenExec:BackendTimeout"] = "00:01:30";
        settings["ConnectionStrings:Redis"] = _redis.Configuration;
        await using var gateway = await GatewayServer.StartAsync(settings, time: clock);
        var body = Governance.Body("slow_op", "{}", "stepped-1", approvalJson: null);

        var call = gateway.PostJsonAsync("/execute", body);
        await backend.FirstCall.WaitAsync(TimeSpan.FromSeconds(10));
        clock.Offset = TimeSpan.FromSeconds(150);
        var during = await gateway.PostJsonAsync("/execute", body);
        var duringJson = await Json.ReadAsync(during);
        clock.Offset = TimeSpan.Zero;

        Assert.Equal(HttpStatusCode.Conflict, during.StatusCode);
        Assert.Equal(("in_progress", "in_progress"), (duringJson.Str("code"), duringJson.GetProperty("original").Str("decision")));
        var answer = await call;
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var id = (await Json.ReadAsync(answer)).Str("id");
        var decisions = (await gateway.ReceiptsAsync()).Where(r => r.GetProperty("body").Str("exec_id") == id).Select(r => r.GetProperty("body").Str("decision"));
        Assert.Equal(["executed"], decisions);
        Assert.Equal(1, backend.Calls);
    }

    [Fact]
    public async Task A_call_that_ran_while_its_instance_was_cut_off_from_redis_keeps_its_executed_receipt_after_another_instance_took_its_claim_over()
    {
        // A's Redis link fails while its call runs; A answers 200 with its receipt, whose copy waits
        // for the link. Past the claim's lease B takes the claim over (outcome_unknown). A's copy
        // then lands, and used to be refused for good: GET /receipts/{id} named B's
        // outcome_unknown everywhere, the agent's triple did not verify, every replay said
        // outcome_unknown, although the call was known to have run.
        await using var backend = await SlowBackend.StartAsync(TimeSpan.FromSeconds(3));
        using var link = RedisLink.To(_redis);
        var route = ProxyConfig.Route("slow", "slow_op", "slow", backend.Address.ToString(), executePath: "/run");
        await using var a = await GatewayServer.StartAsync(new Dictionary<string, string?>(route) { ["ConnectionStrings:Redis"] = link.Configuration });
        await using var b = await GatewayServer.StartAsync(new Dictionary<string, string?>(route) { ["ConnectionStrings:Redis"] = _redis.Configuration });
        var body = Governance.Body("slow_op", "{}", "rb1", approvalJson: null);

        var call = a.PostJsonAsync("/execute", body);
        await backend.FirstCall.WaitAsync(TimeSpan.FromSeconds(10));
        link.Cut();
        var answer = await call;
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var executed = await Json.ReadAsync(answer);
        var id = executed.Str("id");
        // The claim's lease (backend timeout + 30 s, on Redis's clock) passes while A is cut off:
        // ended here rather than waited for.
        using (var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(_redis.Configuration))
        {
            await admin.GetDatabase().HashSetAsync(RedisScripts.Nonce(NonceHash.Compute("default", "rb1")), "lease", 0);
        }

        var takenOver = await Json.ReadAsync(await b.PostJsonAsync("/execute", body));
        Assert.Equal("replay_denied", takenOver.Str("code"));
        Assert.Equal((id, "outcome_unknown"), (takenOver.GetProperty("original").Str("id"), takenOver.GetProperty("original").Str("decision")));
        var unknown = takenOver.GetProperty("original").Str("receipt");
        await RedisStores.EventuallyAsync(async () => (await Json.ReadAsync(await b.Client.GetAsync($"/receipts/{id}"))).Str("hash") == unknown, "the takeover's receipt copied");

        link.Restore();

        var triple = JsonSerializer.Serialize(new { exec_id = id, result = executed.GetProperty("result").GetRawText(), receipt = executed.Str("receipt") });
        foreach (var gateway in new[] { b, a })
        {
            await RedisStores.EventuallyAsync(async () => (await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{id}"))).Str("hash") == executed.Str("receipt"), "the executed receipt named for its exec id", seconds: 30);
            var verified = await Json.ReadAsync(await gateway.PostJsonAsync("/receipts/verify", triple));
            Assert.True(verified.GetProperty("valid").GetBoolean(), verified.GetRawText());
            var replay = await Json.ReadAsync(await gateway.PostJsonAsync("/execute", body));
            Assert.Equal("replay_denied", replay.Str("code"));
            Assert.Equal((id, "executed", executed.Str("receipt")), (replay.GetProperty("original").Str("id"), replay.GetProperty("original").Str("decision"), replay.GetProperty("original").Str("receipt")));
        }
        // Nothing ran twice, and B's outcome_unknown stays in its chain: it did not know then.
        Assert.Equal(1, backend.Calls);
        Assert.Contains(await b.ReceiptsAsync(), r => r.GetProperty("body").Str("exec_id") == id && r.GetProperty("body").Str("decision") == "outcome_unknown" && r.Str("hash") == unknown);
    }

    public void Dispose() => _redis.Dispose();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_call_whose_gateway_was_held_up_between_its_claim_and_the_send_is_never_sent(bool execute)
    {
        // The claim's answer came in time, then the process was paused (a VM suspended, a GC)
        // before the call left: it went out once the process resumed, after another instance
        // could have taken the claim over as outcome_unknown and an agent run it again.
        using var backend = new RecordingBackend();
        var clock = new HeldClock();
        var settings = ProxyConfig.Route("r", "op", "v1", backend.Address, executePath: "/v1/op");
        // Redis is paused longer than the 2 s default timeout would allow.
        settings["ConnectionStrings:Redis"] = _redis.Configuration + ",asyncTimeout=15000,syncTimeout=15000";
        await using var gateway = await GatewayServer.StartAsync(settings, time: clock);
        HttpRequestMessage Proxied(string key) => new(HttpMethod.Post, "/v1/op") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json"), Headers = { { "Idempotency-Key", key } } };
        Task<HttpResponseMessage> Call(string key = "held-1") => execute ? gateway.PostJsonAsync("/execute", Governance.Body("op", "{}", key, approvalJson: null)) : gateway.Client.SendAsync(Proxied(key));
        // A first call warms the path up, so the held one reaches its claim well within the wait below.
        using (var warm = await Call("warm-1"))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        }

        Task<HttpResponseMessage> held;
        _redis.Pause();
        try
        {
            held = Call();
            await Task.Delay(TimeSpan.FromSeconds(2)); // the claim is on its way to Redis
            clock.Held = TimeSpan.FromSeconds(25); // and the process is held up that long meanwhile
        }
        finally
        {
            _redis.Resume();
        }
        using var response = await held;

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var problem = await Json.ReadAsync(response);
        Assert.Equal("upstream_failed", problem.Str("code"));
        Assert.Equal(1, backend.Requests);
        var receipt = (await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{problem.Str("id")}"))).GetProperty("body");
        Assert.Equal(("upstream_failed", JsonValueKind.Null), (receipt.Str("decision"), receipt.GetProperty("upstream_status").ValueKind));

        // Nothing was sent, so the claim was released: the same request runs, once.
        using var again = await Call();
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(2, backend.Requests);
    }

    /// <summary>The system clock, its wall time and timestamps both moved on by <see cref="Held"/>: a process held up that long.</summary>
    private sealed class HeldClock : TimeProvider
    {
        private long _heldTicks;

        public TimeSpan Held
        {
            get => TimeSpan.FromTicks(Volatile.Read(ref _heldTicks));
            set => Volatile.Write(ref _heldTicks, value.Ticks);
        }

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Held;

        public override long GetTimestamp() => base.GetTimestamp() + (long)(Held.TotalSeconds * TimestampFrequency);
    }

    private Task<GatewayServer> StartAsync()
        => GatewayServer.StartAsync(settings: new Dictionary<string, string?> { ["ConnectionStrings:Redis"] = _redis.Configuration });

    private static async Task<int> ExecutedCountAsync(GatewayServer a, GatewayServer b)
        => (await a.ReceiptsAsync()).Concat(await b.ReceiptsAsync()).Count(r => r.GetProperty("body").Str("decision") == "executed");
}
