using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text;
using OpenExec.Core.Buffers;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;
using OpenExec.Core.Text;
using OpenExec.Gateway.Configuration;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Http;
using OpenExec.Gateway.Pipeline;
using OpenExec.Gateway.Store;

namespace OpenExec.Gateway.Receipts;

/// <summary>The Witness endpoints (SPEC sections 2 and 6): read, export and verify receipts.</summary>
internal static class ReceiptEndpoints
{
    private const int DefaultLimit = 1000;
    private const int MaxLimit = 10000;

    /// <summary>
    /// Receipts read from the store at a time for one listing, each page written out before the
    /// next is read: a listing of 10 000 held every parsed receipt and its whole answer (~15 MB of
    /// NDJSON) at once.
    /// </summary>
    internal const int ListPageSize = 256;

    /// <summary>The key set's JSON: a key whose gateways were never recorded has no <c>gateways</c> member.</summary>
    private static readonly JsonSerializerOptions KeysJson = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    public static IEndpointRouteBuilder MapReceiptEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var receipts = endpoints.MapGroup("/receipts").AddEndpointFilter(RequireAuditToken);
        receipts.MapGet("/head", HeadAsync);
        receipts.MapGet("/gateways", GatewaysAsync);
        receipts.MapGet("/{execId}", GetAsync);
        receipts.MapGet("", ListAsync);
        receipts.MapPost("/verify", VerifyAsync);
        // Without it a GET would reach /{execId} and answer 404 for a receipt named "verify".
        receipts.MapGet("/verify", (HttpContext context) =>
        {
            context.Response.Headers.Allow = "POST";
            return Problem.WriteAsync(context, 405, "method_not_allowed", "POST /receipts/verify only");
        });
        endpoints.MapGet("/.well-known/openexec-keys", KeysAsync);
        return endpoints;
    }

    /// <summary>
    /// With <c>OpenExec:AuditTokens</c> set, receipts need a bearer token: receipt hashes of
    /// guessable payloads can be brute-forced. Compared in constant time.
    /// </summary>
    private static async ValueTask<object?> RequireAuditToken(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var tokens = http.RequestServices.GetRequiredService<GatewaySettings>().Options.AuditTokens;
        if (tokens.Length > 0)
        {
            var header = http.Request.Headers.Authorization.ToString();
            var presented = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : "";
            var presentedHash = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
            var ok = false;
            foreach (var token in tokens)
            {
                ok |= CryptographicOperations.FixedTimeEquals(presentedHash, SHA256.HashData(Encoding.UTF8.GetBytes(token))) && presented.Length > 0;
            }
            if (!ok)
            {
                http.Response.Headers.WWWAuthenticate = "Bearer";
                await Problem.WriteAsync(http, 401, "unauthorized", "The receipt endpoints need an audit token: send Authorization: Bearer <token>").ConfigureAwait(false);
                return Results.Empty;
            }
        }
        return await next(context).ConfigureAwait(false);
    }

    private static async Task GetAsync(HttpContext context, string execId, IExecutionStore store)
    {
        var doc = await store.GetReceiptAsync(execId, context.RequestAborted).ConfigureAwait(false);
        if (doc is null)
        {
            await Problem.WriteAsync(context, 404, "receipt_not_found", $"No receipt for exec_id '{InputText.Abbreviate(execId, 80)}'").ConfigureAwait(false);
            return;
        }
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(doc.ToJsonUtf8(), context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task ListAsync(HttpContext context, IExecutionStore store, GatewayIdentity identity)
    {
        var query = context.Request.Query;
        // One chain, named once: a repeated or empty gateway is refused as a repeated after or limit is.
        var named = query["gateway"];
        var gateway = named.Count == 0 ? identity.GatewayId : named.Count == 1 ? named[0] : null;
        long after = 0;
        var limit = DefaultLimit;
        if (string.IsNullOrEmpty(gateway)
            || (query.ContainsKey("after") && (!long.TryParse(query["after"], NumberStyles.None, CultureInfo.InvariantCulture, out after)))
            || (query.ContainsKey("limit") && (!int.TryParse(query["limit"], NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxLimit)))
        {
            await Problem.WriteAsync(context, 400, "invalid_query", $"after must be a non-negative integer, limit an integer from 1 to {MaxLimit}, and gateway, when given, one non-empty id").ConfigureAwait(false);
            return;
        }
        context.Response.ContentType = "application/x-ndjson";
        var body = context.Response.BodyWriter;
        // Another gateway's chain is read from the store's copies, its head first: the chain only
        // grows at its tail, so a page read after it that lacks receipts up to that head lacks
        // them for good (read the other way round, a copy landing in between looked like expiry).
        var otherHead = gateway == identity.GatewayId ? null : await store.GetHeadAsync(gateway, context.RequestAborted).ConfigureAwait(false);
        while (limit > 0)
        {
            var docs = await store.ListReceiptsAsync(gateway, after, Math.Min(limit, ListPageSize), context.RequestAborted).ConfigureAwait(false);
            if (!context.Response.HasStarted && gateway != identity.GatewayId
                && (docs.Count == 0 || docs[0].Body.Seq != after + 1))
            {
                // One the store has never seen is not an empty chain (a mistyped id would export
                // nothing and audit clean); one whose copies after 'after' have expired (Redis
                // keeps them for the nonce retention) is not one that ends there, or begins
                // later: that gateway's own ledger has them.
                var name = InputText.Abbreviate(gateway, 80);
                if (otherHead is null && docs.Count == 0)
                {
                    await Problem.WriteAsync(context, 404, "gateway_not_found", $"No chain of gateway '{name}' in this store (GET /receipts/gateways lists them)").ConfigureAwait(false);
                    return;
                }
                if (docs.Count > 0 || otherHead!.Seq > after)
                {
                    var kept = docs.Count > 0 ? $"; the first kept is seq {docs[0].Body.Seq} (ask with after={docs[0].Body.Seq - 1})" : "";
                    await Problem.WriteAsync(context, 410, "receipts_expired", $"Receipts of gateway '{name}' after seq {after} are no longer kept in this store, whose copies of other gateways' receipts expire with the nonce retention{kept}; that gateway's own ledger keeps its whole chain: ask it").ConfigureAwait(false);
                    return;
                }
            }
            foreach (var doc in docs)
            {
                body.Write(doc.ToJsonUtf8());
                body.Write("\n"u8);
            }
            await body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
            if (docs.Count < Math.Min(limit, ListPageSize))
            {
                break;
            }
            after = docs[^1].Body.Seq;
            limit -= docs.Count;
        }
    }

    private static async Task<IResult> HeadAsync(HttpContext context, IExecutionStore store, GatewayIdentity identity, GatewayClock clock)
    {
        var head = await store.GetHeadAsync(identity.GatewayId, context.RequestAborted).ConfigureAwait(false);
        var checkpoint = Checkpoint.Sign(identity.SigningKey, identity.GatewayId, head?.Seq ?? 0, head?.Hash ?? ReceiptBody.GenesisPrev, clock.Now);
        return Results.Text(checkpoint.ToJson(), "application/json");
    }

    /// <summary>
    /// Every chain sharing the store with its head and checkpoint. A gateway signs only its own
    /// checkpoint: the others' are the latest each published to Redis (signed by that gateway, of
    /// what it had copied, so their seq may trail the head listed), null where one published none.
    /// It signs none while its store will not vouch for its own head (a ledger behind Redis's copy
    /// of its chain): then its entry is the store's head with <c>checkpoint: null</c>.
    /// </summary>
    private static async Task<IResult> GatewaysAsync(HttpContext context, IExecutionStore store, GatewayIdentity identity, GatewayClock clock)
    {
        var heads = await store.ListGatewaysAsync(context.RequestAborted).ConfigureAwait(false);
        var published = await store.ListCheckpointsAsync(context.RequestAborted).ConfigureAwait(false);
        var now = clock.Now;
        ChainHead? own;
        try
        {
            // A chain with no receipt yet is this gateway's too, as /receipts/head signs it (seq 0).
            own = await store.GetHeadAsync(identity.GatewayId, context.RequestAborted).ConfigureAwait(false)
                ?? new ChainHead(identity.GatewayId, 0, ReceiptBody.GenesisPrev);
        }
        catch (StoreUnavailableException)
        {
            own = null;
        }
        if (own is not null && !heads.Any(h => h.Gateway == identity.GatewayId))
        {
            heads = [.. heads.Append(own).OrderBy(h => h.Gateway, StringComparer.Ordinal)];
        }
        return Results.Json(new
        {
            // The own head read second, so it is at least as recent as the listing's.
            gateways = heads.Select(h => h.Gateway == identity.GatewayId && own is not null ? own : h).Select(h => new
            {
                gateway = h.Gateway,
                seq = h.Seq,
                hash = h.Hash,
                checkpoint = ReferenceEquals(h, own)
                    ? System.Text.Json.Nodes.JsonNode.Parse(Checkpoint.Sign(identity.SigningKey, h.Gateway, h.Seq, h.Hash, now).ToJson())
                    : h.Gateway != identity.GatewayId && published.TryGetValue(h.Gateway, out var theirs) ? System.Text.Json.Nodes.JsonNode.Parse(theirs) : null,
            }),
        });
    }

    private static async Task<IResult> KeysAsync(HttpContext context, IExecutionStore store)
    {
        var keys = await store.ListKeysAsync(context.RequestAborted).ConfigureAwait(false);
        // JWK members, and the gateways that sign with the key (left out for a key registered
        // before they were recorded): a receipt verifies only under a key of the gateway it names.
        return Results.Json(new { keys = keys.Select(k => new { kid = k.Kid, kty = "OKP", crv = "Ed25519", x = k.X, gateways = k.Gateways }) }, KeysJson);
    }

    /// <summary>
    /// The seed's triple <c>{exec_id, result, receipt}</c> (looked up, chained and compared with the
    /// result), or a lone <c>{receipt_document}</c> (hash, inclusion, signature; no look-up).
    /// </summary>
    private static async Task VerifyAsync(HttpContext context, IExecutionStore store, SigningKeyDirectory keys, GatewaySettings settings)
    {
        if (await RequestBody.ReadJsonObjectAsync(context, settings.Options.MaxRequestBodyBytes).ConfigureAwait(false) is not { } request)
        {
            return;
        }

        ReceiptChecks checks;
        if (request.TryGet("receipt_document", out var documentValue) && request.Count == 1)
        {
            ReceiptDocument document;
            try
            {
                document = ReceiptDocument.Parse(documentValue);
            }
            catch (ReceiptFormatException ex)
            {
                await Problem.WriteAsync(context, 400, "invalid_receipt", ex.Message).ConfigureAwait(false);
                return;
            }
            var resolver = await keys.ResolverForAsync(document.Kid, document.Body.Gateway, context.RequestAborted).ConfigureAwait(false);
            checks = ReceiptVerifier.Verify(document, resolver) with { Result = null, Chain = null };
        }
        else if (request.Count == 3
            && request.TryGet("exec_id", out var e) && e is StrictString execId
            && request.TryGet("result", out var r) && r is StrictString result
            && request.TryGet("receipt", out var h) && h is StrictString receipt)
        {
            checks = await VerifyTripleAsync(store, keys, execId.Value, result.Value, receipt.Value, context.RequestAborted).ConfigureAwait(false);
        }
        else
        {
            await Problem.WriteAsync(context, 400, "invalid_verify_request", "Send {\"exec_id\", \"result\", \"receipt\"} (strings) or {\"receipt_document\": {...}}").ConfigureAwait(false);
            return;
        }
        await WriteChecksAsync(context, checks).ConfigureAwait(false);
    }

    private static async Task<ReceiptChecks> VerifyTripleAsync(IExecutionStore store, SigningKeyDirectory keys, string execId, string result, string receipt, CancellationToken cancellationToken)
    {
        var document = await store.GetReceiptAsync(execId, cancellationToken).ConfigureAwait(false);
        if (document is null)
        {
            return new ReceiptChecks(false, null, null, null, null);
        }
        var resolver = await keys.ResolverForAsync(document.Kid, document.Body.Gateway, cancellationToken).ConfigureAwait(false);
        var checks = ReceiptVerifier.Verify(document, resolver);
        var hashMatches = checks.Hash == true && string.Equals(document.Hash, receipt, StringComparison.Ordinal);
        return checks with
        {
            Hash = hashMatches,
            Result = ResultMatches(document.Body, result),
            Chain = await ChainLinksAsync(store, document, cancellationToken).ConfigureAwait(false),
        };
    }

    /// <summary>The result as given, hashed the way the receipt says it was hashed.</summary>
    private static bool ResultMatches(ReceiptBody body, string result)
    {
        if (body.ResultSha256 is null)
        {
            return false;
        }
        string hash;
        if (body.ResultForm == "bytes")
        {
            hash = ResultHash.Bytes(Encoding.UTF8.GetBytes(result));
        }
        else
        {
            try
            {
                hash = ResultHash.Canonical(StrictJson.ParseResult(Encoding.UTF8.GetBytes(result)));
            }
            catch (StrictJsonException)
            {
                return false;
            }
        }
        return string.Equals(hash, body.ResultSha256, StringComparison.Ordinal);
    }

    /// <summary>
    /// The receipt's <c>prev</c> names the receipt before it in its gateway's chain: false when it
    /// names another one, or when the one before it is missing from a store that keeps every
    /// receipt; null (not checked) when it left a store whose copies expire with the retention.
    /// </summary>
    private static async Task<bool?> ChainLinksAsync(IExecutionStore store, ReceiptDocument document, CancellationToken cancellationToken)
    {
        if (document.Body.Seq == 1)
        {
            return document.Body.Prev == ReceiptBody.GenesisPrev;
        }
        var previous = await store.ListReceiptsAsync(document.Body.Gateway, document.Body.Seq - 2, 1, cancellationToken).ConfigureAwait(false);
        if (previous.Count == 1 && previous[0].Body.Seq == document.Body.Seq - 1)
        {
            // The hash of what the one before says, not the hash it states: a copy from Redis
            // may have been altered, and this receipt's signed prev vouches for its body alone.
            return ReceiptHash.Compute(previous[0].Body) == document.Body.Prev;
        }
        return store.ReceiptCopiesExpire ? null : false;
    }

    private static async Task WriteChecksAsync(HttpContext context, ReceiptChecks checks)
    {
        using var buffer = new PooledBufferWriter();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteBoolean("valid", checks.Valid);
            json.WriteStartObject("checks");
            WriteCheck(json, "hash", checks.Hash);
            WriteCheck(json, "inclusion", checks.Inclusion);
            WriteCheck(json, "signature", checks.Signature);
            WriteCheck(json, "result", checks.Result);
            WriteCheck(json, "chain", checks.Chain);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }

    private static void WriteCheck(Utf8JsonWriter json, string name, bool? value)
    {
        if (value is { } v)
        {
            json.WriteBoolean(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
