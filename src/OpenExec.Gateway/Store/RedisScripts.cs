using OpenExec.Core.Crypto;
using StackExchange.Redis;

namespace OpenExec.Gateway.Store;

/// <summary>
/// Key names and the server-side steps of the Redis store. Each script runs atomically on the
/// server, so every gateway sharing the Redis sees one order of claims. Nonces arrive hashed
/// (tenant-scoped SHA-256); raw nonces never reach Redis.
/// </summary>
internal static class RedisScripts
{
    private const string Prefix = "openexec:";

    /// <summary>
    /// A claim: hash {req, exec, done, decision, receipt, lease, action, tenant, approval, created, holder, taker, trace}; TTL = nonce retention.
    /// lease is a time on Redis's clock (ms); created is the claiming gateway's (its receipts' started_at).
    /// </summary>
    public static RedisKey Nonce(string nonceSha256) => Prefix + NoncePrefix + nonceSha256;

    /// <summary>The same key from the digest, its hex written into the key's one string.</summary>
    public static RedisKey Nonce(in Sha256Digest nonce)
        => string.Create(Prefix.Length + NoncePrefix.Length + Sha256Digest.HexLength, nonce, static (chars, digest) =>
        {
            Prefix.CopyTo(chars);
            NoncePrefix.CopyTo(chars[Prefix.Length..]);
            digest.WriteHex(chars[(Prefix.Length + NoncePrefix.Length)..]);
        });

    private const string NoncePrefix = "nonce:";

    /// <summary>The nonce hash a <see cref="Nonce"/> key names.</summary>
    public static string NonceOf(string nonceKey) => nonceKey[(Prefix.Length + NoncePrefix.Length)..];

    /// <summary>A consumed approval identity: the exec id that consumed it; TTL = nonce retention.</summary>
    public static RedisKey Approval(string identity) => Prefix + "approval:" + identity;

    /// <summary>A gateway's chain: sorted set of receipt documents scored by seq.</summary>
    public static RedisKey Chain(string gateway) => Prefix + "receipts:" + gateway;

    /// <summary>A gateway's copy times: sorted set of seqs scored by the ms they were copied at, on Redis's clock (what retention trims by).</summary>
    public static RedisKey CopyTimes(string gateway) => Prefix + "copied:" + gateway;

    /// <summary>
    /// Where one attempt's receipt (the first written for that exec id) stands: "gateway seq" in
    /// that gateway's chain copy, which holds the document (kept once in Redis, not twice).
    /// </summary>
    public static RedisKey Receipt(string execId) => Prefix + "receipt:" + execId;

    /// <summary>What a readiness check writes (a write, not PING: see RedisExecutionStore.PingAsync), one per gateway, kept a minute.</summary>
    public static RedisKey Ready(string gateway) => Prefix + "ready:" + gateway;

    /// <summary>Marks an exec id whose claim the gateway gave up on (answered 503): a late claim under it is refused.</summary>
    public static RedisKey Abandoned(string execId) => Prefix + "abandoned:" + execId;

    /// <summary>
    /// A gateway's claims, by nonce key, scored by the lease-until ms they were taken with (on Redis's clock): what
    /// its sweep looks at once that has passed, so that a claim its previous process left behind
    /// (killed mid-call) gets its outcome_unknown receipt even if nobody sends its nonce again.
    /// </summary>
    public static RedisKey Held(string gateway) => Prefix + "held:" + gateway;

    /// <summary>Hash gateway id → "seq hash" of the last receipt copied.</summary>
    public static readonly RedisKey Gateways = Prefix + "gateways";

    /// <summary>
    /// Hash gateway id → that gateway's latest signed checkpoint (the JSON of GET /receipts/head)
    /// of what it has copied: what /receipts/gateways on any instance lists as its checkpoint.
    /// </summary>
    public static readonly RedisKey Checkpoints = Prefix + "checkpoints";

    /// <summary>Hash kid → x (base64url raw Ed25519 public key): every receipt key ever used.</summary>
    public static readonly RedisKey Keys = Prefix + "keys";

