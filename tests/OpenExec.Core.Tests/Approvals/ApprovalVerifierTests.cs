using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;

namespace OpenExec.Core.Tests.Approvals;

public sealed class ApprovalVerifierTests : IDisposable
{
    private const string Hash = "11410011e527ad258990fa54c54137f90192e73eea1358202783c45ea6f86b38";
    private static readonly DateTimeOffset Issued = new(2026, 11, 24, 18, 5, 0, TimeSpan.Zero);

    private readonly ReceiptSigningKey _old = ReceiptSigningKey.Generate();
    private readonly ReceiptSigningKey _new = ReceiptSigningKey.Generate();
    private readonly ReceiptSigningKey _stranger = ReceiptSigningKey.Generate();

    public void Dispose()
    {
        _old.Dispose();
        _new.Dispose();
        _stranger.Dispose();
    }

    private ApprovalVerifier Verifier() => new(Ed25519PublicKeys.ParsePem(_old.ExportPublicPem() + _new.ExportPublicPem()));

    [Fact]
    public void AnyConfiguredKeyVerifies()
    {
        var verifier = Verifier();

        Assert.True(verifier.VerifySignature(new ApprovalMinter(_old).Mint("tenant-001", Hash, Issued, Issued.AddMinutes(5))));
        Assert.True(verifier.VerifySignature(new ApprovalMinter(_new).Mint("tenant-001", Hash, Issued, Issued.AddMinutes(5))));
        Assert.False(verifier.VerifySignature(new ApprovalMinter(_stranger).Mint("tenant-001", Hash, Issued, Issued.AddMinutes(5))));
    }

    [Fact]
    public void MintedArtifactHasPythonIsoformatTimestampsAndParses()
    {
        var artifact = new ApprovalMinter(_old).Mint("tenant-001", Hash, Issued.AddTicks(1234560), Issued.AddMinutes(5));

        Assert.Equal("2026-11-24T18:05:00.123456", artifact.IssuedAt);
        Assert.Equal("2026-11-24T18:10:00.000000", artifact.ExpiresAt);
        Assert.True(Guid.TryParse(artifact.ApprovalId, out _));
        Assert.Equal(artifact, ApprovalArtifact.Parse(artifact.ToStrictValue()));
    }

    [Theory]
    [InlineData("approval_id")]
    [InlineData("tenant_id")]
    [InlineData("action_hash")]
    [InlineData("issued_at")]
    [InlineData("expires_at")]
    public void AnyChangedSignedFieldFails(string field)
    {
        var artifact = new ApprovalMinter(_old).Mint("tenant-001", Hash, Issued, Issued.AddMinutes(5));
        var changed = field switch
        {
            "approval_id" => artifact with { ApprovalId = artifact.ApprovalId + "x" },
            "tenant_id" => artifact with { TenantId = "tenant-002" },
            "action_hash" => artifact with { ActionHash = new string('0', 64) },
            "issued_at" => artifact with { IssuedAt = "2026-11-24T18:05:01.000000" },
            _ => artifact with { ExpiresAt = "2026-11-25T18:10:00.000000" },
        };

        Assert.False(Verifier().VerifySignature(changed));
    }

    [Fact]
    public void MalformedSignatureIsNotAuthenticAndDoesNotThrow()
    {
        var artifact = new ApprovalMinter(_old).Mint("tenant-001", Hash, Issued, Issued.AddMinutes(5));

        Assert.False(Verifier().VerifySignature(artifact with { Signature = "AAAA" }));
        Assert.False(Verifier().VerifySignature(artifact with { Signature = Convert.ToBase64String(new byte[64]) }));
    }

    [Fact]
    public void RecutArtifactStillVerifiesAndHasTheSameIdentity()
    {
        // v1 signs approval_id + tenant_id with no separator: moving characters across that
        // boundary keeps the signature valid, so identity must not be the approval_id text.
        var artifact = new ApprovalMinter(_old).MintRaw("approval-123", "tenant-001", Hash, "2026-11-24T18:05:00", "2026-11-24T18:10:00");
        var recut = artifact with { ApprovalId = "approval-123tenant", TenantId = "-001" };

        Assert.True(Verifier().VerifySignature(recut));
        Assert.NotEqual(artifact.ApprovalId, recut.ApprovalId);
        Assert.Equal(artifact.Identity, recut.Identity);
    }

    [Fact]
    public void DifferentApprovalsHaveDifferentIdentities()
    {
        var minter = new ApprovalMinter(_old);
        var a = minter.Mint("tenant-001", Hash, Issued, Issued.AddMinutes(5));
        var b = minter.Mint("tenant-001", Hash, Issued, Issued.AddMinutes(5));

        Assert.NotEqual(a.Identity, b.Identity);
        Assert.Matches("^[0-9a-f]{64}$", a.Identity);
    }

    [Fact]
    public void Verifying_a_signature_allocates_nothing()
    {
        // Per request in clawshield mode: the signature was decoded into an array, then re-encoded
        // into a string to check its spelling (about 0.3 KB).
        var verifier = Verifier();
        var artifact = new ApprovalMinter(_new).Mint("tenant-001", Hash, Issued, Issued.AddMinutes(5));
        var message = artifact.SignedMessage();
        Assert.True(verifier.VerifySignature(artifact, message));

        var before = GC.GetAllocatedBytesForCurrentThread();
        var verified = verifier.VerifySignature(artifact, message);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(verified);
        Assert.Equal(0, allocated);
        Span<byte> written = stackalloc byte[artifact.SignedMessageLength()];
        artifact.WriteSignedMessage(written);
        Assert.Equal(message, written.ToArray());
    }

    [Fact]
    public void Writing_the_signed_message_allocates_nothing()
    {
        // Per request in clawshield mode: looking for a surrogate in the five fields boxed its
        // bounds (about 1 KB per request, the length and the message each looking).
        var artifact = new ApprovalMinter(_new).Mint("tenant-001", Hash, Issued, Issued.AddMinutes(5));
        Span<byte> written = stackalloc byte[256];
        artifact.WriteSignedMessage(written[..artifact.SignedMessageLength()]);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var length = artifact.SignedMessageLength();
        artifact.WriteSignedMessage(written[..length]);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(artifact.SignedMessage(), written[..length].ToArray());
    }
}
