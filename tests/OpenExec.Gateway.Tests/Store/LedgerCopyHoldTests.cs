using Microsoft.Extensions.Logging.Abstractions;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Hosting;
using OpenExec.Gateway.Store;

namespace OpenExec.Gateway.Tests.Store;

/// <summary>A ledger write held for its receipt's copy (what the Redis store's outcomes wait for).</summary>
public sealed class LedgerCopyHoldTests : StoreTestBase
{
    internal override IExecutionStore OpenStore(GatewayIdentity identity) => SqliteExecutionStoreTests.Open(identity);

    [Fact]
    public async Task A_held_write_resumes_when_the_copier_completes_it_not_at_its_commit()
    {
        var copier = new HoldingCopier();
        using var ledger = new SqliteReceiptLedger(NewIdentity(), claims: null, copier, NullLogger.Instance);

        var held = ledger.AppendAsync(Draft(NewExecId(), Hex64(), "executed"), claimUpdate: null, holdForCopy: true).AsTask();
        // Queued after it: once this one is answered, the held one is committed too.
        var plain = await ledger.AppendAsync(Draft(NewExecId(), Hex64(), "rejected"), claimUpdate: null);

        Assert.Equal(2, plain.Body.Seq);
        // The writer wakes the plain write's caller (on the thread pool) and then hands the batch
        // to the copier: that hand-over may come a moment after this caller resumes.
        Assert.True(SpinWait.SpinUntil(() => copier.Copied.Count >= 2, TimeSpan.FromSeconds(10)));
        Assert.Equal([1L, 2L], copier.Copied);
        var write = Assert.Single(copier.Held);
        Assert.Equal(1, write.Seq);
        await Task.Delay(200);
        Assert.False(held.IsCompleted);

        write.Write.Complete();

        Assert.Equal(1, (await held.WaitAsync(TimeSpan.FromSeconds(10))).Body.Seq);
    }

    [Fact]
    public async Task The_copier_is_handed_each_receipts_document_as_stored_not_written_again()
    {
        var copier = new HoldingCopier();
        var identity = NewIdentity();
        using (var ledger = new SqliteReceiptLedger(identity, claims: null, copier, NullLogger.Instance))
        {
            var appends = Enumerable.Range(0, 20).Select(i => ledger.AppendAsync(Draft(NewExecId(), Hex64(), i % 2 == 0 ? "executed" : "rejected"), claimUpdate: null).AsTask()).ToList();
            await Task.WhenAll(appends);
        }

        var handed = copier.Handed;
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), handed.Select(h => h.Document.Body.Seq));
        using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(identity.DataDir, GatewayIdentity.LedgerFile)};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var read = db.CreateCommand();
        read.CommandText = "SELECT seq, CAST(document AS BLOB) FROM receipts ORDER BY seq";
        using var rows = read.ExecuteReader();
        foreach (var (document, json) in handed)
        {
            Assert.True(rows.Read());
            Assert.Equal(document.Body.Seq, rows.GetInt64(0));
            Assert.Equal((byte[])rows.GetValue(1), json);
            Assert.Equal(document.ToJsonUtf8(), json);
        }
        Assert.False(rows.Read());
    }

    [Fact]
    public async Task Without_a_copier_a_write_asked_to_be_held_resumes_at_its_commit()
    {
        using var ledger = new SqliteReceiptLedger(NewIdentity(), claims: null, copier: null, NullLogger.Instance);

        var doc = await ledger.AppendAsync(Draft(NewExecId(), Hex64(), "executed"), claimUpdate: null, holdForCopy: true).AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(1, doc.Body.Seq);
    }

    private sealed class HoldingCopier : IReceiptCopier
    {
        private readonly Lock _lock = new();
        private readonly List<long> _copied = [];
        private readonly List<HeldWrite> _held = [];

        public List<long> Copied
        {
            get
            {
                lock (_lock)
                {
                    return [.. _copied];
                }
            }
        }

        public List<HeldWrite> Held
        {
            get
            {
                lock (_lock)
                {
                    return [.. _held];
                }
            }
        }

        public List<(ReceiptDocument Document, byte[] Json)> Handed
        {
            get
            {
                lock (_lock)
                {
                    return [.. _handed];
                }
            }
        }

        private readonly List<(ReceiptDocument, byte[])> _handed = [];

        public void Committed(IReadOnlyList<ReceiptDocument> documents, IReadOnlyList<byte[]> json, IReadOnlyList<HeldWrite> held)
        {
            lock (_lock)
            {
                _copied.AddRange(documents.Select(d => d.Body.Seq));
                _handed.AddRange(documents.Zip(json));
                _held.AddRange(held);
            }
        }
    }
}