    /// <summary>
    /// Set of "kid gateway": which gateway signs with which key (a kid is 16 hex digits, no
    /// space). A receipt verifies only under a key of the gateway it names.
    /// </summary>
    public static readonly RedisKey Signers = Prefix + "signers";

    /// <summary>The signer entry of a key whose gateways are not known: it vouches for any gateway's receipts.</summary>
    public const string AnyGateway = "*";

    /// <summary>
    /// Registers a gateway's keys (KEYS: <see cref="Keys"/>, <see cref="Signers"/>; ARGV: the
    /// gateway, then kid and x of each key), whose gateways first. A key already listed with no
    /// gateway at all was listed before keys were bound to gateways: who else signed with it (one
    /// key file given to several instances) is not known, so it is marked as any gateway's rather
    /// than bound to the first to register it, which would fail the others' receipts for good.
    /// </summary>
    public const string RegisterKeys = """
        local members = nil
        for i = 2, #ARGV, 2 do
          local kid, prefix = ARGV[i], ARGV[i] .. ' '
          if redis.call('HEXISTS', KEYS[1], kid) == 1 then
            members = members or redis.call('SMEMBERS', KEYS[2])
            local bound = false
            for _, m in ipairs(members) do
              if string.sub(m, 1, #prefix) == prefix then bound = true break end
            end
            if not bound then redis.call('SADD', KEYS[2], prefix .. '*') end
          end
          redis.call('SADD', KEYS[2], prefix .. ARGV[1])
          redis.call('HSET', KEYS[1], kid, ARGV[i + 1])
        end
        return 1
        """;

    /// <summary>
    /// How long an instance that took over an expired claim has to write its outcome_unknown
    /// receipt before another may take the claim over in its turn (it died in between).
    /// </summary>
    public static readonly TimeSpan TakeoverLease = TimeSpan.FromMilliseconds(int.Parse(TakeoverLeaseMs, System.Globalization.CultureInfo.InvariantCulture));

    private const string TakeoverLeaseMs = "30000";

    // Reads a claim; a claim still in progress whose lease has passed becomes outcome_unknown
    // here, once, and the caller that did it is told so (the last element, takeover = '1'). The
    // taker's own lease then runs: a taken-over claim still without its receipt when that lease
    // passes was left by a taker that died before writing it, and is taken over again. now is
    // Redis's clock (server_ms), which every lease was set on: a gateway whose clock is ahead
    // never takes a live claim over.
    private const string Inspect = ServerNow + $$"""
        local function inspect(key, now, taker)
          local s = redis.call('HMGET', key, 'req', 'exec', 'done', 'decision', 'receipt', 'lease', 'action', 'tenant', 'approval', 'created', 'trace', 'aid')
          if not s[1] then return nil end
          local takeover = '0'
          local stranded = s[3] == '0' or (s[4] == 'outcome_unknown' and not s[5])
          if stranded and tonumber(s[6]) < tonumber(now) then
            redis.call('HSET', key, 'done', '1', 'decision', 'outcome_unknown', 'taker', taker, 'lease', tonumber(now) + {{TakeoverLeaseMs}})
            s[3] = '1'
            s[4] = 'outcome_unknown'
            takeover = '1'
          end
          return {'taken', s[1], s[2], s[3], s[4] or '', s[5] or '', s[7] or '', s[8] or '', s[9] or '', s[10] or '0', takeover, s[11] or '', s[12] or ''}
        end

        """;

    // The outcome of a claim, from the receipt that records it: only for the claim this exec id
    // holds, and only the first receipt for it (a late holder and a taker-over cannot both win;
    // the holder's own outcome, copied late, wins through supersede below).
    private const string Record = """
        local function record(key, exec, decision, hash)
          if redis.call('HGET', key, 'exec') ~= exec then return 0 end
          if redis.call('HGET', key, 'receipt') then return 0 end
          redis.call('HSET', key, 'done', '1', 'decision', decision, 'receipt', hash)
          return 1
        end

        """;

