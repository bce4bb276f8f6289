using System.Net;
using Microsoft.Data.Sqlite;
using OpenExec.Gateway.Store;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>
/// A checkpoint cannot pass a reader's snapshot, so while another connection holds a read
/// transaction (an online backup, a monitoring query, sqlite3 by hand) the WAL grows with every
/// write. It grew to 570 MB under a 45 s read during load and kept that size for good, across
/// stops and restarts; it is now cut back once the reader is gone.
/// </summary>
public sealed class SqliteWalSizeTests
{
    [Fact]
    public async Task A_wal_grown_behind_a_long_read_is_cut_back_once_the_reader_is_gone()
    {
        await using var gateway = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["OpenExec:RateLimit:PerClientPerSecond"] = "0" });
        var database = Path.Combine(gateway.DataDir, "openexec.db");
        var wal = database + "-wal";
        var n = 0;
        async Task RunAsync(int count)
        {
            for (var start = 0; start < count; start += 16)
            {
                var answers = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => gateway.ExecuteAsync("echo", new { msg = new string('x', 512) }, $"n-{Interlocked.Increment(ref n)}")));
                Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
            }
        }

        using (var reader = new SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=False"))
        {
            reader.Open();
            using var read = reader.CreateCommand();
            read.CommandText = "BEGIN; SELECT count(*) FROM receipts;";
            read.ExecuteScalar();
            while (new FileInfo(wal).Length <= 2 * SqliteReceiptLedger.WalSizeLimit)
            {
                await RunAsync(64);
            }
            using var end = reader.CreateCommand();
            end.CommandText = "COMMIT";
            end.ExecuteNonQuery();
        }

        // The next checkpoint reaches the end of the WAL; the write after it starts the WAL over.
        await RunAsync(512);
        Assert.True(new FileInfo(wal).Length <= SqliteReceiptLedger.WalSizeLimit, $"WAL still {new FileInfo(wal).Length} bytes");
    }
}
