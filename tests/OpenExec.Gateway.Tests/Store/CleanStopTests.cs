using Microsoft.Data.Sqlite;
using OpenExec.Gateway.Tests.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>What a gateway stopped cleanly leaves in its data dir.</summary>
public sealed class CleanStopTests
{
    [Fact]
    public async Task A_clean_stop_leaves_every_receipt_and_claim_in_the_database_file_itself()
    {
        // Checkpoints ran every 250 pages: a small ledger lived in openexec.db-wal alone, and a
        // backup of openexec.db without it (a plain cp) held nothing; restored, every used nonce
        // ran again and the chain began again at seq 1 under the same gateway id.
        var dataDir = TempDir.Create();
        var copy = TempDir.Create();
        try
        {
            await using (var gateway = await GatewayProcess.StartAsync(dataDir))
            {
                for (var i = 0; i < 5; i++)
                {
                    await GatewayAssert.ExecutedAsync(await gateway.ExecuteAsync("echo", new { i }, $"clean-stop-{i}"));
                }
                Assert.Equal(0, await gateway.StopAsync()); // SIGTERM, as a service manager stops it
            }

            var wal = new FileInfo(Path.Combine(dataDir, "openexec.db-wal"));
            Assert.Equal(0, wal.Exists ? wal.Length : 0);
            File.Copy(Path.Combine(dataDir, "openexec.db"), Path.Combine(copy, "openexec.db"));
            using var alone = new SqliteConnection($"Data Source={Path.Combine(copy, "openexec.db")};Mode=ReadOnly;Pooling=False");
            alone.Open();
            using var count = alone.CreateCommand();
            count.CommandText = "SELECT (SELECT count(*) FROM receipts), (SELECT count(*) FROM claim_log)";
            using var row = count.ExecuteReader();
            Assert.True(row.Read());
            Assert.Equal((5L, 5L), (row.GetInt64(0), row.GetInt64(1)));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            TempDir.Delete(copy);
            TempDir.Delete(dataDir);
        }
    }
}