    // A claim taken over (its lease passed with its holder cut off from Redis) reads as
    // outcome_unknown, but its holder may have finished the call and written its receipt, whose
    // copy arrives only once it reaches Redis again. That receipt knows what happened: it
    // replaces the takeover's outcome_unknown as the claim's outcome. Only a receipt of the
    // gateway that took the claim (its holder), for this exec id, with another decision than
    // outcome_unknown, and only over a takeover's outcome_unknown (or its own receipt, recorded
    // before the taker's copy set the exec id's key): never the other way. A claim
    // taken before holders were recorded has none and keeps the first receipt.
    private const string Supersede = """
        local function supersede(key, exec, decision, hash, gateway)
          if decision == 'outcome_unknown' then return false end
          local s = redis.call('HMGET', key, 'exec', 'holder', 'taker', 'decision', 'receipt')
          if s[1] ~= exec or s[2] ~= gateway or not s[3] then return false end
          if s[4] ~= 'outcome_unknown' and s[5] ~= hash then return false end
          redis.call('HSET', key, 'done', '1', 'decision', decision, 'receipt', hash)
          return true
        end

        """;

    // A claim released (nothing reached the backend): nonce and approval are freed, each only
    // while this exec id holds it and each on its own (the direct release and the receipt's copy
    // may come in either order, and an approval must not stay consumed because the nonce was
    // already freed). With no approval the approval key is the nonce key and is not read as one.
    // A claim another instance took over is never freed: it has said the attempt may have run
    // (an outcome_unknown receipt, perhaps already an agent's answer), so nonce and approval stay
    // spent; the holder's release receipt then records the outcome instead (supersede).
    private const string Free = """
        local function free(nonce, approval, exec, hasApproval)
          local s = redis.call('HMGET', nonce, 'exec', 'taker')
          if s[1] == exec and s[2] then return 0 end
          if hasApproval and redis.call('GET', approval) == exec then redis.call('DEL', approval) end
          if s[1] ~= exec then return 0 end
          redis.call('DEL', nonce)
          return 1
        end

        """;

    // How long a claim's keys must live: the retention counted from the end of its lease, not
    // from the claim, so that a call running longer than the retention (a short NonceRetention, a
    // long stream) is never forgotten while it runs, and a holder that died still leaves its
    // claim to be read as outcome_unknown (and swept) for the whole retention. keep() only ever
    // lengthens a key's life.
    private const string Lifetime = """
        local function keep_for(lease_until, now, retention)
          return math.max(tonumber(lease_until) - tonumber(now), 0) + tonumber(retention)
        end
        local function keep(key, ttl)
          local left = redis.call('PTTL', key)
          if left ~= -2 and left < ttl then redis.call('PEXPIRE', key, ttl) end
        end

        """;

    /// <summary>KEYS: nonce. ARGV: this gateway.</summary>
    public const string Lookup = Inspect + """
        return inspect(KEYS[1], server_ms(), ARGV[1]) or {'free'}
        """;

    /// <summary>
    /// KEYS: nonce, approval (the nonce key again when there is none), this exec id's abandoned
    /// mark, this gateway's <see cref="Held"/>. ARGV: this gateway, request hash, exec id,
    /// action, tenant, lease ms (how long from now, on Redis's clock; below zero for a lease
    /// already over), retention ms, approval identity or '', created ms (the gateway's clock: what
    /// its receipt's started_at says), trace id or '', the verified artifact's approval_id or ''
    /// (kept only when there is one: what a takeover's outcome_unknown receipt names).
    /// The claim names this gateway as its holder: only its receipt may replace a takeover's
    /// outcome_unknown later (<see cref="Copy"/>).
    /// Nonce and approval are claimed together or not at all; never under an exec id the gateway
    /// has given up on (<see cref="Abandon"/>: the claim reached Redis after its 503).
    /// A claim's keys live for the retention counted from the end of its lease; the held set as
    /// long as its longest-lived claim: a gateway that stops for good (its data dir gone,
    /// replaced) leaves it to expire, not in Redis forever.
    /// </summary>
    public const string Claim = Inspect + Lifetime + """
        if redis.call('EXISTS', KEYS[3]) == 1 then return {'abandoned'} end
        local now = server_ms()
        local taken = inspect(KEYS[1], now, ARGV[1])
        if taken then return taken end
        if ARGV[8] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then return {'approval'} end
        local lease_until = now + tonumber(ARGV[6])
        redis.call('HSET', KEYS[1], 'req', ARGV[2], 'exec', ARGV[3], 'done', '0', 'action', ARGV[4], 'tenant', ARGV[5], 'lease', lease_until, 'approval', ARGV[8], 'created', ARGV[9], 'trace', ARGV[10], 'holder', ARGV[1])
        local ttl = keep_for(lease_until, now, ARGV[7])
        if ARGV[11] and ARGV[11] ~= '' then redis.call('HSET', KEYS[1], 'aid', ARGV[11]) end
        redis.call('PEXPIRE', KEYS[1], ttl)
        if ARGV[8] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'PX', ttl) end
        redis.call('ZADD', KEYS[4], lease_until, KEYS[1])
        keep(KEYS[4], ttl)
        return {'claimed'}
        """;

