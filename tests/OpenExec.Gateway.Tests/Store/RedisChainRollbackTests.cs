using Microsoft.Data.Sqlite;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Infrastructure;
using OpenExec.Gateway.Tests.Store;
using StackExchange.Redis;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>
/// A local ledger behind the chain Redis holds for it (a data dir restored from an earlier
/// backup, as the README advises for a damaged gateway id; a lost WAL) must not sign on: it would
/// issue seqs Redis already has, which the copy would skip (a fork). It signs and claims nothing,
/// and /health says why.
/// </summary>
public sealed class RedisChainRollbackTests : StoreTestBase
{
    private readonly RedisServer _redis = RedisServer.Start();

    internal override IExecutionStore OpenStore(GatewayIdentity identity) => RedisStores.Open(_redis, identity);

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        _redis.Dispose();
    }

    [Fact]
    public async Task A_ledger_behind_redis_signs_nothing_and_says_why()
    {
        var identity = NewIdentity();
        var (reader, _) = Open();
        using (var store = RedisStores.Open(_redis, identity))
        {
            for (var i = 0; i < 5; i++)
            {
                await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);
            }
            await RedisStores.EventuallyAsync(async () => (await reader.ListReceiptsAsync(identity.GatewayId, 0, 100, default)).Count == 5, "copied");
        }
        // The data dir goes back to a state with two receipts (restored backup).
        using (var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(identity.DataDir, "openexec.db"), Pooling = false }.ToString()))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "DELETE FROM receipts WHERE seq > 2";
            cmd.ExecuteNonQuery();
        }

        var reopened = RedisStores.Open(_redis, identity);
        Own(reopened);
        var fresh = new List<ReceiptDocument>();
        Exception? refused = null;
        try
        {
            await reopened.RecoverAsync(_ => throw new InvalidOperationException(), default);
            await Task.Delay(1500);
            for (var i = 0; i < 4; i++)
            {
                fresh.Add(await reopened.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default));
            }
            await Task.Delay(3000);
        }
        catch (Exception ex)
        {
            refused = ex;
        }
        // Expected: the gateway notices that Redis holds more of its chain than its ledger and
        // refuses to sign on (fail closed), rather than sign a second seq 3, 4, 5, 6.
        if (refused is null)
        {
            var copy = await reader.ListReceiptsAsync(identity.GatewayId, 0, 100, default);
            var missing = fresh.Where(d => copy.All(c => c.Hash != d.Hash)).Select(d => d.Body.Seq).ToList();
            Assert.Fail($"Forked: new receipts at seqs {string.Join(",", fresh.Select(d => d.Body.Seq))}; Redis copy has seqs {string.Join(",", copy.Select(d => d.Body.Seq))}; new receipts never copied: {string.Join(",", missing)}; copy's seq 6 prev matches its seq 5: {copy.FirstOrDefault(d => d.Body.Seq == 6)?.Body.Prev == copy.FirstOrDefault(d => d.Body.Seq == 5)?.Hash}");
        }

        Assert.Contains("chain", Assert.IsType<StoreUnavailableException>(refused).Message);
        Assert.False(await reopened.PingAsync(default));
    }

    [Fact]
    public async Task A_ledger_whose_receipt_at_redis_head_differs_signs_nothing()
    {
        // Rolled back and signed on as far as Redis's head again: same seq, another receipt.
        var identity = NewIdentity();
        var (reader, _) = Open();
        using (var store = RedisStores.Open(_redis, identity))
        {
            for (var i = 0; i < 3; i++)
            {
                await store.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default);
            }
            await RedisStores.EventuallyAsync(async () => (await reader.ListReceiptsAsync(identity.GatewayId, 0, 100, default)).Count == 3, "copied");
        }
        using (var admin = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration))
        {
            await admin.GetDatabase().HashSetAsync("openexec:gateways", identity.GatewayId, $"3 {Hex64()}");
        }

        var reopened = RedisStores.Open(_redis, identity);
        Own(reopened);
        await reopened.RecoverAsync(_ => throw new InvalidOperationException(), default);

        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await reopened.AppendReceiptAsync(Draft(NewExecId(), Hex64(), "rejected"), null, default));
        Assert.False(await reopened.PingAsync(default));
    }
}
