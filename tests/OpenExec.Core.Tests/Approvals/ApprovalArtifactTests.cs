using System.Text;
using OpenExec.Core.Approvals;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;

namespace OpenExec.Core.Tests.Approvals;

public sealed class ApprovalArtifactTests
{
    private const string Hash = "11410011e527ad258990fa54c54137f90192e73eea1358202783c45ea6f86b38";
    private static readonly string Signature = Convert.ToBase64String(new byte[64]);

    private static List<KeyValuePair<string, StrictValue>> Fields() =>
    [
        new("approval_id", new StrictString("8d1f2c8e-0000-4000-8000-000000000001")),
        new("tenant_id", new StrictString("tenant-001")),
        new("action_hash", new StrictString(Hash)),
        new("issued_at", new StrictString("2026-11-24T18:05:00.123456")),
        new("expires_at", new StrictString("2026-11-24T18:10:00.123456")),
        new("signature", new StrictString(Signature)),
    ];

    private static StrictObject With(string key, StrictValue? value)
    {
        var fields = Fields();
        var i = fields.FindIndex(f => f.Key == key);
        if (value is null)
        {
            fields.RemoveAt(i);
        }
        else if (i < 0)
        {
            fields.Add(new(key, value));
        }
        else
        {
            fields[i] = new(key, value);
        }
        return new StrictObject(fields);
    }

    [Fact]
    public void ParsesSixStrings()
    {
        var artifact = ApprovalArtifact.Parse(new StrictObject(Fields()));

        Assert.Equal("8d1f2c8e-0000-4000-8000-000000000001", artifact.ApprovalId);
        Assert.Equal("tenant-001", artifact.TenantId);
        Assert.Equal(Hash, artifact.ActionHash);
        Assert.Equal("2026-11-24T18:05:00.123456", artifact.IssuedAt);
        Assert.Equal("2026-11-24T18:10:00.123456", artifact.ExpiresAt);
        Assert.Equal(Signature, artifact.Signature);
    }

    [Theory]
    [InlineData("id", "tenant", "2026-11-24T18:05:00", "2026-11-24T18:10:00")]
    [InlineData("é-ü-\u4e2d", "t\U0001F600", "", "x")]
    [InlineData("ends-high\uD83D", "\uDE00starts-low", "a", "b")] // a pair split across two fields joins
    [InlineData("\uD800", "lone", "\uDFFF", "\uDC00")]
    public void SignedMessageIsTheUtf8OfTheConcatenatedFields(string id, string tenant, string issued, string expires)
    {
        var artifact = new ApprovalArtifact(id, tenant, Hash, issued, expires, Signature);

        Assert.Equal(Encoding.UTF8.GetBytes(id + tenant + Hash + issued + expires), artifact.SignedMessage());
        Assert.Equal(Hex.Sha256(Encoding.UTF8.GetBytes(id + tenant + Hash + issued + expires)), artifact.Identity);
    }

    [Theory]
    [InlineData("8d1f2c8e-0000-4000-8000-000000000001", true)]
    [InlineData("8D1F2C8E-ABCD-4000-8000-00000000000F", true)]
    [InlineData("8d1f2c8e-0000-4000-8000-000000000001eu-", false)] // a tenant's characters moved in
    [InlineData("8d1f2c8e-0000-4000-8000-00000000000", false)] // one moved out
    [InlineData("8d1f2c8e00004000800000000000000001", false)]
    [InlineData("{8d1f2c8e-0000-4000-8000-000000000001}", false)]
    [InlineData(" 8d1f2c8e-0000-4000-8000-00000000001", false)]
    [InlineData("8d1f2c8e-0000-4000-8000-00000000000g", false)]
    [InlineData("8d1f2c8e-0000-4000-8000-00000000000\u0661", false)]
    [InlineData("8d1f2c8e+0000-4000-8000-000000000001", false)]
    [InlineData("approval-123", false)]
    [InlineData("", false)]
    public void ApprovalIdMustBeAUuidUnlessAnyIsAllowed(string id, bool uuid)
    {
        var artifact = With("approval_id", new StrictString(id));
        Assert.Equal(uuid, ApprovalArtifact.IsUuid(id));
        if (uuid)
        {
            Assert.Equal(id, ApprovalArtifact.Parse(artifact).ApprovalId);
        }
        else
        {
            var e = Assert.Throws<ApprovalFormatException>(() => ApprovalArtifact.Parse(artifact));
            Assert.Contains("approval_id must be a UUID", e.Message, StringComparison.Ordinal);
        }
        Assert.Equal(id, ApprovalArtifact.Parse(artifact, anyApprovalId: true).ApprovalId);
        var header = Base64Url.Encode(Encoding.UTF8.GetBytes(new ApprovalArtifact(id, "tenant-001", Hash, "a", "b", Signature).ToJson()));
        Assert.Equal(uuid, Record.Exception(() => ApprovalArtifact.FromHeader(header)) is null);
        Assert.Equal(id, ApprovalArtifact.FromHeader(header, anyApprovalId: true).ApprovalId);
    }

