using System.Text;
using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;

namespace OpenExec.Core.Tests.Approvals;

/// <summary>
/// The approval header is read straight into the artifact's fields when it is an object of known
/// string fields: for every document, what that gives (the artifact, or the refusal and its
/// message) is what parsing it as a JSON value gives.
/// </summary>
public sealed class ApprovalHeaderReadTests
{
    private const string Id = "8d1f2c8e-0000-4000-8000-000000000001";
    private const string Hash = "11410011e527ad258990fa54c54137f90192e73eea1358202783c45ea6f86b38";
    private static readonly string Signature = Convert.ToBase64String(Enumerable.Range(1, 64).Select(i => (byte)i).ToArray());

    private static readonly string Canonical =
        $$"""{"approval_id":"{{Id}}","tenant_id":"tenant-001","action_hash":"{{Hash}}","issued_at":"2026-11-24T18:05:00Z","expires_at":"2026-11-24T18:10:00Z","signature":"{{Signature}}"}""";

    public static TheoryData<string> Documents()
    {
        var data = new TheoryData<string>
        {
            Canonical,
            " \t\r\n" + Canonical + " \n",
            Canonical.Replace(",", " , ").Replace(":", " : "),
            // Fields in another order, escapes in keys and values (the same strings once read).
            $$"""{"signature":"{{Signature}}","expires_at":"2026-11-24T18:10:00Z","issued_at":"2026-11-24T18:05:00Z","action_hash":"{{Hash}}","tenant_id":"tenant-001","approval_id":"{{Id}}"}""",
            Canonical.Replace("\"tenant_id\"", "\"tenant\\u005fid\""),
            Canonical.Replace("tenant-001", "t\\u00e9nant\\n\\\"x\\\""),
            Canonical.Replace("tenant-001", "ténant-ü-\U0001F600"),
            Canonical.Replace("tenant-001", "\\ud83d\\ude00"),
            Canonical.Replace("tenant-001", "\\ud83d"),
            Canonical.Replace("tenant-001", ""),
            // Missing fields, each (the first missing is named), and the optional ones.
            Canonical.Replace($"\"approval_id\":\"{Id}\",", ""),
            Canonical.Replace("\"tenant_id\":\"tenant-001\",", ""),
            Canonical.Replace($"\"action_hash\":\"{Hash}\",", ""),
            Canonical.Replace("\"issued_at\":\"2026-11-24T18:05:00Z\",", ""),
            Canonical.Replace("\"expires_at\":\"2026-11-24T18:10:00Z\",", ""),
            Canonical.Replace($",\"signature\":\"{Signature}\"", ""),
            "{}",
            " { } ",
            // Shapes the fields refuse.
            Canonical.Replace(Id, "not-a-uuid"),
            Canonical.Replace(Hash, Hash.ToUpperInvariant()),
            Canonical.Replace(Hash, Hash[..63]),
            Canonical.Replace(Signature, "AAAA"),
            // Kept as bytes when without escapes: the same refusals, the same texts.
            Canonical.Replace(Signature, Signature[..85] + "B=="),
            Canonical.Replace(Signature, Signature[..87] + "\u00e9"),
            Canonical.Replace(Signature, Signature[..87] + "é"),
            Canonical.Replace(Hash, Hash[..63] + "é"),
            Canonical.Replace(Id, Id[..35] + "é"),
            Canonical.Replace("2026-11-24T18:05:00Z", "２026-11-24T18:05:00Z"),
            Canonical.Replace("2026-11-24T18:10:00Z", ""),
            // Not an object of known strings: read as a value, then refused there.
            Canonical.Replace("\"tenant-001\"", "1"),
            Canonical.Replace("\"tenant-001\"", "null"),
            Canonical.Replace("\"tenant-001\"", "{\"a\":\"b\"}"),
            Canonical.Replace("\"tenant-001\"", "[\"tenant-001\"]"),
            Canonical.Replace("\"tenant-001\"", "01"),
            Canonical.Replace("{", "{\"extra\":\"x\","),
            Canonical.Replace("{", "{\"tenant_id\":\"dup\","),
            Canonical.Replace("{", "{\"tenant\\u005fid\":\"dup\","),
            Canonical + "x",
            Canonical + "{}",
            Canonical[..^1],
            Canonical[..^1] + ",}",
            Canonical.Replace(":", ""),
            Canonical.Replace(",", ""),
            Canonical.Replace("tenant-001", "a\tb"),
            Canonical.Replace("tenant-001", "a\\qb"),
            "\uFEFF" + Canonical,
            "[]",
            "\"text\"",
            "",
            " ",
            "{",
            "{\"approval_id\"",
            "{\"approval_id\":",
            "{\"approval_id\":\"x\"",
        };
        return data;
    }

    [Theory]
    [MemberData(nameof(Documents))]
    public void A_header_reads_as_its_json_value_reads(string json)
    {
        AssertReadsAsItsValue(Encoding.UTF8.GetBytes(json));
    }

