using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using NSec.Cryptography;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Receipts;

/// <summary>
/// The Witness (SPEC sections 2 and 6): every attempt past input validation leaves one receipt
/// that can be read, exported in chain order, checkpointed and verified by a third party, and
/// no receipt or stored byte holds a payload, result or nonce in clear.
/// </summary>
public sealed class ReceiptEndpointTests
{
    [Fact]
    public async Task Each_attempt_past_input_validation_leaves_exactly_one_receipt()
    {
        await using var gateway = await GatewayServer.StartAsync();

        var executed = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { msg = "a" }, "n-1"));
        var replay = await GatewayAssert.ProblemAsync(await gateway.ExecuteAsync("echo", new { msg = "a" }, "n-1"), HttpStatusCode.Conflict, "replay_denied");
        var reused = await GatewayAssert.ProblemAsync(await gateway.ExecuteAsync("echo", new { msg = "b" }, "n-1"), (HttpStatusCode)422, "nonce_reused");
        await GatewayAssert.ProblemAsync(await gateway.ExecuteAsync("echo", new { msg = "c" }, ""), HttpStatusCode.BadRequest, "invalid_nonce");
        await GatewayAssert.ProblemAsync(await gateway.ExecuteAsync("nope", new { }, "n-2"), HttpStatusCode.BadRequest, "unknown_action");
        await GatewayAssert.ProblemAsync(await gateway.ExecuteAsync("add", new { a = "x" }, "n-3"), HttpStatusCode.BadRequest, "invalid_payload");
        var added = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("add", new { a = 1 }, "n-4"));

        var receipts = await gateway.ReceiptsAsync();

        Assert.Equal(["executed", "replay_denied", "nonce_reused", "executed"], receipts.Select(r => r.GetProperty("body").Str("decision")));
        Assert.Equal([executed.Str("id"), replay.Str("id"), reused.Str("id"), added.Str("id")], receipts.Select(r => r.GetProperty("body").Str("exec_id")));
        Assert.Equal([executed.Str("receipt"), replay.Str("receipt"), reused.Str("receipt"), added.Str("receipt")], receipts.Select(r => r.Str("hash")));
        Assert.True(receipts[0].GetProperty("body").IsNull("code"));
        Assert.Equal("canonical", receipts[0].GetProperty("body").Str("result_form"));
        Assert.Matches("^[0-9a-f]{64}$", receipts[0].GetProperty("body").Str("result_sha256"));
        Assert.True(receipts[1].GetProperty("body").IsNull("result_sha256"));
    }

    [Fact]
    public async Task Receipt_by_exec_id_is_the_document_the_execution_answered_with()
    {
        await using var gateway = await GatewayServer.StartAsync();
        var executed = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { msg = "é ✓ <tag>" }, "n-1"));

        var response = await gateway.Client.GetAsync($"/receipts/{executed.Str("id")}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var stored = await response.Content.ReadAsStringAsync();
        var document = JsonDocument.Parse(stored).RootElement;
        Assert.True(JsonElement.DeepEquals(executed.GetProperty("receipt_document"), document), stored);
        Assert.Equal(executed.Str("id"), document.GetProperty("body").Str("exec_id"));
        Assert.Equal(stored.TrimEnd('\n'), executed.GetProperty("receipt_document").GetRawText());
    }

    [Fact]
    public async Task A_receipt_is_one_text_in_the_execute_answer_and_in_the_store_whatever_its_tenant_holds()
    {
        // A tenant with characters a JSON writer may escape ('+', '<', non-ASCII): the answer's
        // document was written with escapes the stored one has not (the same values, another text).
        const string Tenant = "t\u00e9nant+<1>";
        using var governance = new Pipeline.Governance();
        await using var gateway = await GatewayServer.StartAsync(environment: governance.Environment(tenant: Tenant));
        const string Payload = """{"msg":"é ✓ <tag> a+b"}""";
        var approval = governance.Approve("echo", Payload, DateTimeOffset.UtcNow, tenant: Tenant);
        var answer = await gateway.PostJsonAsync("/execute", Pipeline.Governance.Body("echo", Payload, "n-tenant", approval));
        var executed = await GatewayAssert.ExecutedAsync(answer);

        var stored = await gateway.Client.GetStringAsync($"/receipts/{executed.Str("id")}");

        Assert.Equal(Tenant, executed.GetProperty("receipt_document").GetProperty("body").Str("tenant"));
        Assert.Equal(stored.TrimEnd('\n'), executed.GetProperty("receipt_document").GetRawText());
    }

    [Theory]
    [InlineData("ex_0000000000000000000000000000000")]
    [InlineData("not-an-id")]
    public async Task Unknown_exec_id_is_404_receipt_not_found(string execId)
    {
        await using var gateway = await GatewayServer.StartAsync();
        await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { }, "n-1"));

        await GatewayAssert.ProblemAsync(await gateway.Client.GetAsync($"/receipts/{execId}"), HttpStatusCode.NotFound, "receipt_not_found");
    }

    [Fact]
    public async Task Verify_answers_405_to_anything_but_POST()
    {
        await using var gateway = await GatewayServer.StartAsync();

        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Put, HttpMethod.Delete })
        {
            var response = await gateway.Client.SendAsync(new HttpRequestMessage(method, "/receipts/verify"));
            await GatewayAssert.ProblemAsync(response, HttpStatusCode.MethodNotAllowed, "method_not_allowed");
        }
    }

    [Fact]
    public async Task Unknown_kids_share_key_reloads_and_a_key_registered_after_the_ask_is_still_found()
    {
        FlakyStore? store = null;
        await using var gateway = await GatewayServer.StartAsync(configure: builder =>
            builder.Services.AddSingleton<OpenExec.Gateway.Store.IExecutionStore>(sp => store = new FlakyStore(sp.GetRequiredService<OpenExec.Gateway.Store.SqliteExecutionStore>()) { KeyListingDelay = TimeSpan.FromSeconds(2) }));
        await using var other = await GatewayServer.StartAsync();
        var answer = await Json.ReadAsync(await gateway.ExecuteAsync("echo", new { msg = "kid" }, "kid-1"));
        var document = JsonNode.Parse(answer.GetProperty("receipt_document").GetRawText())!;
        var elsewhere = JsonNode.Parse((await Json.ReadAsync(await other.ExecuteAsync("echo", new { msg = "kid" }, "kid-2"))).GetProperty("receipt_document").GetRawText())!;
        var otherKey = (await Json.ReadAsync(await other.Client.GetAsync("/.well-known/openexec-keys"))).GetProperty("keys")[0];
        static Task<HttpResponseMessage> Verify(GatewayServer at, JsonNode document)
            => at.PostJsonAsync("/receipts/verify", new JsonObject { ["receipt_document"] = document.DeepClone() }.ToJsonString());
        var before = store!.KeyListings;

        // 40 verifications naming kids nobody has, at once: a reload each would be 40 store reads.
        var forged = Enumerable.Range(0, 40).Select(i =>
        {
            var copy = document.DeepClone();
            copy["kid"] = $"{i:x16}";
            return Verify(gateway, copy);
        }).ToList();
        // Meanwhile another instance registers its key, after the reload under way read the list:
        // a receipt it signed, asked for now, is checked against a list read after the ask.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Volatile.Read(ref store.KeyListings) == before)
        {
            Assert.True(DateTime.UtcNow < deadline, "no key reload started");
            await Task.Delay(10);
        }
        store.OtherKeys.Enqueue(new OpenExec.Gateway.Store.SigningKeyRecord(otherKey.Str("kid"), otherKey.Str("x"), [elsewhere["body"]!["gateway"]!.GetValue<string>()]));
        var late = await Json.ReadAsync(await Verify(gateway, elsewhere));

        Assert.True(late.GetProperty("valid").GetBoolean(), late.GetRawText());
        foreach (var response in await Task.WhenAll(forged))
        {
            Assert.False((await Json.ReadAsync(response)).GetProperty("checks").GetProperty("signature").GetBoolean());
        }
        Assert.InRange(store.KeyListings - before, 2, 4);
    }

    [Fact]
    public async Task Following_another_gateways_chain_at_its_head_is_an_empty_page_when_a_copy_lands_meanwhile()
    {
        // The auditor asks for what follows the head it knows (seq 3); the next copy lands after
        // the page was read: the chain did not expire, it grew.
        FlakyStore? store = null;
        await using var gateway = await GatewayServer.StartAsync(configure: builder =>
            builder.Services.AddSingleton<OpenExec.Gateway.Store.IExecutionStore>(sp => store = new FlakyStore(sp.GetRequiredService<OpenExec.Gateway.Store.SqliteExecutionStore>())));
        await gateway.Client.GetAsync("/health");
        const string other = "gw-00000000000000aa";
        store!.OtherHead = new OpenExec.Gateway.Store.ChainHead(other, 3, new string('3', 64));
        store.AfterListing = () => store.OtherHead = new OpenExec.Gateway.Store.ChainHead(other, 4, new string('4', 64));

        var page = await gateway.Client.GetAsync($"/receipts?gateway={other}&after=3");

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("", await page.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_long_listing_is_read_from_the_store_a_page_at_a_time_and_stays_in_chain_order()
    {
        var count = OpenExec.Gateway.Receipts.ReceiptEndpoints.ListPageSize * 2 + 37;
        var (gateway, store) = await StartWithReceiptsAsync(count);
        await using var _ = gateway;

        Assert.Equal(Enumerable.Range(1, count).Select(i => (long)i), Seqs(await gateway.Client.GetStringAsync("/receipts?limit=10000")));
        Assert.Equal(Enumerable.Range(11, OpenExec.Gateway.Receipts.ReceiptEndpoints.ListPageSize + 5).Select(i => (long)i), Seqs(await gateway.Client.GetStringAsync($"/receipts?after=10&limit={OpenExec.Gateway.Receipts.ReceiptEndpoints.ListPageSize + 5}")));
        Assert.Equal(OpenExec.Gateway.Receipts.ReceiptEndpoints.ListPageSize, store.LargestListing);
    }

    [Fact]
    public async Task A_listing_without_a_limit_returns_the_first_1000()
    {
        // SPEC section 2: limit defaults to 1000 (at most 10000).
        var (gateway, _) = await StartWithReceiptsAsync(1003);
        await using var started = gateway;

        Assert.Equal(Enumerable.Range(1, 1000).Select(i => (long)i), Seqs(await gateway.Client.GetStringAsync("/receipts")));
        Assert.Equal(Enumerable.Range(1001, 3).Select(i => (long)i), Seqs(await gateway.Client.GetStringAsync("/receipts?after=1000")));
    }

    /// <summary>A gateway on a <see cref="FlakyStore"/> that has executed <paramref name="count"/> requests (16 at a time).</summary>
    private static async Task<(GatewayServer Gateway, FlakyStore Store)> StartWithReceiptsAsync(int count)
    {
        FlakyStore? store = null;
        var gateway = await GatewayServer.StartAsync(configure: builder =>
            builder.Services.AddSingleton<OpenExec.Gateway.Store.IExecutionStore>(sp => store = new FlakyStore(sp.GetRequiredService<OpenExec.Gateway.Store.SqliteExecutionStore>())));
        using var gate = new SemaphoreSlim(16);
        await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("add", new { a = i }, $"page-{i}"));
            }
            finally
            {
                gate.Release();
            }
        }));
        return (gateway, store!);
    }

    [Fact]
    public async Task A_listing_whose_store_fails_after_its_first_page_is_cut_off_not_ended_as_if_complete()
    {
        var (gateway, store) = await StartWithReceiptsAsync(OpenExec.Gateway.Receipts.ReceiptEndpoints.ListPageSize + 3);
        await using var _ = gateway;
        store.ListingsBeforeFailure = 1;

        // The first page went out with a 200; the store failing under the second must not end
        // the answer cleanly, or an export would hold the first page and audit clean.
        using var response = await gateway.Client.GetAsync("/receipts?limit=10000", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Export_pages_through_the_chain_in_order_as_NDJSON()
    {
        await using var gateway = await GatewayServer.StartAsync();
        for (var i = 0; i < 5; i++)
        {
            await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("add", new { a = i }, $"n-{i}"));
        }
        await GatewayAssert.ProblemAsync(await gateway.ExecuteAsync("add", new { a = 99 }, "n-0"), (HttpStatusCode)422, "nonce_reused");
        var all = await gateway.ReceiptsAsync();
        Assert.Equal([1L, 2, 3, 4, 5, 6], all.Select(r => r.GetProperty("body").GetProperty("seq").GetInt64()));
        var gatewayId = all[0].GetProperty("body").Str("gateway");

        var response = await gateway.Client.GetAsync("/receipts?after=0&limit=2");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal([1L, 2], Seqs(await response.Content.ReadAsStringAsync()));
        Assert.Equal([3L, 4], Seqs(await gateway.Client.GetStringAsync("/receipts?after=2&limit=2")));
        Assert.Equal([5L, 6], Seqs(await gateway.Client.GetStringAsync("/receipts?after=4&limit=2")));
        Assert.Empty(Seqs(await gateway.Client.GetStringAsync("/receipts?after=6&limit=2")));
        Assert.Equal([4L, 5, 6], Seqs(await gateway.Client.GetStringAsync("/receipts?after=3")));
        Assert.Equal([1L, 2, 3, 4, 5, 6], Seqs(await gateway.Client.GetStringAsync("/receipts")));
        Assert.Equal([1L, 2, 3, 4, 5, 6], Seqs(await gateway.Client.GetStringAsync("/receipts?limit=10000")));
        Assert.Equal([2L, 3], Seqs(await gateway.Client.GetStringAsync($"/receipts?gateway={gatewayId}&after=1&limit=2")));
        Assert.Empty(Seqs(await gateway.Client.GetStringAsync($"/receipts?gateway={gatewayId}&after=6")));
        // A chain the store never held is not an empty chain (a mistyped id would audit clean).
        await GatewayAssert.ProblemAsync(await gateway.Client.GetAsync("/receipts?gateway=gw-someone-else"), HttpStatusCode.NotFound, "gateway_not_found");

        var lines = (await gateway.Client.GetStringAsync("/receipts")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < lines.Length; i++)
        {
            Assert.True(JsonElement.DeepEquals(all[i], JsonDocument.Parse(lines[i]).RootElement));
        }
    }

    [Theory]
    [InlineData("after=-1")]
    [InlineData("after=abc")]
    [InlineData("after=1.5")]
    [InlineData("after=")]
    [InlineData("limit=0")]
    [InlineData("limit=10001")]
    [InlineData("limit=-5")]
    [InlineData("limit=ten")]
    [InlineData("limit=")]
    [InlineData("after=0&limit=99999999999")]
    [InlineData("after=1&after=2")]
    [InlineData("gateway=")]
    [InlineData("gateway=a&gateway=b")]
    public async Task Export_with_an_invalid_after_limit_or_gateway_is_400(string query)
    {
        await using var gateway = await GatewayServer.StartAsync();
        await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { }, "n-1"));

        await GatewayAssert.ProblemAsync(await gateway.Client.GetAsync($"/receipts?{query}"), HttpStatusCode.BadRequest, "invalid_query");
    }

    [Fact]
    public async Task Head_is_a_signed_checkpoint_that_verifies_with_the_published_key()
    {
        await using var gateway = await GatewayServer.StartAsync();
        var keys = await PublishedKeysAsync(gateway);

        var empty = Checkpoint.Parse(StrictJson.Parse(await gateway.Client.GetStringAsync("/receipts/head")));
        Assert.Equal(0, empty.Seq);
        Assert.Equal(ReceiptBody.GenesisPrev, empty.Hash);
        Assert.True(empty.Verify(keys));

        await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { }, "n-1"));
        await GatewayAssert.ProblemAsync(await gateway.ExecuteAsync("echo", new { }, "n-1"), HttpStatusCode.Conflict, "replay_denied");
        var last = (await gateway.ReceiptsAsync())[^1];

        var head = await gateway.Client.GetAsync("/receipts/head");
        Assert.Equal("application/json", head.Content.Headers.ContentType?.MediaType);
        var checkpoint = Checkpoint.Parse(StrictJson.Parse(await head.Content.ReadAsStringAsync()));

        Assert.Equal(2, checkpoint.Seq);
        Assert.Equal(last.Str("hash"), checkpoint.Hash);
        Assert.Equal(last.GetProperty("body").Str("gateway"), checkpoint.Gateway);
        Assert.Equal(last.Str("kid"), checkpoint.Kid);
        Assert.True(checkpoint.Verify(keys));
        Assert.False((checkpoint with { Seq = 1 }).Verify(keys));
        Assert.False((checkpoint with { Hash = Zeroed(checkpoint.Hash) }).Verify(keys));
        Assert.False((checkpoint with { Gateway = checkpoint.Gateway + "x" }).Verify(keys));

        static string Zeroed(string hash) => new string('0', 63) + hash[^1];
    }

    [Fact]
    public async Task Gateways_lists_each_chain_with_this_gateways_signed_checkpoint()
    {
        await using var gateway = await GatewayServer.StartAsync();
        var keys = await PublishedKeysAsync(gateway);
        await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { }, "n-1"));
        var last = (await gateway.ReceiptsAsync())[^1];

        var listed = await Json.ReadAsync(await gateway.Client.GetAsync("/receipts/gateways"));

        var entry = Assert.Single(listed.GetProperty("gateways").EnumerateArray());
        Assert.Equal(last.GetProperty("body").Str("gateway"), entry.Str("gateway"));
        Assert.Equal(1, entry.GetProperty("seq").GetInt64());
        Assert.Equal(last.Str("hash"), entry.Str("hash"));
        var checkpoint = Checkpoint.Parse(StrictJson.Parse(entry.GetProperty("checkpoint").GetRawText()));
        Assert.Equal(1, checkpoint.Seq);
        Assert.True(checkpoint.Verify(keys));
    }

    [Fact]
    public async Task Gateways_lists_this_gateways_chain_before_its_first_receipt_as_its_checkpoint_does()
    {
        await using var gateway = await GatewayServer.StartAsync();
        var keys = await PublishedKeysAsync(gateway);
        var head = await Json.ReadAsync(await gateway.Client.GetAsync("/receipts/head"));

        var entry = Assert.Single((await Json.ReadAsync(await gateway.Client.GetAsync("/receipts/gateways"))).GetProperty("gateways").EnumerateArray());

        Assert.Equal(head.Str("gateway"), entry.Str("gateway"));
        Assert.Equal(0, entry.GetProperty("seq").GetInt64());
        Assert.Equal(ReceiptBody.GenesisPrev, entry.Str("hash"));
        var checkpoint = Checkpoint.Parse(StrictJson.Parse(entry.GetProperty("checkpoint").GetRawText()));
        Assert.Equal((0L, ReceiptBody.GenesisPrev), (checkpoint.Seq, checkpoint.Hash));
        Assert.True(checkpoint.Verify(keys));
    }

    [Fact]
    public async Task Well_known_keys_list_the_receipt_key_shown_in_health()
    {
        await using var gateway = await GatewayServer.StartAsync();
        var executed = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { }, "n-1"));
        var health = await Json.ReadAsync(await gateway.Client.GetAsync("/health"));

        var response = await gateway.Client.GetAsync("/.well-known/openexec-keys");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var keys = (await Json.ReadAsync(response)).GetProperty("keys").EnumerateArray().ToList();
        var key = Assert.Single(keys, k => k.Str("kid") == health.Str("receipt_key_id"));
        Assert.Equal("OKP", key.Str("kty"));
        Assert.Equal("Ed25519", key.Str("crv"));
        var x = key.Str("x");
        Assert.Matches("^[A-Za-z0-9_-]{43}$", x);
        Assert.True(Base64Url.TryDecode(x, out var raw));
        Assert.Equal(32, raw.Length);
        Assert.Equal(key.Str("kid"), KeyId.ForRaw(raw));
        Assert.Equal(key.Str("kid"), executed.GetProperty("receipt_document").Str("kid"));
    }

    [Fact]
    public async Task A_receipt_signed_with_this_gateways_key_that_names_another_gateway_does_not_verify()
    {
        // A stolen key of one instance must not make receipts for another instance's chain.
        await using var gateway = await GatewayServer.StartAsync();
        var executed = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { msg = "mine" }, "n-1"));
        var own = ReceiptDocument.Parse(StrictJson.Parse(Encoding.UTF8.GetBytes(executed.GetProperty("receipt_document").GetRawText())));
        using var key = ReceiptSigningKey.FromPem(File.ReadAllText(Path.Combine(gateway.DataDir, "receipt-signing-key.pem")));

        var key0 = Assert.Single((await Json.ReadAsync(await gateway.Client.GetAsync("/.well-known/openexec-keys"))).GetProperty("keys").EnumerateArray());
        Assert.Equal([own.Body.Gateway], key0.GetProperty("gateways").EnumerateArray().Select(g => g.GetString()));

        async Task<JsonElement> VerifyResignedAsync(string gatewayId)
        {
            var document = ReceiptBatchSigner.Sign(key, [own.Body with { Gateway = gatewayId, ExecId = "exec-resigned" }])[0];
            return await VerifyDocumentAsync(gateway, JsonNode.Parse(document.ToJsonUtf8())!);
        }
        // Signed anew under its own gateway's name it verifies (the signing here is sound) ...
        var resigned = await VerifyResignedAsync(own.Body.Gateway);
        Assert.True(resigned.GetProperty("valid").GetBoolean(), resigned.GetRawText());
        // ... under another's name its hash and inclusion hold, and the signature does not.
        var forged = await VerifyResignedAsync("gw-someone-else");
        Assert.False(forged.GetProperty("valid").GetBoolean(), forged.GetRawText());
        AssertChecks(forged, hash: true, inclusion: true, signature: false);
    }

    [Fact]
    public async Task A_lone_document_verifies_and_any_tampering_shows_in_the_failing_check()
    {
        await using var gateway = await GatewayServer.StartAsync();
        var executed = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { msg = "witness me" }, "n-1"));
        var document = executed.GetProperty("receipt_document").GetRawText();

        var valid = await VerifyDocumentAsync(gateway, JsonNode.Parse(document)!);
        Assert.True(valid.GetProperty("valid").GetBoolean(), valid.GetRawText());
        AssertChecks(valid, hash: true, inclusion: true, signature: true);
        Assert.Equal(JsonValueKind.Null, valid.GetProperty("checks").GetProperty("result").ValueKind);
        Assert.Equal(JsonValueKind.Null, valid.GetProperty("checks").GetProperty("chain").ValueKind);

        var actionChanged = JsonNode.Parse(document)!;
        actionChanged["body"]!["action"] = "ecHo";
        var refusedAction = await VerifyDocumentAsync(gateway, actionChanged);
        Assert.False(refusedAction.GetProperty("valid").GetBoolean());
        Assert.False(refusedAction.GetProperty("checks").GetProperty("hash").GetBoolean());

        var decisionChanged = JsonNode.Parse(document)!;
        decisionChanged["body"]!["decision"] = "rejected";
        Assert.False((await VerifyDocumentAsync(gateway, decisionChanged)).GetProperty("checks").GetProperty("hash").GetBoolean());

        var signatureChanged = JsonNode.Parse(document)!;
        var signature = signatureChanged["signature"]!.GetValue<string>();
        signatureChanged["signature"] = (signature[0] == 'A' ? "B" : "A") + signature[1..];
        var refusedSignature = await VerifyDocumentAsync(gateway, signatureChanged);
        Assert.False(refusedSignature.GetProperty("valid").GetBoolean());
        AssertChecks(refusedSignature, hash: true, inclusion: true, signature: false);

        // A body and hash recomputed together still fail: the signature covers the original hash.
        var rehashed = JsonNode.Parse(document)!;
        rehashed["body"]!["action"] = "add";
        var body = ReceiptDocument.Parse(StrictJson.Parse(rehashed.ToJsonString())).Body;
        rehashed["hash"] = ReceiptHash.Compute(body);
        var refusedRehash = await VerifyDocumentAsync(gateway, rehashed);
        Assert.False(refusedRehash.GetProperty("valid").GetBoolean());
        AssertChecks(refusedRehash, hash: true, inclusion: true, signature: false);
    }

    /// <summary>
    /// README "Verifying", offline: the Python script checks what the gateway checks. It reads a
    /// document as strictly (no duplicate key, one spelling per base64url value) and, like the
    /// gateway, accepts a key only under its own fingerprint: a key list that pairs the pinned
    /// kid with another key cannot make a forged receipt verify.
    /// </summary>
    [Fact]
    public async Task The_readme_offline_verifier_accepts_a_receipt_and_refuses_what_the_gateway_refuses()
    {
        await using var gateway = await GatewayServer.StartAsync();
        var executed = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { msg = "offline" }, "n-1"));
        var document = executed.GetProperty("receipt_document").GetRawText();
        var keys = await gateway.Client.GetStringAsync("/.well-known/openexec-keys");
        var dir = TempDir.Create();
        try
        {
            var script = Path.Combine(dir, "verify_receipt.py");
            await File.WriteAllTextAsync(script, ReadmeVerifier());
            var (accepted, output) = await RunVerifierAsync(script, dir, document, keys);
            Assert.True(accepted, output);

            // Forged under another key and listed under the gateway's kid.
            var honest = ReceiptDocument.Parse(StrictJson.Parse(document));
            using var attacker = ReceiptSigningKey.Generate();
            var forged = ReceiptBatchSigner.Sign(attacker, [honest.Body with { Decision = "rejected", Code = "approval_required" }])[0] with { Kid = honest.Kid };
            var forgedKeys = JsonSerializer.Serialize(new { keys = new[] { new { kid = honest.Kid, kty = "OKP", crv = "Ed25519", x = Base64Url.Encode(attacker.PublicKeyRaw) } } });
            Assert.False((await RunVerifierAsync(script, dir, forged.ToJson(), forgedKeys)).Accepted, "a key listed under another key's kid verified a forged receipt");

            // Signed with the gateway's own key under another gateway's name (a stolen key).
            using (var own = ReceiptSigningKey.FromPem(File.ReadAllText(Path.Combine(gateway.DataDir, "receipt-signing-key.pem"))))
            {
                var renamed = ReceiptBatchSigner.Sign(own, [honest.Body with { Gateway = "gw-0000000000000000" }])[0];
                var (renamedAccepted, renamedOutput) = await RunVerifierAsync(script, dir, renamed.ToJson(), keys);
                Assert.False(renamedAccepted, "one gateway's key verified a receipt naming another gateway");
                Assert.Contains("key of another gateway", renamedOutput, StringComparison.Ordinal);
                Assert.True((await RunVerifierAsync(script, dir, ReceiptBatchSigner.Sign(own, [honest.Body with { ExecId = "exec-again" }])[0].ToJson(), keys)).Accepted);

                // A "gateways" that is no list of ids is refused, not read as text to search in.
                var entry = JsonNode.Parse(keys)!["keys"]![0]!;
                var spelt = JsonSerializer.Serialize(new { keys = new[] { new { kid = (string)entry["kid"]!, kty = "OKP", crv = "Ed25519", x = (string)entry["x"]!, gateways = $"x{honest.Body.Gateway}x" } } });
                Assert.False((await RunVerifierAsync(script, dir, document, spelt)).Accepted, "a 'gateways' string verified as if it listed the gateway");
                var withOther = JsonSerializer.Serialize(new { keys = new[] { new { kid = (string)entry["kid"]!, kty = "OKP", crv = "Ed25519", x = (string)entry["x"]!, gateways = new[] { "gw-0000000000000000" } } } });
                Assert.False((await RunVerifierAsync(script, dir, document, withOther)).Accepted);

                // Listed twice (two gateways' key sets put together, one key file shared): the
                // entries' gateways merge, as the CLI reads them.
                var merged = JsonSerializer.Serialize(new { keys = new[]
                {
                    new { kid = (string)entry["kid"]!, kty = "OKP", crv = "Ed25519", x = (string)entry["x"]!, gateways = new[] { "gw-0000000000000000" } },
                    new { kid = (string)entry["kid"]!, kty = "OKP", crv = "Ed25519", x = (string)entry["x"]!, gateways = new[] { honest.Body.Gateway } },
                } });
                var (mergedAccepted, mergedOutput) = await RunVerifierAsync(script, dir, document, merged);
                Assert.True(mergedAccepted, mergedOutput);
            }

            // A key of small order (an 8-torsion point, in any spelling) verifies a signature
            // nobody made: R = the identity, S = 0 holds for every root under OpenSSL. Listed in
            // a keys document (a Redis key entry written by hand), it let anyone forge receipts.
            var p = System.Numerics.BigInteger.Pow(2, 255) - 19;
            var order8 = System.Numerics.BigInteger.Parse("2707385501144840649318225287225658788936804267575313519463743609750303402022", System.Globalization.CultureInfo.InvariantCulture);
            var forgedSignature = new byte[64];
            forgedSignature[0] = 1; // R: the identity's encoding (y = 1); S = 0
            foreach (var (y, negative) in new[] { (System.Numerics.BigInteger.One, false), (System.Numerics.BigInteger.One, true), (p - 1, false), (System.Numerics.BigInteger.Zero, false), (order8, false), (p - order8, true), (p + 1, false) })
            {
                var x = new byte[32];
                y.TryWriteBytes(x, out _, isUnsigned: true, isBigEndian: false);
                x[31] |= (byte)(negative ? 0x80 : 0);
                var kid = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(x))[..16];
                var smallKeys = JsonSerializer.Serialize(new { keys = new[] { new { kid, kty = "OKP", crv = "Ed25519", x = Base64Url.Encode(x) } } });
                var anyone = honest with { Body = honest.Body, Kid = kid, Signature = Base64Url.Encode(forgedSignature) };
                var (smallAccepted, smallOutput) = await RunVerifierAsync(script, dir, anyone.ToJson(), smallKeys);
                Assert.False(smallAccepted, $"a receipt nobody signed verified under the small-order key {Base64Url.Encode(x)}");
                Assert.Contains("key of small order", smallOutput, StringComparison.Ordinal);
            }

            // One key twice: the first value shows, the last one is verified.
            var duplicated = document.Replace("\"decision\":\"executed\"", "\"decision\":\"rejected\",\"decision\":\"executed\"", StringComparison.Ordinal);
            Assert.NotEqual(document, duplicated);
            await GatewayAssert.ProblemAsync(await gateway.PostJsonAsync("/receipts/verify", $"{{\"receipt_document\":{duplicated}}}"), HttpStatusCode.BadRequest, "duplicate_key");
            Assert.False((await RunVerifierAsync(script, dir, duplicated, keys)).Accepted, "a document with a duplicate key verified");

            // Another spelling of the signature.
            var padded = JsonNode.Parse(document)!;
            padded["signature"] = padded["signature"]!.GetValue<string>() + "==";
            Assert.False((await VerifyDocumentAsync(gateway, padded)).GetProperty("valid").GetBoolean());
            Assert.False((await RunVerifierAsync(script, dir, padded.ToJsonString(), keys)).Accepted, "a padded signature verified");
        }
        finally
        {
            TempDir.Delete(dir);
        }
    }

    /// <summary>
    /// The README's verifier checks with code that runs whatever Python's flags: an assert is
    /// skipped under <c>python -O</c> or <c>PYTHONOPTIMIZE</c>, and every forged receipt would
    /// print "valid".
    /// </summary>
    [Fact]
    public async Task The_readme_offline_verifier_refuses_a_forged_receipt_when_python_runs_optimized()
    {
        await using var gateway = await GatewayServer.StartAsync();
        var executed = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { msg = "offline" }, "n-1"));
        var document = executed.GetProperty("receipt_document").GetRawText();
        var keys = await gateway.Client.GetStringAsync("/.well-known/openexec-keys");
        var forged = document.Replace("\"decision\":\"executed\"", "\"decision\":\"rejected\"", StringComparison.Ordinal);
        Assert.NotEqual(document, forged);
        var dir = TempDir.Create();
        try
        {
            var script = Path.Combine(dir, "verify_receipt.py");
            await File.WriteAllTextAsync(script, ReadmeVerifier());
            var (accepted, output) = await RunVerifierAsync(script, dir, document, keys, optimized: true);
            Assert.True(accepted, output);
            (accepted, output) = await RunVerifierAsync(script, dir, forged, keys, optimized: true);
            Assert.False(accepted, "python -O: a forged receipt verified: " + output);
        }
        finally
        {
            TempDir.Delete(dir);
        }
    }

    [Fact]
    public async Task Triple_with_a_wrong_receipt_hash_or_unknown_id_is_invalid()
    {
        await using var gateway = await GatewayServer.StartAsync();
        var executed = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { msg = "triple" }, "n-1"));
        var id = executed.Str("id");
        var result = executed.GetProperty("result").GetRawText();
        var receipt = executed.Str("receipt");

        var good = await VerifyTripleAsync(gateway, id, result, receipt);
        Assert.True(good.GetProperty("valid").GetBoolean(), good.GetRawText());

        var wrongHash = (receipt[0] == 'a' ? "b" : "a") + receipt[1..];
        var refused = await VerifyTripleAsync(gateway, id, result, wrongHash);
        Assert.False(refused.GetProperty("valid").GetBoolean());
        Assert.False(refused.GetProperty("checks").GetProperty("hash").GetBoolean());

        var otherReceipt = (await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { msg = "triple" }, "n-2"))).Str("receipt");
        Assert.False((await VerifyTripleAsync(gateway, id, result, otherReceipt)).GetProperty("valid").GetBoolean());

        Assert.False((await VerifyTripleAsync(gateway, "ex_unknown", result, receipt)).GetProperty("valid").GetBoolean());
    }

    [Fact]
    public async Task A_ledger_row_filed_under_another_exec_id_is_not_served_as_its_receipt()
    {
        // The exec id column is an index; a row copied under another exec id (a store written by
        // other than the gateway) was served by GET /receipts/{id}, and the triple of the other
        // attempt's result and hash verified for it.
        var dataDir = TempDir.Create();
        try
        {
            JsonElement first, second;
            await using (var gateway = await GatewayServer.StartAsync(dataDir: dataDir))
            {
                first = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { i = 1 }, "filed-1"));
                second = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { i = 2 }, "filed-2"));
            }
            var firstId = first.Str("id");
            using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, "openexec.db")};Pooling=False"))
            {
                db.Open();
                using var copy = db.CreateCommand();
                copy.CommandText = "INSERT INTO receipts(gateway, seq, exec_id, hash, document) SELECT gateway, 0, $first, hash, document FROM receipts WHERE exec_id = $second";
                copy.Parameters.AddWithValue("$first", firstId);
                copy.Parameters.AddWithValue("$second", second.Str("id"));
                Assert.Equal(1, copy.ExecuteNonQuery());
            }

            await using var again = await GatewayServer.StartAsync(dataDir: dataDir);
            var served = await Json.ReadAsync(await again.Client.GetAsync($"/receipts/{firstId}"));
            Assert.Equal(firstId, served.GetProperty("body").Str("exec_id"));
            Assert.Equal(first.Str("receipt"), served.Str("hash"));
            var triple = JsonSerializer.Serialize(new { exec_id = firstId, result = second.GetProperty("result").GetRawText(), receipt = second.Str("receipt") });
            var verified = await Json.ReadAsync(await again.PostJsonAsync("/receipts/verify", triple));
            Assert.False(verified.GetProperty("valid").GetBoolean(), verified.GetRawText());
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    [Fact]
    public async Task Payloads_results_and_nonces_appear_nowhere_in_clear()
    {
        const string payloadMarker = "PAYLOAD-MARKER-5f2c9e";
        const string otherPayloadMarker = "SECOND-PAYLOAD-MARKER-a71d";
        const string nonceMarker = "NONCE-MARKER-3b8e47";
        string[] markers = [payloadMarker, otherPayloadMarker, nonceMarker];
        var dataDir = TempDir.Create();
        try
        {
            var ids = new List<string>();
            await using (var gateway = await GatewayServer.StartAsync(dataDir: dataDir))
            {
                var executed = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { secret = payloadMarker }, nonceMarker));
                Assert.Contains(payloadMarker, executed.GetProperty("result").GetRawText(), StringComparison.Ordinal);
                ids.Add(executed.Str("id"));
                ids.Add((await GatewayAssert.ProblemAsync(await gateway.ExecuteAsync("echo", new { secret = payloadMarker }, nonceMarker), HttpStatusCode.Conflict, "replay_denied")).Str("id"));
                ids.Add((await GatewayAssert.ProblemAsync(await gateway.ExecuteAsync("echo", new { secret = otherPayloadMarker }, nonceMarker), (HttpStatusCode)422, "nonce_reused")).Str("id"));
                ids.Add((await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("add", new { a = 1, b = 2 }, nonceMarker + "-2"))).Str("id"));

                var export = await gateway.Client.GetStringAsync("/receipts");
                Assert.Equal(4, export.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
                AssertNoMarker(markers, export, "/receipts export");
                foreach (var id in ids)
                {
                    AssertNoMarker(markers, await gateway.Client.GetStringAsync($"/receipts/{id}"), $"/receipts/{id}");
                }
                AssertNoMarker(markers, await gateway.Client.GetStringAsync("/receipts/head"), "/receipts/head");
                AssertNoMarker(markers, await gateway.Client.GetStringAsync("/receipts/gateways"), "/receipts/gateways");

                // While running: the database, its WAL and shared memory, keys, ids.
                AssertNoMarkerInFiles(markers, dataDir);
            }

            // After shutdown, with the WAL checkpointed into the database.
            AssertNoMarkerInFiles(markers, dataDir);
        }
        finally
        {
            TempDir.Delete(dataDir);
        }
    }

    [Fact]
    public async Task Audit_tokens_guard_every_receipts_endpoint()
    {
        var settings = new Dictionary<string, string?>
        {
            ["OpenExec:AuditTokens:0"] = "audit-token-one",
            ["OpenExec:AuditTokens:1"] = "audit-token-two",
        };
        await using var gateway = await GatewayServer.StartAsync(settings);
        var executed = await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { msg = "audited" }, "n-1"));
        var verifyBody = JsonSerializer.Serialize(new { exec_id = executed.Str("id"), result = executed.GetProperty("result").GetRawText(), receipt = executed.Str("receipt") });

        HttpRequestMessage[] Requests() =>
        [
            new(HttpMethod.Get, "/receipts"),
            new(HttpMethod.Get, "/receipts?after=0&limit=10"),
            new(HttpMethod.Get, $"/receipts/{executed.Str("id")}"),
            new(HttpMethod.Get, "/receipts/head"),
            new(HttpMethod.Get, "/receipts/gateways"),
            new(HttpMethod.Post, "/receipts/verify") { Content = new StringContent(verifyBody, Encoding.UTF8, "application/json") },
        ];

        foreach (var authorization in new AuthenticationHeaderValue?[]
        {
            null,
            new("Bearer", "audit-token-three"),
            new("Bearer", "audit-token-on"),
            new("Bearer", ""),
            new("Basic", Convert.ToBase64String("audit:audit-token-one"u8)),
            new("audit-token-one"),
        })
        {
            foreach (var request in Requests())
            {
                request.Headers.Authorization = authorization;
                var response = await gateway.Client.SendAsync(request);
                await GatewayAssert.ProblemAsync(response, HttpStatusCode.Unauthorized, "unauthorized");
                Assert.Contains(response.Headers.WwwAuthenticate, h => h.Scheme == "Bearer");
            }
        }

        foreach (var token in new[] { "audit-token-one", "audit-token-two" })
        {
            foreach (var request in Requests())
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                var response = await gateway.Client.SendAsync(request);
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{request.RequestUri}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
        }

        // Executing needs no audit token: the tokens guard the witness, not the front door.
        await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { }, "n-2"));
    }

    /// <summary>The script in README section "Verifying".</summary>
    private static string ReadmeVerifier()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "OpenExec.Gateway.sln")))
        {
            root = root.Parent;
        }
        Assert.NotNull(root);
        var readme = File.ReadAllText(Path.Combine(root.FullName, "README.md"));
        var start = readme.IndexOf("# verify_receipt.py", StringComparison.Ordinal);
        Assert.True(start >= 0, "README has no verify_receipt.py");
        return readme[start..readme.IndexOf("```", start, StringComparison.Ordinal)];
    }

    /// <summary>Runs the README's verifier (python3 and openssl) on one document and key list.</summary>
    private static async Task<(bool Accepted, string Output)> RunVerifierAsync(string script, string dir, string document, string keys, bool optimized = false)
    {
        var documentPath = Path.Combine(dir, "receipt.json");
        var keysPath = Path.Combine(dir, "keys.json");
        await File.WriteAllTextAsync(documentPath, document);
        await File.WriteAllTextAsync(keysPath, keys);
        var start = new System.Diagnostics.ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(documentPath);
        start.ArgumentList.Add(keysPath);
        if (optimized)
        {
            start.Environment["PYTHONOPTIMIZE"] = "1"; // as python -O
        }
        using var python = System.Diagnostics.Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        var stdout = python.StandardOutput.ReadToEndAsync();
        var stderr = python.StandardError.ReadToEndAsync();
        await python.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
        return (python.ExitCode == 0, await stdout + await stderr);
    }

    private static List<long> Seqs(string ndjson)
        => ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement.GetProperty("body").GetProperty("seq").GetInt64()).ToList();

    internal static async Task<Func<string, PublicKey?>> PublishedKeysAsync(GatewayServer gateway)
    {
        var listed = await Json.ReadAsync(await gateway.Client.GetAsync("/.well-known/openexec-keys"));
        var keys = listed.GetProperty("keys").EnumerateArray().ToDictionary(
            k => k.Str("kid"),
            k => PublicKey.Import(SignatureAlgorithm.Ed25519, Base64Url.Decode(k.Str("x")), KeyBlobFormat.RawPublicKey));
        return kid => keys.GetValueOrDefault(kid);
    }

    private static async Task<JsonElement> VerifyDocumentAsync(GatewayServer gateway, JsonNode document)
    {
        var request = new JsonObject { ["receipt_document"] = document };
        var response = await gateway.PostJsonAsync("/receipts/verify", request.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await Json.ReadAsync(response);
    }

    private static async Task<JsonElement> VerifyTripleAsync(GatewayServer gateway, string execId, string result, string receipt)
    {
        var response = await gateway.PostJsonAsync("/receipts/verify", JsonSerializer.Serialize(new { exec_id = execId, result, receipt }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await Json.ReadAsync(response);
    }

    private static void AssertChecks(JsonElement verification, bool hash, bool inclusion, bool signature)
    {
        var checks = verification.GetProperty("checks");
        Assert.Equal(hash, checks.GetProperty("hash").GetBoolean());
        Assert.Equal(inclusion, checks.GetProperty("inclusion").GetBoolean());
        Assert.Equal(signature, checks.GetProperty("signature").GetBoolean());
    }

    private static void AssertNoMarker(string[] markers, string text, string where)
    {
        foreach (var marker in markers)
        {
            Assert.False(text.Contains(marker, StringComparison.Ordinal), $"'{marker}' found in clear in {where}");
        }
    }

    private static void AssertNoMarkerInFiles(string[] markers, string dataDir)
    {
        var files = Directory.GetFiles(dataDir, "*", SearchOption.AllDirectories);
        Assert.Contains(files, f => Path.GetFileName(f).EndsWith(".db", StringComparison.Ordinal));
        foreach (var file in files)
        {
            // The data dir lock is empty and held exclusively while the gateway runs.
            if (new FileInfo(file).Length == 0)
            {
                continue;
            }
            byte[] bytes;
            using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                using var copy = new MemoryStream();
                stream.CopyTo(copy);
                bytes = copy.ToArray();
            }
            foreach (var marker in markers)
            {
                Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(marker)) < 0, $"'{marker}' found in clear in {file}");
                Assert.True(bytes.AsSpan().IndexOf(Encoding.Unicode.GetBytes(marker)) < 0, $"'{marker}' found in clear (UTF-16) in {file}");
            }
        }
    }
}