    [Fact]
    public void RefusesNonObject()
    {
        var e = Assert.Throws<ApprovalFormatException>(() => ApprovalArtifact.Parse(new StrictString("x")));
        Assert.Equal("invalid_approval", e.Code);
    }

    [Theory]
    [InlineData("approval_id")]
    [InlineData("tenant_id")]
    [InlineData("action_hash")]
    [InlineData("signature")]
    public void RefusesMissingField(string field)
    {
        var e = Assert.Throws<ApprovalFormatException>(() => ApprovalArtifact.Parse(With(field, null)));
        Assert.Contains($"missing field '{field}'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("issued_at")]
    [InlineData("expires_at")]
    public void MissingTimestampReadsAsEmptyForTheTimeWindowToRefuse(string field)
    {
        // SPEC section 4: a missing expires_at gets the seed's sentence, which the time-window
        // check gives for an empty one.
        var artifact = ApprovalArtifact.Parse(With(field, null));
        Assert.Equal("", field == "issued_at" ? artifact.IssuedAt : artifact.ExpiresAt);
    }

    [Theory]
    [InlineData("approval_id")]
    [InlineData("tenant_id")]
    [InlineData("issued_at")]
    [InlineData("expires_at")]
    public void RefusesNonStringField(string field)
    {
        var e = Assert.Throws<ApprovalFormatException>(() => ApprovalArtifact.Parse(With(field, new StrictNumber("1"))));
        Assert.Contains($"'{field}' must be a string", e.Message, StringComparison.Ordinal);
        Assert.Throws<ApprovalFormatException>(() => ApprovalArtifact.Parse(With(field, StrictLiteral.Null)));
    }

    [Fact]
    public void RefusesExtraField()
    {
        var e = Assert.Throws<ApprovalFormatException>(() => ApprovalArtifact.Parse(With("audience", new StrictString("x"))));
        Assert.Contains("unknown field 'audience'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("11410011e527ad258990fa54c54137f90192e73eea1358202783c45ea6f86b3")]
    [InlineData("11410011e527ad258990fa54c54137f90192e73eea1358202783c45ea6f86b381")]
    [InlineData("g1410011e527ad258990fa54c54137f90192e73eea1358202783c45ea6f86b38")]
    public void RefusesActionHashThatIsNot64Hex(string hash)
    {
        var e = Assert.Throws<ApprovalFormatException>(() => ApprovalArtifact.Parse(With("action_hash", new StrictString(hash))));
        Assert.Contains("action_hash", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AcceptsUppercaseHexInShape()
    {
        var artifact = ApprovalArtifact.Parse(With("action_hash", new StrictString(Hash.ToUpperInvariant())));
        Assert.NotEqual(Hash, artifact.ActionHash); // so the later exact comparison refuses it
    }

    public static TheoryData<string> BadSignatures() => new()
    {
        "",
        Convert.ToBase64String(new byte[63]),
        Convert.ToBase64String(new byte[65]),
        Convert.ToBase64String(new byte[64]).TrimEnd('='),
        Base64Url.Encode(Enumerable.Repeat((byte)0xff, 64).ToArray()),
        " " + Convert.ToBase64String(new byte[64]),
        "not base64 at all",
    };

    [Theory]
    [MemberData(nameof(BadSignatures))]
    public void RefusesSignatureThatIsNotBase64Of64Bytes(string signature)
    {
        var e = Assert.Throws<ApprovalFormatException>(() => ApprovalArtifact.Parse(With("signature", new StrictString(signature))));
        Assert.Contains("signature", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EmptyExpiresAtPassesShapeForTheWindowCheckToRefuse()
    {
        var artifact = ApprovalArtifact.Parse(With("expires_at", new StrictString("")));
        Assert.Equal("", artifact.ExpiresAt);
    }

    [Fact]
    public void SignedMessageIsConcatenationWithoutSeparators()
    {
        var artifact = ApprovalArtifact.Parse(new StrictObject(Fields()));

        var expected = "8d1f2c8e-0000-4000-8000-000000000001tenant-001" + Hash + "2026-11-24T18:05:00.1234562026-11-24T18:10:00.123456";

        Assert.Equal(Encoding.UTF8.GetBytes(expected), artifact.SignedMessage());
        Assert.Equal(Hex.Sha256Utf8(expected), artifact.Identity);
    }

    [Fact]
    public void FromHeaderRefusesBadBase64Url()
    {
        var e = Assert.Throws<ApprovalFormatException>(() => ApprovalArtifact.FromHeader("not*base64url"));
        Assert.Equal("invalid_approval", e.Code);
    }

    // Depends on StrictJson.Parse.
    [Fact]
    public void FromHeaderRoundTripsToHeader()
    {
        var artifact = ApprovalArtifact.Parse(new StrictObject(Fields()));

        Assert.Equal(artifact, ApprovalArtifact.FromHeader(artifact.ToHeader()));
        Assert.Equal(artifact, ApprovalArtifact.Parse(StrictJson.Parse(Encoding.UTF8.GetBytes(artifact.ToJson()))));
    }

    // Depends on StrictJson.Parse.
    [Theory]
    [InlineData("{")]
    [InlineData("{\"approval_id\":\"a\",\"approval_id\":\"b\"}")]
    [InlineData("[]")]
    public void FromHeaderRefusesBadJson(string json)
    {
        var header = Base64Url.Encode(Encoding.UTF8.GetBytes(json));
        Assert.Throws<ApprovalFormatException>(() => ApprovalArtifact.FromHeader(header));
    }

    [Fact]
    public void A_header_is_decoded_without_a_copy_of_its_json_and_a_large_one_too()
    {
        var artifact = ApprovalArtifact.Parse(new StrictObject(Fields()));
        var header = artifact.ToHeader();
        var json = Encoding.UTF8.GetBytes(artifact.ToJson());
        ApprovalArtifact.FromHeader(header);
        ApprovalArtifact.Parse(StrictJson.Parse(json));

        var before = GC.GetAllocatedBytesForCurrentThread();
        ApprovalArtifact.Parse(StrictJson.Parse(json));
        var parsing = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        var read = ApprovalArtifact.FromHeader(header);
        var fromHeader = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(artifact, read);
        // The decoded JSON was an array (and a trimmed copy of it): about twice its length.
        Assert.True(fromHeader - parsing < json.Length / 2, $"decoding allocated {fromHeader - parsing} bytes beyond parsing {json.Length} bytes of JSON");

        // Past the stack buffer (1 KB decoded), padded: the same artifact, from a pooled buffer.
        var padded = Base64Url.Encode(Encoding.UTF8.GetBytes(artifact.ToJson() + new string(' ', 2000)));
        padded += new string('=', (4 - padded.Length % 4) % 4);
        Assert.Equal(artifact, ApprovalArtifact.FromHeader(padded));
        Assert.Throws<ApprovalFormatException>(() => ApprovalArtifact.FromHeader(padded[..^3] + "*"));
    }
}
