using Microsoft.Extensions.Logging.Abstractions;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Store;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>
/// The retention forgets old claims a few hundred per write, each queued between requests'
/// writes, so that forgetting an hour of a busy gateway's claims never holds the writer (and so
/// every request) for seconds in one piece; all of them are forgotten all the same.
/// </summary>
public sealed class SqlitePruneTests : StoreTestBase
{
    private const int Claims = 1_300;

    internal override IExecutionStore OpenStore(GatewayIdentity identity) => SqliteExecutionStoreTests.Open(identity);

    [Fact]
    public async Task Each_prune_forgets_at_most_its_limit_of_claims()
    {
        var identity = NewIdentity();
        using var ledger = new SqliteReceiptLedger(identity, new SqliteClaimTable(), copier: null, NullLogger.Instance);
        await FinishedClaimsAsync((claim, body) => ledger.ClaimAndRecordAsync(claim, body));

        var cutoff = DateTimeOffset.UtcNow.AddMinutes(1);
        List<int> pruned = [];
        do
        {
            pruned.Add(await ledger.PruneClaimsAsync(cutoff));
        }
        while (pruned[^1] > 0);

        Assert.Equal([512, 512, 276, 0], pruned);
    }

    [Fact]
    public async Task A_prune_goes_on_until_every_claim_older_than_the_cutoff_is_forgotten()
    {
        var identity = NewIdentity();
        using var store = SqliteExecutionStoreTests.Open(identity);
        var nonces = await FinishedClaimsAsync((claim, body) => store.ClaimAndRecordAsync(claim, body, default));

        await store.PruneAsync(DateTimeOffset.UtcNow.AddMinutes(1));

        foreach (var nonce in nonces)
        {
            Assert.Equal(NonceState.Free, await store.LookupAsync(nonce, default));
        }
    }

    private static async Task<List<string>> FinishedClaimsAsync(Func<ClaimRequest, Core.Receipts.ReceiptBody, ValueTask<(ClaimResult Claim, Core.Receipts.ReceiptDocument? Receipt)>> claimAndRecord)
    {
        var nonces = Enumerable.Range(0, Claims).Select(_ => ExecutionStoreContract.Hex64()).ToList();
        var results = await Task.WhenAll(nonces.Select(async nonce =>
        {
            var claim = ExecutionStoreContract.Claim(nonce, approval: ExecutionStoreContract.Hex64());
            return (await claimAndRecord(claim, ExecutionStoreContract.Draft(claim.ExecId, nonce, "executed"))).Claim.Status;
        }));
        Assert.All(results, status => Assert.Equal(ClaimStatus.Claimed, status));
        return nonces;
    }
}