    [Fact]
    public void Invalid_utf8_reads_as_its_json_value_reads()
    {
        var bytes = Encoding.UTF8.GetBytes(Canonical.Replace("tenant-001", "tenant-\u00e9"));
        var at = Array.IndexOf(bytes, (byte)0xC3);
        foreach (var bad in new byte[] { 0xFF, 0xC0, 0x80 })
        {
            var copy = (byte[])bytes.Clone();
            copy[at] = bad;
            AssertReadsAsItsValue(copy);
        }
    }

    [Fact]
    public void An_artifact_as_clawshield_writes_it_is_kept_as_its_bytes_and_checked_without_a_string()
    {
        var header = Base64Url.Encode(Encoding.UTF8.GetBytes(Canonical));
        var digest = Sha256Digest.ParseHex(Hash);
        var verifier = new ApprovalVerifier([NSec.Cryptography.Key.Create(NSec.Cryptography.SignatureAlgorithm.Ed25519).PublicKey]);
        var now = DateTimeOffset.Parse("2026-11-24T18:06:00Z", System.Globalization.CultureInfo.InvariantCulture);
        Check(ApprovalArtifact.FromHeader(header));
        // One array (the signed message, then the signature's bytes), the approval id's string
        // (receipts name it) and the artifact itself. Its six strings were ~0.62 KB.
        var message = Id.Length + "tenant-001".Length + Hash.Length + 2 * "2026-11-24T18:05:00Z".Length;
        var kept = ((24 + message + 66 + 7) / 8 * 8) + ((22 + (2 * Id.Length) + 7) / 8 * 8);
        const int ArtifactObject = 104;

        var before = GC.GetAllocatedBytesForCurrentThread();
        var artifact = ApprovalArtifact.FromHeader(header);
        var read = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        var findings = Check(artifact);
        var checkedBytes = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.InRange(read, kept, kept + ArtifactObject);
        // Signature, identity, tenant, action hash and time window all read the kept bytes.
        Assert.Equal((false, true, true, true), findings);
        Assert.False(artifact.TenantIs("tenant-00"));
        Assert.False(artifact.TenantIs("tenant-0011"));
        Assert.False(artifact.TenantIs(""));
        Assert.Equal(0, checkedBytes);
        // Its fields are the text received, and it equals the artifact parsed the general way.
        var parsed = ApprovalArtifact.Parse(StrictJson.Parse(Canonical));
        Assert.Equal(
            (Id, "tenant-001", Hash, "2026-11-24T18:05:00Z", "2026-11-24T18:10:00Z", Signature),
            (artifact.ApprovalId, artifact.TenantId, artifact.ActionHash, artifact.IssuedAt, artifact.ExpiresAt, artifact.Signature));
        Assert.Equal(parsed, artifact);
        Assert.Equal(parsed.GetHashCode(), artifact.GetHashCode());
        Assert.Equal(parsed.SignedMessage(), artifact.SignedMessage());

        (bool Authentic, bool TenantMatches, bool HashMatches, bool InWindow) Check(ApprovalArtifact a)
        {
            Span<byte> signedMessage = stackalloc byte[a.SignedMessageLength()];
            a.WriteSignedMessage(signedMessage);
            Span<byte> identity = stackalloc byte[Sha256Digest.Size];
            System.Security.Cryptography.SHA256.HashData(signedMessage, identity);
            return (verifier.VerifySignature(a, signedMessage), a.TenantIs("tenant-001"), a.ActionHashIs(digest),
                ApprovalWindow.Check(a, now, TimeSpan.FromSeconds(30), TimeSpan.FromHours(1)) is null);
        }
    }

    [Fact]
    public void A_kept_artifact_changed_with_with_is_one_of_strings()
    {
        var artifact = ApprovalArtifact.FromHeader(Base64Url.Encode(Encoding.UTF8.GetBytes(Canonical)));
        var changed = artifact with { TenantId = "tenant-002" };
        var expected = new ApprovalArtifact(Id, "tenant-002", Hash, "2026-11-24T18:05:00Z", "2026-11-24T18:10:00Z", Signature);
        Assert.Equal(expected, changed);
        Assert.Equal(expected.SignedMessage(), changed.SignedMessage());
        Assert.Equal("tenant-001", artifact.TenantId);
        Assert.NotEqual(artifact, changed);
    }

    private static void AssertReadsAsItsValue(byte[] json)
    {
        var header = Base64Url.Encode(json);
        var read = Outcome(() => ApprovalArtifact.FromHeader(header));
        var general = Outcome(() =>
        {
            StrictValue value;
            try
            {
                value = StrictJson.Parse(json);
            }
            catch (StrictJsonException e)
            {
                throw new ApprovalFormatException($"Invalid approval artifact: the OpenExec-Approval header is not valid JSON ({e.Message}).", e);
            }
            return ApprovalArtifact.Parse(value);
        });
        Assert.Equal(general, read);
    }

    private static string Outcome(Func<ApprovalArtifact> read)
    {
        try
        {
            var a = read();
            return $"artifact {a.ApprovalId}|{a.TenantId}|{a.ActionHash}|{a.IssuedAt}|{a.ExpiresAt}|{a.Signature}";
        }
        catch (ApprovalFormatException e)
        {
            return $"refused {e.Code}: {e.Message}";
        }
    }
}
