using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>
/// What the claim table holds in memory is its index: a prune of many claims (the first one on
/// a large data dir forgets millions) leaves nothing of its own behind.
/// </summary>
[Collection(AllocationCountCollection.Name)]
public sealed class SqliteClaimTableMemoryTests
{
    [Fact]
    public void A_large_prune_leaves_no_undo_log_held()
    {
        const int Claims = 200_000;
        using var file = new ClaimTableFile();
        var (table, statements) = (file.Table, file.Statements);
        var random = new Random(5);
        var created = DateTimeOffset.FromUnixTimeMilliseconds(1_000);
        // Committed in batches as the writer does (at most 512 operations a transaction).
        for (var i = 0; i < Claims; i += 500)
        {
            statements.Execute("BEGIN IMMEDIATE");
            for (var j = 0; j < 500; j++)
            {
                var request = new ClaimRequest(RandomHex(random), new string('b', 64), RandomHex(random), "exec", "echo", "default", created, TimeSpan.FromMinutes(1));
                Assert.Equal(ClaimStatus.Claimed, table.Apply(statements, request, ("executed", new string('e', 64))).Status);
            }
            statements.Execute("COMMIT");
            table.Committed();
        }

        var before = GC.GetTotalMemory(forceFullCollection: true);
        statements.Execute("BEGIN IMMEDIATE");
        Assert.Equal(Claims, table.Prune(statements, cutoffMs: 2_000));
        statements.Execute("COMMIT");
        table.Committed();
        var held = GC.GetTotalMemory(forceFullCollection: true) - before;

        Assert.Equal(0, table.Count);
        // The index keeps its segments for the claims to come; the prune's undo log (two
        // entries of 56 bytes per claim: ~29 MB here) must not stay with it.
        Assert.True(held < 4 << 20, $"{held} bytes held after the prune");
        GC.KeepAlive(table);
    }

    private static string RandomHex(Random random)
    {
        var bytes = new byte[32];
        random.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }
}
