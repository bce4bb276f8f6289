using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;

namespace OpenExec.Core.Tests.Receipts;

// Depends on Jcs.Serialize (receipt hashes).
public sealed class ChainAuditTests : IDisposable
{
    private readonly ReceiptSigningKey _key = ReceiptSigningKey.Generate();
    private readonly ReceiptSigningKey _foreign = ReceiptSigningKey.Generate();

    public void Dispose()
    {
        _key.Dispose();
        _foreign.Dispose();
    }

    private Func<string, NSec.Cryptography.PublicKey?> Keys => ReceiptFixtures.Keys(_key);

    [Fact]
    public void GoodChainAcrossBatchesPasses()
    {
        var chain = ReceiptFixtures.Chain(_key, 10, batchSize: 4);

        var report = ChainAudit.Audit(chain, Keys);

        Assert.Equal(new ChainAuditReport(10, true, null), report);
    }

    [Fact]
    public void SuffixAuditsFromGivenSeqAndPrev()
    {
        var chain = ReceiptFixtures.Chain(_key, 10, batchSize: 3);

        Assert.True(ChainAudit.Audit(chain.Skip(4), Keys, expectedFirstSeq: 5, expectedPrev: chain[3].Hash).Ok);
        Assert.Equal("seq", ChainAudit.Audit(chain.Skip(4), Keys).Failure!.Check);
        Assert.Equal("prev", ChainAudit.Audit(chain.Skip(4), Keys, expectedFirstSeq: 5).Failure!.Check);
    }

    [Fact]
    public void AlteredBodyIsNamed()
    {
        var chain = ReceiptFixtures.Chain(_key, 6, batchSize: 2);
        chain[3] = chain[3] with { Body = chain[3].Body with { Action = "add" } };

        var report = ChainAudit.Audit(chain, Keys);

        Assert.False(report.Ok);
        Assert.Equal(new ChainAuditFailure(4, "exec-4", "hash"), report.Failure);
        Assert.Equal(4, report.Count);
    }

    [Fact]
    public void AlteredSignatureByteIsNamed()
    {
        var chain = ReceiptFixtures.Chain(_key, 6, batchSize: 1);
        var signature = Base64Url.Decode(chain[2].Signature);
        signature[10] ^= 0x40;
        chain[2] = chain[2] with { Signature = Base64Url.Encode(signature) };

        Assert.Equal(new ChainAuditFailure(3, "exec-3", "signature"), ChainAudit.Audit(chain, Keys).Failure);
    }

    [Fact]
    public void DeletedReceiptIsNamed()
    {
        var chain = ReceiptFixtures.Chain(_key, 6, batchSize: 4);
        chain.RemoveAt(2);

        Assert.Equal(new ChainAuditFailure(4, "exec-4", "seq"), ChainAudit.Audit(chain, Keys).Failure);
    }

    [Fact]
    public void ReorderedReceiptsAreNamed()
    {
        var chain = ReceiptFixtures.Chain(_key, 6, batchSize: 4);
        (chain[1], chain[2]) = (chain[2], chain[1]);

        Assert.Equal(new ChainAuditFailure(3, "exec-3", "seq"), ChainAudit.Audit(chain, Keys).Failure);
    }

    [Fact]
    public void ForeignKeyReceiptIsNamed()
    {
        var chain = ReceiptFixtures.Chain(_key, 5, batchSize: 2);
        // Same body, re-signed by a key the auditor does not trust.
        chain[4] = ReceiptBatchSigner.Sign(_foreign, [chain[4].Body])[0];

        Assert.Equal(new ChainAuditFailure(5, "exec-5", "signature"), ChainAudit.Audit(chain, Keys).Failure);
    }

    [Fact]
    public void BrokenPrevIsNamed()
    {
        var chain = ReceiptFixtures.Chain(_key, 3, batchSize: 3);
        // A correctly signed receipt that links to the wrong predecessor.
        chain[2] = ReceiptBatchSigner.Sign(_key, [chain[2].Body with { Prev = new string('f', 64) }])[0];

        Assert.Equal(new ChainAuditFailure(3, "exec-3", "prev"), ChainAudit.Audit(chain, Keys).Failure);
    }

    [Fact]
    public void OtherGatewaysReceiptIsNamed()
    {
        var chain = ReceiptFixtures.Chain(_key, 3, batchSize: 3);
        var other = ReceiptFixtures.Chain(_key, 3, batchSize: 3, gateway: "gw-b");
        chain[1] = other[1];

        Assert.Equal(new ChainAuditFailure(2, "exec-2", "gateway"), ChainAudit.Audit(chain, Keys).Failure);
    }

    [Fact]
    public void EmptyChainIsOk() => Assert.Equal(new ChainAuditReport(0, true, null), ChainAudit.Audit([], Keys));
}