    /// <summary>
    /// KEYS: a gateway's <see cref="Held"/>. ARGV: a grace in ms, how many. Of the claims whose lease (as
    /// taken, or as last seen here) ended longer than the grace ago on Redis's clock: those gone or finished with their receipt leave
    /// the set; those renewed since are looked at again when their lease ends; those still
    /// unfinished (or taken over without a receipt yet) are returned, for the caller to look up,
    /// which takes over an expired one and writes its outcome_unknown receipt. Returns how many
    /// were looked at, then those keys: as many as asked for means there may be more.
    /// </summary>
    public const string Sweep = ServerNow + """
        local cutoff = server_ms() - tonumber(ARGV[1])
        local examined = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[2]))
        local stranded = {#examined}
        for _, key in ipairs(examined) do
          local s = redis.call('HMGET', key, 'done', 'decision', 'receipt', 'lease')
          if not s[1] or (s[1] == '1' and not (s[2] == 'outcome_unknown' and not s[3])) then
            redis.call('ZREM', KEYS[1], key)
          elseif tonumber(s[4]) >= cutoff then
            redis.call('ZADD', KEYS[1], s[4], key)
          else
            table.insert(stranded, key)
          end
        end
        return stranded
        """;

    /// <summary>
    /// KEYS: nonce, this gateway's <see cref="Held"/>. ARGV: exec id, lease ms (how long from
    /// now, on Redis's clock), retention ms. Extends the lease of a claim this exec id holds and
    /// has not finished (never shortening it), and the life of its keys with it; a finished,
    /// taken-over or other claim is left alone.
    /// </summary>
    public const string Renew = ServerNow + Lifetime + """
        local now = server_ms()
        local s = redis.call('HMGET', KEYS[1], 'exec', 'done', 'lease')
        if s[1] ~= ARGV[1] or s[2] ~= '0' then return 0 end
        local lease_until = now + tonumber(ARGV[2])
        if tonumber(s[3]) < lease_until then redis.call('HSET', KEYS[1], 'lease', lease_until) end
        local ttl = keep_for(lease_until, now, ARGV[3])
        keep(KEYS[1], ttl)
        keep(KEYS[2], ttl)
        return 1
        """;

    /// <summary>KEYS: nonce, approval (the nonce key again when there is none). ARGV: exec id, '1' when there is an approval. A claim taken over stays spent.</summary>
    public const string Release = Free + """
        return free(KEYS[1], KEYS[2], ARGV[1], ARGV[2] == '1')
        """;

    /// <summary>
    /// A claim the gateway gave up on (its script timed out: answered 503, nothing consumed): frees
    /// what it holds if it was applied, and marks its exec id so that it is refused if it is
    /// applied only now (a command still on a connection Redis had not read, a paused server).
    /// Either order ends with nothing held, unless another instance took the claim over in between
    /// (applied after its lease): it stays spent then, as <c>free</c> says. KEYS: nonce, approval (the nonce key again when there
    /// is none), abandoned mark. ARGV: exec id, '1' when there is an approval, mark TTL ms.
    /// </summary>
    public const string Abandon = Free + """
        redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
        return free(KEYS[1], KEYS[2], ARGV[1], ARGV[2] == '1')
        """;

    // Now, in ms, on Redis's own clock: every time a script stores or compares with stored times
    // comes from here, so that all instances sharing the Redis read one clock, and a gateway whose
    // clock is wrong or steps (a VM resumed, NTP, a test harness) cannot expire what the others
    // still answer for, nor a live claim. Scripts are replicated by their effects (Redis 7
    // always; 5 and 6 by default), so TIME before a write is allowed.
    private const string ServerNow = """
        local function server_ms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end

        """;

    /// <summary>Receipts one <see cref="Copy"/> call takes (its KEYS and ARGV grow with them).</summary>
    public const int CopyGroup = 32;

    /// <summary>
    /// Copies consecutive receipts of one chain (idempotent: a copy may be repeated after a lost
    /// answer) and applies each one's effect on its claim: this is how a call's outcome reaches
    /// Redis (the call waits for it), and a release too when its direct script could not run:
    /// 'outcome' records it (first receipt wins); 'release'
    /// frees nonce and approval, each while this exec id holds it; 'none' (refusals) touches no
    /// claim. The holder's own receipt (outcome or release) of a claim another instance took over
    /// replaces the takeover's outcome_unknown instead (see supersede), and the exec id's key then
    /// names it. When an 'outcome' finds no claim at all, Redis lost it (a restart without its last
    /// writes, a flush, a switch from the embedded store): the claim and its approval are restored
    /// from the receipt for what is left of the retention (counted from its started_at on Redis's
    /// clock, and never longer than the retention).
    /// A group that does not continue the chain Redis has (its first seq is past the head + 1:
    /// an earlier group failed, or Redis lost data in a flush or a failover) writes nothing and
    /// returns -1, so the copier starts again from the head Redis has, restoring what it lost;
    /// unless Redis holds none of the chain and the group begins at the seq its last ARGV names
    /// (the copier begins a chain at its first receipt still inside the retention).
    /// A receipt at a seq Redis already holds another receipt of (another hash) writes nothing and
    /// returns -2: two processes sign this chain (a copied data dir, the same gateway id), and
    /// the one that finds it out stops rather than fork the chain further.
    /// The document is kept once, in the chain copy; the exec id's key says where it stands.
    /// Copies live as long as the claims (the retention): older ones leave the chain and their
    /// receipt keys expire, and a chain no longer copied to expires whole. When each was copied,
    /// and so when it leaves, is read on Redis's clock, never the copying gateway's: a gateway
    /// whose clock is ahead must not trim copies every other instance still answers for. Each
    /// instance's own ledger keeps its chain complete.
    /// KEYS: chain, gateways, copy times, then per receipt: receipt, nonce, approval (the nonce
    /// key again when there is none).
    /// ARGV: gateway, retention ms, then per receipt: seq, document, hash, exec id, decision,
    /// request hash, approval identity or '', action, tenant, started ms, '1' to restore a lost
    /// claim (else '0'), effect.
    /// </summary>
    public const string Copy = ServerNow + Record + Supersede + Free + """
        local retention = tonumber(ARGV[2])
        local now = server_ms()
        local n = (#KEYS - 3) / 3
        local head = redis.call('HGET', KEYS[2], ARGV[1])
        local headSeq = head and tonumber(string.match(head, '^%d+')) or 0
        local chainStart = tonumber(ARGV[3 + n * 12])
        local callerNow = tonumber(ARGV[4 + n * 12])
        if tonumber(ARGV[3]) > headSeq + 1 and not (headSeq == 0 and tonumber(ARGV[3]) == chainStart) then return -1 end
        for i = 0, n - 1 do
          local a = 2 + i * 12
          local seq = tonumber(ARGV[a + 1])
          if seq <= headSeq then
            for _, held in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], seq, seq)) do
              if string.match(held, '"hash":"(%x+)"') ~= ARGV[a + 3] then return -2 end
            end
          end
        end
        for i = 0, n - 1 do
          local k = 3 + i * 3
          local a = 2 + i * 12
          local seq, doc, hash, exec = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
          local effect = ARGV[a + 12]
          redis.call('ZADD', KEYS[1], seq, doc)
          redis.call('ZADD', KEYS[3], now, seq)
          if effect ~= 'none' and supersede(KEYS[k + 2], exec, ARGV[a + 5], hash, ARGV[1]) then
            redis.call('SET', KEYS[k + 1], ARGV[1] .. ' ' .. seq, 'PX', retention)
          else
            redis.call('SET', KEYS[k + 1], ARGV[1] .. ' ' .. seq, 'NX', 'PX', retention)
            if effect == 'release' then
              free(KEYS[k + 2], KEYS[k + 3], exec, ARGV[a + 7] ~= '')
            elseif effect == 'outcome' then
              -- What is left of the retention since the attempt started (a started_at ahead of
              -- the clock is kept no longer than the retention). started_at is the copying
              -- gateway's time: the time elapsed is read on Redis's clock and on that gateway's,
              -- and the shorter kept, so that neither clock's lead over the other cuts it short.
              local started = tonumber(ARGV[a + 10])
              local elapsed = now - started
              if callerNow and callerNow - started < elapsed then elapsed = callerNow - started end
              local ttl = started > 0 and math.min(retention - elapsed, retention) or 0
              if ARGV[a + 11] == '1' and ttl > 0 and redis.call('EXISTS', KEYS[k + 2]) == 0 then
                redis.call('HSET', KEYS[k + 2], 'req', ARGV[a + 6], 'exec', exec, 'done', '1', 'decision', ARGV[a + 5], 'receipt', hash, 'action', ARGV[a + 8], 'tenant', ARGV[a + 9], 'approval', ARGV[a + 7], 'created', ARGV[a + 10], 'lease', ARGV[a + 10])
                -- An outcome_unknown restored is a takeover's (or its holder's own, which nothing
                -- frees after): marked taken, so that no late release copy frees it (free()).
                if ARGV[a + 5] == 'outcome_unknown' then redis.call('HSET', KEYS[k + 2], 'taker', ARGV[1]) end
                redis.call('PEXPIRE', KEYS[k + 2], ttl)
                if ARGV[a + 7] ~= '' then redis.call('SET', KEYS[k + 3], exec, 'PX', ttl, 'NX') end
              else
                record(KEYS[k + 2], exec, ARGV[a + 5], hash)
              end
            end
          end
        end
        local last = 2 + (n - 1) * 12
        if headSeq < tonumber(ARGV[last + 1]) then
          redis.call('HSET', KEYS[2], ARGV[1], ARGV[last + 1] .. ' ' .. ARGV[last + 3])
        end
        local cutoff = now - retention
        local expired = redis.call('ZREVRANGEBYSCORE', KEYS[3], cutoff, '-inf', 'LIMIT', 0, 1)
        if expired[1] then
          redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', expired[1])
          redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', cutoff)
        end
        redis.call('PEXPIRE', KEYS[1], retention)
        redis.call('PEXPIRE', KEYS[3], retention)
        return n
        """;

    /// <summary>The scripts every request runs (<see cref="Claim"/>) or may run, sent by their SHA-1.</summary>
    public static readonly StoredScript ClaimScript = new(Claim), LookupScript = new(Lookup), RenewScript = new(Renew);
}

/// <summary>
/// A script sent as <c>EVALSHA</c> of a SHA-1 computed once. StackExchange.Redis sends a script
/// given as text by its SHA-1 too, but finds that SHA-1 in a table keyed by the text, hashing all
/// of it (2 KB for <see cref="RedisScripts.Claim"/>) on every call.
/// </summary>
internal sealed class StoredScript(string text)
{
    public string Text { get; } = text;

    public byte[] Sha1 { get; } = System.Security.Cryptography.SHA1.HashData(System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// Redis does not have the script (restarted without it, <c>SCRIPT FLUSH</c>, a failover):
    /// nothing ran, and the text (which StackExchange.Redis loads) runs it.
    /// </summary>
    public static bool NotLoaded(RedisServerException ex) => ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal);
}
